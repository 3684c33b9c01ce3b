"""The connector conformance kit, for built-in and third-party connectors.

- ``target_contract.TargetContract``: contract tests to subclass (fixtures ``target``,
  ``backdoor``, ``faulty_target``; see its docstring);
- ``stateful.TargetStateMachine``: a Hypothesis state machine comparing a connector with a model;
- ``faults.FaultTransport`` / ``Fault``: a fault-injecting, call-counting httpx transport;
- ``strategies``: anchors, names that stress quoting, projections.

Import the submodules you need; this package imports nothing heavy on its own.
"""

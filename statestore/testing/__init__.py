"""The state store conformance kit, for the SQLite store and any other implementation.

- ``contract.StoreContract``: contract tests to subclass (hooks ``make_store(path)`` and
  ``load_store(fp, path)``; see its docstring);
- ``stateful.StoreMachine`` / ``store_machine(factory)``: a Hypothesis state machine comparing a
  store with a perfect in-memory model (run by ``StoreContract``);
- ``samples``: the sample values the contract writes (``obj``, ``act``, ``intent``, ...).

Import the submodules you need; this package imports nothing heavy on its own.
"""

"""The engine speaks core's closed vocabularies (``hybridsync.engine.core.states``): every
outcome result is an ``OutcomeResult``, every cycle status a ``CycleStatus``, every stored
lifecycle state a ``State`` -- so the runtime can hold them as those StrEnums without a change
of value in the store, the log or a report."""

from __future__ import annotations

from hybridsync.connectors.base import RetryAfter, Terminal
from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.states import CycleStatus, OutcomeResult, State

from .enginekit import STAFF, group, make_engine, user


def test_outcomes_statuses_and_states_are_in_cores_vocabularies():
    src = MemorySource(page_size=2)
    for i in range(1, 7):
        src.put(user(i, STAFF, disabled=i == 6))
    src.put(group(100, [1, 2, 3]))
    tgt = MemoryTarget()
    tgt.inject(RetryAfter(60, "503"), op="create", times=1)
    tgt.inject(Terminal("400 bad", status=400), op="create", times=1)
    engine = make_engine(src, {"app": tgt})
    reports = [engine.run_once(), engine.run_once()]
    src.delete(user(5, STAFF).anchor)
    reports.append(engine.run_once())
    results = {o.result for r in reports for o in r.outcomes}
    assert {"ok", "retry", "failed"} <= results
    assert results <= set(OutcomeResult)
    assert {s for r in reports for s in r.status.values()} <= set(CycleStatus)
    assert {c.status for c in engine.store.last_cycles(20)} <= set(CycleStatus) | {None}
    states = list(engine.store.iter_target_states("app"))
    assert states and all(type(ts.state) is State for ts in states)

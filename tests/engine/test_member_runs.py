"""Member additions of distinct groups go to the target concurrently (issue 17: the full sync's
due pass sent one PATCH at a time), at most ``max_in_flight`` at once; every group still gets
exactly its members, and its stored state says what was sent."""

from __future__ import annotations

import threading
import time

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.values import ObjectKind

from .enginekit import group, guid, make_engine, user


def test_member_additions_of_distinct_groups_run_concurrently_and_land_exactly():
    src = MemorySource(page_size=100)
    for i in range(1, 31):
        src.put(user(i))
    for g in range(12):
        src.put(group(500 + g, members=[1 + (g + k) % 30 for k in range(5)]))
    tgt = MemoryTarget("app")
    real = tgt.add_members
    now = {"in": 0, "max": 0}
    lock = threading.Lock()

    def add_members(group_id, members):
        with lock:
            now["in"] += 1
            now["max"] = max(now["max"], now["in"])
        time.sleep(0.02)  # a PATCH's round trip: long enough for the others to start meanwhile
        try:
            return real(group_id, members)
        finally:
            with lock:
                now["in"] -= 1
    tgt.add_members = add_members
    engine = make_engine(src, {"app": tgt})
    report = engine.run_once()
    assert report.failed == 0
    width = engine.config.target("app").max_in_flight
    assert 1 < now["max"] <= width
    by_ext = tgt.by_external_id()
    names = {tid: r["attributes"].get("userName") for tid, r in tgt.store.items()}
    for g in range(12):
        want = {f"u{1 + (g + k) % 30}@lab.test" for k in range(5)}
        assert {names[m] for m in by_ext[guid(500 + g)]["members"]} == want
        ts = engine.store.get_target_state("app", guid(500 + g))
        assert ts is not None and ts.members_sent == frozenset(guid(1 + (g + k) % 30) for k in range(5))
    assert [op for op, _ in tgt.calls].count("add_members") == 12
    assert by_ext[guid(500)]["kind"] == ObjectKind.GROUP
    engine.close()

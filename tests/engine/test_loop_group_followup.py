"""A full sync creates a group's members over many pages: the group must end up with all of them."""

from __future__ import annotations

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.values import ObjectKind

from .enginekit import group, make_engine, user


def test_a_group_read_before_its_members_holds_every_member_after_one_full_sync():
    src = MemorySource(page_size=2)  # sorted by anchor: the group (guid 0) is in the first page
    src.put(group(0, members=range(1, 10)))
    for i in range(1, 10):
        src.put(user(i))
    tgt = MemoryTarget("app")
    report = make_engine(src, {"app": tgt}).run_once()
    assert report.failed == 0
    [g] = [r for r in tgt.store.values() if r["kind"] == ObjectKind.GROUP]
    users = {tid for tid, r in tgt.store.items() if r["kind"] == ObjectKind.USER}
    assert len(users) == 9 and set(g["members"]) == users

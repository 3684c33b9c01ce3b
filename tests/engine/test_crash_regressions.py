"""Crash regressions found by bench/crash_soak.py, replayed deterministically in memory.

The crash is simulated by a target whose call lands and then raises a ``BaseException`` (as a
kill -9 would stop the process): the intent is in the journal, the target holds the object, and
the page's commit (object states, outcomes, cursor) never happens.
"""

from __future__ import annotations

import pytest

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.statestore import Store

from .enginekit import Clock, guid, make_engine, user


class Killed(BaseException):
    """Stands for kill -9: nothing after it runs (not an Exception: no handler catches it)."""


class KillAfterCreate(MemoryTarget):
    """A target that lets a create land, then kills the engine before it can record anything."""

    armed = False

    def create(self, kind, anchor, attributes):
        res = super().create(kind, anchor, attributes)
        if self.armed:
            self.armed = False
            raise Killed(anchor)
        return res


def _active(target: MemoryTarget, anchor: str) -> bool | None:
    rec = target.by_external_id().get(anchor)
    return None if rec is None else bool(rec["active"])


def _crash_after_create_then_delete(tmp_path):
    """User 1 is synced; user 2 is created at the target by a run killed before its page commit;
    then AD deletes user 2 before the next run. Returns (source, target, store path, clock)."""
    path = str(tmp_path / "state.db")
    src = MemorySource("corp", invocation_id="dc-1")
    tgt = KillAfterCreate("app")
    clock = Clock()
    src.put(user(1))
    eng = make_engine(src, {"app": tgt}, store=Store.open(path), clock=clock)
    assert eng.run_once().exit_code() == 0
    eng.close()
    src.put(user(2))
    tgt.armed = True
    eng = make_engine(src, {"app": tgt}, store=Store.open(path), clock=clock)
    with pytest.raises(Killed):
        eng.run_once()
    assert _active(tgt, guid(2)) is True  # the create landed, nothing of the page was committed
    src.delete(guid(2))
    return src, tgt, path, clock


@pytest.mark.parametrize("full", [False, True], ids=["delta", "full"])
def test_a_user_created_by_a_killed_run_and_then_deleted_in_ad_is_soft_deleted_by_the_next_clean_cycle(
        tmp_path, full):
    src, tgt, path, clock = _crash_after_create_then_delete(tmp_path)
    clock.advance(minutes=1)
    eng = make_engine(src, {"app": tgt}, store=Store.open(path), clock=clock)
    eng.run_once(full=full)
    eng.run_once(full=True)  # and a complete full read later still sees it gone
    store = eng.store
    ts = store.get_target_state("app", guid(2))
    eng.close()
    assert _active(tgt, guid(2)) is False, f"user 2 still active at the target; its state: {ts}"
    assert _active(tgt, guid(1)) is True
    assert sum(1 for r in tgt.store.values() if r["external_id"] == guid(2)) == 1  # never created twice


def test_a_user_created_by_a_killed_run_and_still_in_ad_keeps_its_attributes_after_the_next_cycle(tmp_path):
    path = str(tmp_path / "state.db")
    src, tgt, clock = MemorySource("corp", invocation_id="dc-1"), KillAfterCreate("app"), Clock()
    src.put(user(1))
    eng = make_engine(src, {"app": tgt}, store=Store.open(path), clock=clock)
    eng.run_once()
    eng.close()
    src.put(user(2))
    tgt.armed = True
    eng = make_engine(src, {"app": tgt}, store=Store.open(path), clock=clock)
    with pytest.raises(Killed):
        eng.run_once()
    src.modify(guid(2), displayname="Renamed 2")
    eng = make_engine(src, {"app": tgt}, store=Store.open(path), clock=clock)
    eng.run_once()
    st = eng.store.get_object("corp", guid(2))
    eng.close()
    rec = tgt.by_external_id()[guid(2)]
    assert rec["active"] is True and rec["attributes"]["displayName"] == "Renamed 2"
    assert st is not None and st.attributes.get("userprincipalname") == ("u2@lab.test",)


class KillAfterRemoveMembers(MemoryTarget):
    """A target that lets a member removal land, then kills the engine before it records it."""

    armed = False

    def remove_members(self, group_id, members):
        res = super().remove_members(group_id, members)
        if self.armed:
            self.armed = False
            raise Killed(group_id)
        return res


def test_a_member_removal_cut_by_a_kill_and_undone_in_ad_ends_with_the_member_back_in_the_group(tmp_path):
    """The removal landed, the kill lost its record (members_sent still lists the member), and AD
    re-added the member before the next run: the group must hold the member again."""
    from .enginekit import group

    path = str(tmp_path / "state.db")
    src, tgt, clock = MemorySource("corp", invocation_id="dc-1"), KillAfterRemoveMembers("app"), Clock()
    for i in (1, 2, 3):
        src.put(user(i))
    src.put(group(50, [1, 2, 3]))
    eng = make_engine(src, {"app": tgt}, store=Store.open(path), clock=clock)
    assert eng.run_once().exit_code() == 0
    eng.close()
    ids = {r["external_id"]: tid for tid, r in tgt.store.items()}
    src.remove_member(guid(50), guid(2))
    tgt.armed = True
    eng = make_engine(src, {"app": tgt}, store=Store.open(path), clock=clock)
    with pytest.raises(Killed):
        eng.run_once()
    assert ids[guid(2)] not in tgt.store[ids[guid(50)]]["members"]  # the removal landed
    src.add_member(guid(50), guid(2))
    clock.advance(minutes=1)
    eng = make_engine(src, {"app": tgt}, store=Store.open(path), clock=clock)
    eng.run_once()
    eng.run_once()
    eng.close()
    assert set(tgt.store[ids[guid(50)]]["members"]) == {ids[guid(1)], ids[guid(2)], ids[guid(3)]}

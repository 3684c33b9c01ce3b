"""The engine applies a recreate and a hard delete exactly as the planner specifies them."""

import attrs

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.config import SafetyConfig
from hybridsync.engine.core.values import ObjectKind

from .enginekit import Clock, guid, group, make_engine, user, users_at


def recreated(n: int, new: int):
    """User n deleted in AD and created again with the same UPN: a new objectGUID."""
    return attrs.evolve(user(n), anchor=guid(new), object_guid=guid(new))


def test_a_user_recreated_with_the_same_upn_while_in_a_group_is_held_once_by_the_group():
    src, tgt, clock = MemorySource(), MemoryTarget(), Clock()
    src.put(user(1))
    src.put(group(10, members=[1]))
    engine = make_engine(src, {"app": tgt}, clock=clock)
    engine.run_once()
    old_tid = engine.store.get_target_state("app", guid(1)).target_id
    gid = engine.store.get_target_state("app", guid(10)).target_id
    assert tgt.store[gid]["members"] == {old_tid}

    src.delete(guid(1))
    engine.run_once()  # the tombstone: the old user is soft-deleted
    src.put(recreated(1, 101))
    src.add_member(guid(10), guid(101))
    for _ in range(3):
        clock.advance(minutes=5)
        engine.run_once()

    users = [r for r in tgt.store.values() if r["kind"] == ObjectKind.USER]
    assert len(users) == 1 and users[0]["external_id"] == guid(101)  # no duplicate user
    new = engine.store.get_target_state("app", guid(101))
    assert new.state == "provisioned" and new.ownership == "adopted"
    assert tgt.store[gid]["members"] == {new.target_id}
    group_state = engine.store.get_target_state("app", guid(10))
    assert group_state.members_sent == frozenset({guid(101)})
    pred = engine.store.get_target_state("app", guid(1))
    assert pred.state == "deleted" and pred.target_id is None and pred.members_sent == frozenset()
    holders = [s for s in engine.store.iter_target_states("app") if s.target_id == new.target_id]
    assert [s.anchor for s in holders] == [guid(101)]  # the old anchor references no target id


def test_a_hard_deleted_object_keeps_no_target_id():
    src, tgt, clock = MemorySource(), MemoryTarget(), Clock()
    src.put(user(1))
    src.put(user(2))
    engine = make_engine(src, {"app": tgt}, clock=clock, safety=SafetyConfig(soft_delete_days=1))
    engine.run_once()
    src.delete(guid(1))
    engine.run_once()
    assert engine.store.get_target_state("app", guid(1)).state == "soft_deleted"
    clock.advance(days=2)
    engine.run_once()
    st = engine.store.get_target_state("app", guid(1))
    assert st.state == "deleted" and st.target_id is None and st.members_sent == frozenset()
    assert list(users_at(tgt)) == ["u2@lab.test"]


def test_a_clean_cycle_leaves_no_journal_rows_and_journals_a_run_in_one_commit():
    src, tgt = MemorySource(), MemoryTarget()
    for n in range(1, 41):
        src.put(user(n))
    engine = make_engine(src, {"app": tgt})
    batches: list[int] = []
    real = engine.store.journal_intents

    def spy(cycle_id, actions, **kw):
        ids = real(cycle_id, actions, **kw)
        batches.append(len(ids))
        return ids
    engine.store.journal_intents = spy
    engine.run_once()
    assert len(users_at(tgt)) == 40
    assert batches == [40]  # 40 creates: one commit of intents before the calls
    assert engine.store._conn.execute("SELECT count(*) FROM journal").fetchone()[0] == 0
    assert engine.store.pending_intents() == []

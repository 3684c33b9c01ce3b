"""Issue 20 on the in-memory source and target: histories that did not settle."""

from __future__ import annotations

from datetime import timedelta

import attrs

from hybridsync.connectors.base import Terminal
from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.config import SafetyConfig
from hybridsync.engine.core.values import ObjectKind
from hybridsync.engine.runtime.status import stuck_objects

from .enginekit import OTHER, STAFF, Clock, group, guid, make_engine, user

MANAGER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"


def _groups(tgt: MemoryTarget) -> dict[str, dict]:
    return {r["attributes"]["displayName"]: r for r in tgt.store.values() if r["kind"] == ObjectKind.GROUP}


def _state(engine, anchor):
    return engine.store.get_target_state("app", anchor)


def test_a_group_deleted_in_ad_loses_its_members_at_once_and_is_deleted_after_the_grace_period():
    src, tgt, clock = MemorySource(), MemoryTarget(), Clock()
    src.put(user(1))
    src.put(user(2))
    src.put(group(10, members=[1, 2]))
    engine = make_engine(src, {"app": tgt}, clock=clock, safety=SafetyConfig(soft_delete_days=1))
    engine.run_once()
    assert len(_groups(tgt)["g10"]["members"]) == 2
    src.delete(guid(10))
    report = engine.run_once()
    assert report.exit_code() == 0
    assert _groups(tgt)["g10"]["members"] == set()  # access goes at once, not after soft_delete_days
    st = _state(engine, guid(10))
    assert st.state == "soft_deleted" and st.members_sent == frozenset()
    clock.advance(days=2)
    engine.run_once()
    assert "g10" not in _groups(tgt) and _state(engine, guid(10)).state == "deleted"


def test_a_group_leaving_scope_loses_its_members_and_gets_them_back_when_it_returns():
    src, tgt, clock = MemorySource(), MemoryTarget(), Clock()
    src.put(user(1))
    src.put(group(10, members=[1]))
    engine = make_engine(src, {"app": tgt}, clock=clock)
    engine.run_once()
    src.move(guid(10), f"CN=g10,{OTHER}")
    engine.run_once()
    assert _groups(tgt)["g10"]["members"] == set() and _state(engine, guid(10)).state == "soft_deleted"
    src.move(guid(10), f"CN=g10,{STAFF}")
    engine.run_once()
    assert _groups(tgt)["g10"]["members"] == {_state(engine, guid(1)).target_id}
    assert _state(engine, guid(10)).state == "provisioned"


def test_a_group_soft_delete_is_counted_by_the_delete_threshold_and_held_keeps_its_members():
    src, tgt, clock = MemorySource(), MemoryTarget(), Clock()
    for n in (1, 2, 3):
        src.put(user(n))
    src.put(group(10, members=[1, 2, 3]))
    engine = make_engine(src, {"app": tgt}, clock=clock, safety=SafetyConfig(delete_threshold=1))
    engine.run_once()
    src.delete(guid(10))
    src.delete(guid(1))
    report = engine.run_once()  # the group's soft delete counts like the user's disable: 2 > 1
    assert report.exit_code() == 3
    assert _state(engine, guid(10)).state == "held" and _state(engine, guid(1)).state == "held"
    assert len(_groups(tgt)["g10"]["members"]) == 3  # held: nothing taken away yet
    engine.approve_deletes("app", by="test")
    clock.advance(minutes=1)
    engine.run_once()
    assert _state(engine, guid(10)).state == "soft_deleted" and _groups(tgt)["g10"]["members"] == set()


def test_a_recreated_group_takes_over_its_soft_deleted_predecessor_and_sends_the_new_membership():
    src, tgt, clock = MemorySource(), MemoryTarget(), Clock()
    src.put(user(1))
    src.put(user(2))
    src.put(group(10, members=[1]))
    engine = make_engine(src, {"app": tgt}, clock=clock)
    engine.run_once()
    old_tid = _state(engine, guid(10)).target_id
    src.delete(guid(10))
    engine.run_once()
    src.put(attrs.evolve(group(11, members=[2]), dn=f"CN=g10,{STAFF}", attributes={"cn": ("g10",)}))
    report = engine.run_once()
    assert report.exit_code() == 0, report.outcomes  # no 409, no escrow
    new = _state(engine, guid(11))
    assert new.state == "provisioned" and new.target_id == old_tid and new.ownership == "adopted"
    assert tgt.store[old_tid]["external_id"] == guid(11)
    assert tgt.store[old_tid]["members"] == {_state(engine, guid(2)).target_id}
    assert _state(engine, guid(10)).state == "deleted" and len(_groups(tgt)) == 1


def test_a_group_named_like_a_group_hybridsync_does_not_own_is_disputed_naming_both():
    src, tgt, clock = MemorySource(), MemoryTarget(), Clock()
    foreign = tgt.seed(ObjectKind.GROUP, {"displayName": "g10"})
    src.put(group(10))
    engine = make_engine(src, {"app": tgt}, clock=clock)
    report = engine.run_once()
    st = _state(engine, guid(10))
    assert st.state == "disputed"
    [out] = [o for o in report.outcomes if o.anchor == guid(10)]
    assert out.result == "reported"
    [dec] = list(engine.store.decisions(anchor=guid(10)))
    assert foreign in " ".join(r.detail for r in dec.reasons)
    assert tgt.calls.count(("create", guid(10))) == 0  # no create to meet a 409
    assert tgt.store[foreign]["external_id"] is None  # never adopted by name


def test_a_user_deleted_and_recreated_with_the_same_upn_in_one_delta_takes_the_old_object_over():
    src, tgt, clock = MemorySource(), MemoryTarget(), Clock()
    src.put(user(1))
    src.put(group(10, members=[1]))
    engine = make_engine(src, {"app": tgt}, clock=clock)
    engine.run_once()
    old_tid = _state(engine, guid(1)).target_id
    src.delete(guid(1))
    src.put(attrs.evolve(user(1), anchor=guid(101), object_guid=guid(101)))
    src.add_member(guid(10), guid(101))
    report = engine.run_once()
    assert report.exit_code() == 0
    new = _state(engine, guid(101))
    assert new.state == "provisioned" and new.target_id == old_tid
    assert tgt.store[old_tid]["external_id"] == guid(101) and tgt.store[old_tid]["active"] is True
    assert _state(engine, guid(1)).state == "deleted"
    assert _groups(tgt)["g10"]["members"] == {old_tid}
    assert not [c for c in tgt.calls if c[0] == "disable"]  # superseded, not disabled first
    clock.advance(minutes=5)
    assert set(engine.run_once().counts) <= {"noop"}


def test_a_group_tombstoned_with_one_of_its_members_is_not_resurrected():
    src, tgt, clock = MemorySource(), MemoryTarget(), Clock()
    src.put(user(1))
    src.put(user(2))
    src.put(group(10, members=[1, 2]))
    engine = make_engine(src, {"app": tgt}, clock=clock)
    engine.run_once()
    src.delete(guid(10))
    src.delete(guid(2))
    engine.run_once()
    assert engine.store.get_object("corp", guid(10)).deleted
    assert _state(engine, guid(10)).state == "soft_deleted"
    assert _groups(tgt)["g10"]["members"] == set()


def test_a_manager_created_in_the_same_plan_as_its_report_is_set_in_the_same_run():
    src, tgt, clock = MemorySource(), MemoryTarget(), Clock()
    src.put(user(1))
    engine = make_engine(src, {"app": tgt}, clock=clock)
    engine.run_once()
    src.put(user(3))
    src.put(user(2, manager=f"CN=u3,{STAFF}"))
    report = engine.run_once()
    assert not report.followup
    report_tid, manager_tid = _state(engine, guid(2)).target_id, _state(engine, guid(3)).target_id
    assert tgt.store[report_tid]["attributes"][MANAGER] == manager_tid


def test_a_required_attribute_without_a_value_is_an_error_naming_it_not_an_escrow():
    src, tgt, clock = MemorySource(), MemoryTarget(), Clock()
    u = user(1)
    src.put(attrs.evolve(u, attributes={k: v for k, v in u.attributes.items() if k != "userprincipalname"}))
    engine = make_engine(src, {"app": tgt}, clock=clock)
    report = engine.run_once()
    [problem] = report.problems
    assert "userName" in problem["message"] and "[userPrincipalName]" in problem["message"], problem
    assert all(op != "create" for op, _ in tgt.calls)
    assert _state(engine, guid(1)).state == "new"  # nothing in escrow to retry
    [stuck] = stuck_objects(engine.store, engine.config, clock())
    assert stuck.stage == "mapping" and "userName" in stuck.reason and "[userPrincipalName]" in stuck.reason


def test_status_lists_an_object_in_escrow_for_more_than_a_day_with_its_last_reason():
    src, tgt, clock = MemorySource(), MemoryTarget(), Clock()
    src.put(user(1))
    tgt.inject(Terminal("the app refuses u1", status=400), times=100, op="create")
    engine = make_engine(src, {"app": tgt}, clock=clock)
    engine.run_once()
    assert stuck_objects(engine.store, engine.config, clock()) == ()
    for _ in range(3):
        clock.advance(hours=12)
        engine.run_once()
    [stuck] = stuck_objects(engine.store, engine.config, clock())
    assert stuck.stage == "escrow" and stuck.anchor == guid(1) and "refuses u1" in stuck.reason
    assert stuck.retries >= 2 and stuck.since is not None


def test_a_create_refused_as_a_duplicate_is_matched_again_in_the_same_cycle():
    """A 409 whose holder the lookups did not show (it appeared after them): the next plan of the
    same cycle finds the holder and resolves it (here: disputed), instead of a backoff retry."""
    src, tgt, clock = MemorySource(), MemoryTarget(), Clock()
    src.put(user(1))
    engine = make_engine(src, {"app": tgt}, clock=clock)
    engine.run_once()  # a first sync lists the target; later ones look up per object
    src.put(group(10))
    real = tgt.lookup_by_attribute
    calls = []

    def late(kind, attribute, value):  # the name is free when asked the first time
        calls.append(value)
        if len(calls) == 1:
            tgt.seed(ObjectKind.GROUP, {"displayName": "g10"})
            return real(kind, attribute, "nothing-of-that-name")
        return real(kind, attribute, value)
    tgt.lookup_by_attribute = late
    engine.run_once()
    assert len(calls) == 2  # matched again in the same run_once
    assert _state(engine, guid(10)).state == "disputed"


def test_what_a_cycle_leaves_for_a_follow_up_is_run_by_sync_once_and_at_once_by_run_forever(monkeypatch):
    """With no due-pass round (FOLLOWUP_ROUNDS=0 for one cycle), the report's manager needs a second
    cycle: ``RunReport.followup`` says so, ``run_once(followups=...)`` runs it in the same call,
    and ``run_forever`` runs it without waiting for an AD change (the poll interval is 60 s)."""
    import threading

    from hybridsync.engine.runtime import cycle as cycle_module
    from hybridsync.engine.runtime import engine as engine_module

    rounds = {"left": 0}  # the cycle after setup() gets no due-pass round; later ones do
    real = engine_module.run_cycle

    def run_cycle(cycle):
        monkeypatch.setattr(cycle_module, "FOLLOWUP_ROUNDS", 3 if rounds["left"] <= 0 else 0)
        rounds["left"] -= 1
        return real(cycle)
    monkeypatch.setattr(engine_module, "run_cycle", run_cycle)

    def setup():
        src, tgt = MemorySource(), MemoryTarget()
        src.put(user(1))
        engine = make_engine(src, {"app": tgt}, clock=Clock())
        engine.config = attrs.evolve(engine.config, sources=tuple(
            attrs.evolve(s, poll_interval=60.0) for s in engine.config.sources))
        engine.run_once()
        src.put(user(3))
        src.put(user(2, manager=f"CN=u3,{STAFF}"))
        rounds["left"] = 1
        return engine, tgt

    def manager_set(engine, tgt):
        return tgt.store[_state(engine, guid(2)).target_id]["attributes"].get(MANAGER) == _state(engine, guid(3)).target_id

    engine, tgt = setup()
    first = engine.run_once()
    assert first.followup and not manager_set(engine, tgt)
    engine, tgt = setup()
    report = engine.run_once(followups=2)  # what `sync --once` calls
    assert manager_set(engine, tgt) and not report.followup and len(report.cycle_ids) == 2

    engine, tgt = setup()
    stop, reports = threading.Event(), []

    def on_report(r):
        reports.append(r)
        if len(reports) == 2:
            stop.set()
    worker = threading.Thread(target=engine.run_forever, args=(stop,), kwargs={"on_report": on_report})
    worker.start()
    worker.join(timeout=20)  # the follow-up does not wait for the 60 s poll
    stop.set()
    worker.join()
    assert len(reports) == 2 and reports[0].followup and manager_set(engine, tgt)


def test_a_group_soft_delete_counts_in_the_threshold_window_like_a_disable():
    src, tgt, clock = MemorySource(), MemoryTarget(), Clock()
    src.put(user(1))
    src.put(group(10, members=[1]))
    engine = make_engine(src, {"app": tgt}, clock=clock)
    engine.run_once()
    since = clock()
    src.delete(guid(10))
    engine.run_once()
    assert engine.store.access_removals("app", since) == 1


def _soft_deleted(engine, src, clock, n):
    """Delete ``n`` in AD and run: its target object is soft-deleted, still holding its name."""
    src.delete(guid(n))
    engine.run_once()
    assert _state(engine, guid(n)).state == "soft_deleted"
    clock.advance(minutes=1)
    return _state(engine, guid(n)).target_id


def test_a_user_renamed_onto_the_upn_of_a_soft_deleted_user_of_ours_gets_it_in_the_same_run():
    """Issue 20: the UPDATE met a 409 (the soft-deleted object holds the userName) and waited in
    escrow for the grace period. The holder is ours and already soft-deleted: it is deleted early
    (counted by the threshold) and the rename goes through within the run."""
    src, tgt, clock = MemorySource(), MemoryTarget(), Clock()
    src.put(user(1))
    src.put(user(2))
    engine = make_engine(src, {"app": tgt}, clock=clock)
    engine.run_once()
    old_tid = _soft_deleted(engine, src, clock, 1)
    src.modify(guid(2), userPrincipalName="u1@lab.test")
    report = engine.run_once()  # tallies the first UPDATE's 409, resolved within the run
    assert not report.followup
    tid2 = _state(engine, guid(2)).target_id
    assert tgt.store[tid2]["attributes"]["userName"] == "u1@lab.test"
    assert _state(engine, guid(2)).state == "provisioned"
    assert old_tid not in tgt.store and _state(engine, guid(1)).state == "deleted"
    why = " ".join(r.detail for d in engine.store.decisions(anchor=guid(1)) for r in d.reasons)
    assert guid(2) in why and "u1@lab.test" in why
    clock.advance(minutes=1)
    again = engine.run_once()
    assert set(again.counts) <= {"noop"} and again.exit_code() == 0


def test_a_group_renamed_onto_the_name_of_a_soft_deleted_group_of_ours_gets_it_in_the_same_run():
    src, tgt, clock = MemorySource(), MemoryTarget(), Clock()
    src.put(user(1))
    src.put(group(10, members=[1]))
    src.put(group(11, members=[1]))
    engine = make_engine(src, {"app": tgt}, clock=clock)
    engine.run_once()
    _soft_deleted(engine, src, clock, 10)
    g11 = src._objects[guid(11)]
    src.put(attrs.evolve(g11, dn=f"CN=g10,{STAFF}", attributes={**g11.attributes, "cn": ("g10",)}))
    assert not engine.run_once().followup
    assert _groups(tgt)["g10"]["external_id"] == guid(11)
    assert _groups(tgt)["g10"]["members"] == {_state(engine, guid(1)).target_id}
    assert _state(engine, guid(10)).state == "deleted" and _state(engine, guid(11)).state == "provisioned"
    clock.advance(minutes=1)
    assert set(engine.run_once().counts) <= {"noop"}


def test_a_rename_onto_a_name_held_by_an_object_hybridsync_does_not_own_is_disputed_not_retried():
    src, tgt, clock = MemorySource(), MemoryTarget(), Clock()
    src.put(user(2))
    engine = make_engine(src, {"app": tgt}, clock=clock)
    engine.run_once()
    foreign = tgt.seed(ObjectKind.USER, {"userName": "taken@lab.test"})
    src.modify(guid(2), userPrincipalName="taken@lab.test")
    engine.run_once()
    updates = len([c for c in tgt.calls if c[0] == "update"])
    for _ in range(3):
        clock.advance(days=1)
        engine.run_once()
    assert len([c for c in tgt.calls if c[0] == "update"]) == updates  # not retried against the 409
    why = " ".join(r.detail for d in engine.store.decisions(anchor=guid(2)) for r in d.reasons)
    assert foreign in why and "does not own" in why
    assert tgt.store[foreign]["attributes"]["userName"] == "taken@lab.test"


def test_a_manager_renamed_or_moved_in_ad_stays_the_manager_of_its_reports():
    """AD rewrites the reports' manager DN without a change event for them: the stored copy of a
    report keeps the old DN, which resolves through the manager's DN history."""
    src, tgt, clock = MemorySource(), MemoryTarget(), Clock()
    src.put(user(3))
    src.put(user(2, manager=f"CN=u3,{STAFF}"))
    engine = make_engine(src, {"app": tgt}, clock=clock)
    engine.run_once()
    manager_tid, report_tid = _state(engine, guid(3)).target_id, _state(engine, guid(2)).target_id
    assert tgt.store[report_tid]["attributes"][MANAGER] == manager_tid
    m = src._objects[guid(3)]
    src.put(attrs.evolve(m, dn=f"CN=boss,{STAFF}", attributes={**m.attributes, "cn": ("boss",)}))
    clock.advance(minutes=1)
    engine.run_once()
    src.move(guid(3), f"CN=boss,OU=Sub,{STAFF}")
    clock.advance(minutes=1)
    engine.run_once()
    src.modify(guid(2), displayName="Report Two")  # the report's next plan, its stored manager DN stale
    clock.advance(minutes=1)
    engine.run_once()
    at = tgt.store[report_tid]["attributes"]
    assert at["displayName"] == "Report Two" and at.get(MANAGER) == manager_tid


def test_an_early_delete_for_a_rename_over_the_delete_threshold_is_a_dispute_naming_it():
    src, tgt, clock = MemorySource(), MemoryTarget(), Clock()
    src.put(user(1))
    src.put(user(2))
    engine = make_engine(src, {"app": tgt}, clock=clock, safety=SafetyConfig(delete_threshold=1))
    engine.run_once()
    old_tid = _soft_deleted(engine, src, clock, 1)  # the window's one disable/delete
    src.modify(guid(2), userPrincipalName="u1@lab.test")
    engine.run_once()
    assert old_tid in tgt.store and _state(engine, guid(1)).state == "soft_deleted"
    why = " ".join(r.detail for d in engine.store.decisions(anchor=guid(2)) for r in d.reasons)
    assert "delete threshold" in why and old_tid in why

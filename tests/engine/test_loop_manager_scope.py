"""Issue 20: a report follows its manager out of scope, back in, and through a delete, though AD
changes nothing on the report the delta would carry (a move rewrites its ``manager`` DN, a
delete drops it: ``tests/connectors/ad/test_samba_manager_delete.py``). ``runtime.reports``."""

from __future__ import annotations

import attrs

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget

from .enginekit import OTHER, STAFF, Clock, guid, make_engine, user

MANAGER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"


def _silently(src: MemorySource, anchor: str, manager: str | None) -> None:
    """What AD does to a report when its manager moves or is deleted: no event for the report."""
    cur = src._objects[anchor]
    values = {k: v for k, v in cur.attributes.items() if k != "manager"}
    if manager is not None:
        values["manager"] = (manager,)
    src._objects[anchor] = attrs.evolve(cur, attributes=values)


def _manager_at(engine, tgt: MemoryTarget, n: int):
    return tgt.store[engine.store.get_target_state("app", guid(n)).target_id]["attributes"].get(MANAGER)


def _tid(engine, n: int) -> str:
    return engine.store.get_target_state("app", guid(n)).target_id


def _lab():
    src, tgt, clock = MemorySource(), MemoryTarget(), Clock()
    src.put(user(1))
    src.put(user(2, manager=f"CN=u1,{STAFF}"))
    src.put(user(3, manager=f"CN=u1,{STAFF}"))
    engine = make_engine(src, {"app": tgt}, clock=clock)
    assert engine.run_once().exit_code() == 0
    assert _manager_at(engine, tgt, 2) == _manager_at(engine, tgt, 3) == _tid(engine, 1)
    return src, tgt, clock, engine


def test_a_manager_leaving_scope_clears_its_reports_manager_and_returning_sets_it_in_one_cycle_each():
    src, tgt, clock, engine = _lab()
    boss = _tid(engine, 1)
    src.move(guid(1), f"CN=u1,{OTHER}")
    for r in (2, 3):
        _silently(src, guid(r), f"CN=u1,{OTHER}")
    clock.advance(minutes=1)
    assert engine.run_once().exit_code() == 0
    assert engine.store.get_target_state("app", guid(1)).state == "soft_deleted"
    assert _manager_at(engine, tgt, 2) is None and _manager_at(engine, tgt, 3) is None
    src.move(guid(1), f"CN=u1,{STAFF}")
    for r in (2, 3):
        _silently(src, guid(r), f"CN=u1,{STAFF}")
    clock.advance(minutes=1)
    assert engine.run_once().exit_code() == 0
    assert _tid(engine, 1) == boss and _manager_at(engine, tgt, 2) == _manager_at(engine, tgt, 3) == boss
    clock.advance(minutes=1)
    assert set(engine.run_once().counts) <= {"noop"}


def test_a_deleted_managers_reports_lose_it_and_a_new_user_at_its_dn_is_only_the_manager_of_whom_ad_says():
    src, tgt, clock, engine = _lab()
    for r in (2, 3):
        _silently(src, guid(r), None)  # AD dropped the link: no event for the reports
    src.delete(guid(1))
    src.put(attrs.evolve(user(4, cn="u1"), dn=f"CN=u1,{STAFF}"))  # a new user at its DN, same delta ...
    src.modify(guid(3), manager=f"CN=u1,{STAFF}")  # ... whom AD then makes report 3's manager
    clock.advance(minutes=1)
    assert engine.run_once().exit_code() == 0
    assert _manager_at(engine, tgt, 2) is None  # report 2 named the deleted user's DN: dropped
    assert _manager_at(engine, tgt, 3) == _tid(engine, 4)  # report 3 names the new user, as read
    src.modify(guid(2), displayName="Report two, changed later")  # its next change keeps no manager
    clock.advance(minutes=1)
    assert engine.run_once().exit_code() == 0
    assert _manager_at(engine, tgt, 2) is None
    assert not engine.store.get_object("corp", guid(2)).attributes.get("manager")


def test_a_report_of_a_manager_renamed_then_moved_out_of_scope_is_found_by_the_dn_it_still_names():
    src, tgt, clock, engine = _lab()
    src.put(attrs.evolve(src._objects[guid(1)], dn=f"CN=Chief,{STAFF}"))  # renamed: reports not re-read
    for r in (2, 3):
        _silently(src, guid(r), f"CN=Chief,{STAFF}")
    clock.advance(minutes=1)
    assert engine.run_once().exit_code() == 0
    src.move(guid(1), f"CN=Chief,{OTHER}")
    for r in (2, 3):
        _silently(src, guid(r), f"CN=Chief,{OTHER}")
    clock.advance(minutes=1)
    assert engine.run_once().exit_code() == 0
    assert _manager_at(engine, tgt, 2) is None and _manager_at(engine, tgt, 3) is None


def test_the_manager_trap_leaves_a_report_stored_after_the_delete_as_ad_gave_it():
    """A report read in an earlier page than its manager's tombstone, after the delete (its USN is
    above the tombstone's), names what AD linked then -- maybe a new user at the dead one's DN."""
    from hybridsync.engine.runtime.reports import drop_deleted_managers
    from hybridsync.statestore import Store

    store = Store.open(":memory:")
    dn = f"CN=u1,{STAFF}"
    boss = attrs.evolve(user(1), usn=10)
    for n, usn in ((2, 30), (3, 50)):
        store.put_object(_state(attrs.evolve(user(n, manager=dn), usn=usn)))
    store.put_object(_state(boss))
    merged = {guid(1): attrs.evolve(boss, deleted=True, usn=40)}
    to_store: list = []
    touched = drop_deleted_managers(store, "corp", [_state(boss)], merged, to_store, {})
    assert touched == {guid(2)}  # read before the delete (USN 30 < 40): AD dropped its link
    assert [s.anchor for s in to_store] == [guid(2)] and not to_store[0].attributes.get("manager")
    assert merged[guid(2)].attributes.get("manager") is None and guid(3) not in merged


def _state(obj):
    from hybridsync.engine.plan.merge import to_state
    return to_state("corp", obj)

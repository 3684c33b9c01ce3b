"""The one outcome rule (engine.plan.outcome), pinned per action kind.

The rule follows what the SCIM connector sends (connectors/scim/prepare.py): a create posts the
non-null attributes, an adopt patches externalId plus every projected path (remove for None), an
update/restore/disable patches exactly its attributes, a delete removes the object.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hybridsync.connectors.base import Done, RetryAfter
from hybridsync.connectors.scim.dialect import Dialect
from hybridsync.connectors.scim.prepare import create_body, patch_operations
from hybridsync.engine.core.values import Action, ActionKind, ObjectKind, Ownership, TargetState
from hybridsync.engine.plan.outcome import (
    applied_state,
    failed_state,
    projection_after,
    reanchored_groups,
    unapplied_state,
)
from hybridsync.engine.runtime.reconcile import state_after, unapplied_outcome

A = ActionKind
NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
OLD = {"userName": "old", "title": "Boss", "displayName": "Old Name"}


def act(kind: ActionKind, attributes=None, *, to_state="provisioned", from_state="provisioned",
        target_id="t1", members=()) -> Action:
    return Action(kind=kind, target="app", anchor="a1", object_kind=ObjectKind.USER, target_id=target_id,
                  attributes=attributes or {}, members=tuple(members), from_state=from_state, to_state=to_state)


def stored(state="provisioned", projection=OLD, **kw) -> TargetState:
    return TargetState(anchor="a1", target="app", kind=ObjectKind.USER, state=state, target_id=kw.pop("target_id", "t1"),
                       projection=projection, since=NOW - timedelta(days=1), **kw)


def test_create_holds_exactly_the_non_null_attributes_it_posted():
    a = act(A.CREATE, {"userName": "a", "title": None}, to_state="pending_create", from_state="new", target_id=None)
    assert projection_after({"stale": "x"}, a) == {"userName": "a"}
    body = create_body(ObjectKind.USER, "a1", a.attributes)
    assert "title" not in body and body["userName"] == "a"  # what the connector sends agrees
    st = applied_state(None, a, NOW, target_id="t9")
    assert (st.state, st.target_id, st.ownership, st.members_sent) == ("provisioned", "t9", Ownership.CREATED,
                                                                        frozenset())


def test_adopt_replaces_the_projection_without_external_id_or_nulls():
    a = act(A.ADOPT, {"userName": "a", "title": None, "externalId": "a1"}, from_state="deleted")
    prev = stored("deleted", {"userName": "old", "title": "Boss", "manager": "m-old"}, target_id=None)
    assert projection_after(prev.projection, a) == {"userName": "a"}
    ops = patch_operations({k: v for k, v in a.attributes.items() if k != "externalId"}, Dialect(), anchor="a1")
    assert {"op": "remove", "path": "title"} in ops and {"op": "replace", "path": "externalId", "value": "a1"} in ops
    st = applied_state(prev, a, NOW)
    assert (st.state, st.target_id, st.ownership, dict(st.projection)) == ("provisioned", "t1", Ownership.ADOPTED,
                                                                           {"userName": "a"})


def test_adopt_of_a_recreate_takes_the_predecessors_members_over():
    a = act(A.ADOPT, {"displayName": "G", "externalId": "a1"}, from_state="new")
    pred = TargetState(anchor="old", target="app", kind=ObjectKind.GROUP, state="soft_deleted", target_id="t1",
                       members_sent=frozenset({"m1", "m2"}))
    assert applied_state(None, a, NOW, predecessor=pred).members_sent == {"m1", "m2"}
    groups = [TargetState(anchor="g", target="app", kind=ObjectKind.GROUP, state="provisioned",
                          members_sent=frozenset({"old", "x"}))]
    assert reanchored_groups(groups, "old", "a1")[0].members_sent == {"a1", "x"}


def test_update_with_none_drops_the_path_and_keeps_the_others():
    a = act(A.UPDATE, {"title": None, "displayName": "New Name"})
    assert projection_after(OLD, a) == {"userName": "old", "displayName": "New Name"}
    assert patch_operations({"title": None}, Dialect()) == [{"op": "remove", "path": "title"}]


def test_disable_and_restore_patch_their_attributes_onto_the_projection():
    d = act(A.DISABLE, {"active": False}, to_state="soft_deleted")
    st = applied_state(stored(projection={**OLD, "active": True}), d, NOW)
    assert (st.state, st.projection["active"], st.projection["title"]) == ("soft_deleted", False, "Boss")
    r = act(A.RESTORE, {"active": True, "title": None}, from_state="soft_deleted")
    st2 = applied_state(st, r, NOW)
    assert st2.state == "provisioned" and st2.projection["active"] is True and "title" not in st2.projection


def test_delete_releases_the_target_object():
    a = act(A.DELETE, to_state="deleted", from_state="soft_deleted")
    st = applied_state(stored("soft_deleted", members_sent=frozenset({"m"})), a, NOW)
    assert (st.state, st.target_id, dict(st.projection), st.members_sent) == ("deleted", None, {}, frozenset())
    # a NOOP to deleted (a recreate took the object over) releases it too, without a call
    n = act(A.NOOP, to_state="deleted", from_state="soft_deleted")
    st2 = unapplied_state(stored("soft_deleted"), n, NOW)
    assert (st2.state, st2.target_id, dict(st2.projection)) == ("deleted", None, {})


def test_members_follow_what_was_sent():
    g = stored(members_sent=frozenset({"m1"}))
    add = act(A.ADD_MEMBERS, members=("m2", "m3"))
    assert applied_state(g, add, NOW, members_sent=frozenset({"m2"})).members_sent == {"m1", "m2"}
    rem = act(A.REMOVE_MEMBERS, members=("m1",))
    assert applied_state(g, rem, NOW).members_sent == frozenset()


def test_failure_keeps_what_the_target_held():
    a = act(A.UPDATE, {"title": "X"})
    st = failed_state(stored(), a, NOW, why="boom", next_retry_at=NOW + timedelta(seconds=5))
    assert (st.state, dict(st.projection), st.retry_count, st.target_id) == ("escrow", OLD, 1, "t1")
    c = act(A.CREATE, {"userName": "a"}, to_state="pending_create", from_state="new", target_id=None)
    assert failed_state(None, c, NOW, why="x", next_retry_at=NOW).target_id is None


def test_the_engine_records_the_rule():
    """runtime.reconcile turns target answers into exactly the rule's states."""
    a = act(A.UPDATE, {"title": None})
    assert state_after(stored(), a, Done("t1"), NOW).state == applied_state(stored(), a, NOW)
    assert state_after(stored(), a, RetryAfter(5.0, "later"), NOW).state == failed_state(
        stored(), a, NOW, why="later", next_retry_at=NOW + timedelta(seconds=5))
    h = act(A.HOLD, to_state="held")
    assert unapplied_outcome(stored(), h, NOW).state == unapplied_state(stored(), h, NOW)

"""Matching a source object the target does not know yet to a target object."""

from __future__ import annotations

from hybridsync.engine.plan.match import ADOPT, CREATE, DISPUTED, RECREATE, TargetIndex, resolve_conflicts
from hybridsync.engine.core.values import ObjectKind, Ownership, TargetObject, TargetState

EMAIL = 'emails[type eq "work"].value'
MATCHING = ("userName", EMAIL)


def tobj(tid, kind=ObjectKind.USER, external_id=None, **attrs):
    return TargetObject(target_id=tid, kind=kind, external_id=external_id, attributes=attrs)


def holder(anchor, tid, state="soft_deleted", ownership=Ownership.CREATED):
    return TargetState(anchor=anchor, target="app", kind=ObjectKind.USER, state=state, target_id=tid,
                       ownership=ownership)


def index(*objs, holders=None):
    return TargetIndex(objs, MATCHING, holders or {})


def find(idx, values, anchor="A", kind=ObjectKind.USER, restore=True):
    return idx.find(anchor, kind, values, restore_recreated=restore)


def test_an_object_carrying_our_anchor_as_externalid_is_ours_before_any_soft_match():
    idx = index(tobj("t1", external_id="A"), tobj("t2", userName="a@x"))
    res = find(idx, {"userName": "a@x"})
    assert (res.outcome, res.target.target_id, res.reasons[0].rule) == (ADOPT, "t1", "match.anchor")


def test_soft_match_is_case_insensitive_and_follows_the_precedence_order():
    idx = index(tobj("t1", **{EMAIL: "A@X"}), tobj("t2", userName="A@x"))
    res = find(idx, {"userName": "a@x"})
    assert (res.outcome, res.target.target_id, res.reasons[0].rule) == (ADOPT, "t2", "match.soft.userName")
    res = find(idx, {"userName": "a@x", EMAIL: ["a@x"]})  # issue 14: two keys naming two objects
    assert (res.outcome, res.others) == (DISPUTED, ("t1", "t2"))
    res = find(idx, {"userName": "nobody@x", EMAIL: "a@x"})
    assert (res.outcome, res.target.target_id, res.reasons[0].rule) == (ADOPT, "t1", f"match.soft.{EMAIL}")


def test_no_candidate_means_create_and_groups_never_match_users():
    idx = index(tobj("t1", kind=ObjectKind.GROUP, userName="a@x"))
    assert find(idx, {"userName": "a@x"}).outcome == CREATE
    assert find(idx, {"userName": "a@x"}, kind=ObjectKind.CONTACT).outcome == CREATE
    assert find(idx, {"userName": "a@x"}, kind=ObjectKind.GROUP).outcome == ADOPT


def test_a_candidate_held_by_a_soft_deleted_owned_predecessor_is_taken_over():
    idx = index(tobj("t1", external_id="OLD", userName="a@x"), holders={(ObjectKind.USER, "t1"): holder("OLD", "t1")})
    res = find(idx, {"userName": "a@x"}, anchor="NEW")
    assert (res.outcome, res.predecessor.anchor) == (RECREATE, "OLD")
    assert "NEW" in res.reasons[-1].detail and "OLD" in res.reasons[-1].detail


def test_a_candidate_held_by_a_live_or_foreign_predecessor_is_disputed():
    for h in (holder("OLD", "t1", state="provisioned"), holder("OLD", "t1", ownership=Ownership.FOREIGN)):
        idx = index(tobj("t1", external_id="OLD", userName="a@x"), holders={(ObjectKind.USER, "t1"): h})
        res = find(idx, {"userName": "a@x"}, anchor="NEW")
        assert res.outcome == DISPUTED and res.others == ("OLD", "t1")
    idx = index(tobj("t1", external_id="OLD", userName="a@x"), holders={(ObjectKind.USER, "t1"): holder("OLD", "t1")})
    assert find(idx, {"userName": "a@x"}, anchor="NEW", restore=False).outcome == DISPUTED


def test_a_candidate_whose_externalid_names_an_unknown_source_object_is_disputed():
    res = find(index(tobj("t1", external_id="SOMEONE", userName="a@x")), {"userName": "a@x"})
    assert res.outcome == DISPUTED and "SOMEONE" in res.reasons[0].detail


def test_an_adoption_that_would_change_the_target_username_is_disputed():
    idx = index(tobj("t1", userName="admin@cloud", **{EMAIL: "boss@x"}))
    res = find(idx, {"userName": "u1@x", EMAIL: "boss@x"})
    assert res.outcome == DISPUTED and "userName" in res.reasons[-1].detail


def test_two_source_objects_claiming_one_target_object_are_both_disputed_naming_each_other():
    idx = index(tobj("t1", userName="a@x", **{EMAIL: "b@x"}))
    results = resolve_conflicts({"A": find(idx, {"userName": "a@x"}, anchor="A"),
                                 "B": find(idx, {EMAIL: "b@x"}, anchor="B")})
    assert results["A"].outcome == results["B"].outcome == DISPUTED
    assert results["A"].others == ("B", "t1") and results["B"].others == ("A", "t1")


def test_a_group_takes_over_its_predecessor_when_a_user_has_the_same_target_id():
    """django-scim2 numbers users and groups apart: user 4 and group 4 are two objects. The group's
    holder is the soft-deleted group of ours, not the user that holds id 4 among the users."""
    old_group = TargetState(anchor="OLDG", target="app", kind=ObjectKind.GROUP, state="soft_deleted",
                            target_id="4", ownership=Ownership.CREATED)
    user_four = holder("U4", "4", state="provisioned")
    idx = TargetIndex((tobj("4", kind=ObjectKind.GROUP, external_id="OLDG", displayName="Team"),
                       tobj("4", external_id="U4", userName="u4@x")), MATCHING,
                      {(ObjectKind.GROUP, "4"): old_group, (ObjectKind.USER, "4"): user_four}, group_names=True)
    res = idx.find("NEWG", ObjectKind.GROUP, {"displayName": "Team"}, restore_recreated=True)
    assert (res.outcome, res.predecessor.anchor, res.target.kind) == (RECREATE, "OLDG", ObjectKind.GROUP)

"""Example tests, one per planner rule, named as sentences."""

from __future__ import annotations

import pytest

from hybridsync.engine.core.config import SafetyConfig, ScopeClause, ScopeConfig, TargetConfig
from hybridsync.engine.plan.planner import Plan, ReadEvidence, plan
from hybridsync.engine.core.values import ActionKind, ObjectKind, Ownership, ReadMode, evolve

from .model_target import Directory, ModelTarget, group, is_quiet, later, user

A = ActionKind
STAFF = "OU=Staff,DC=lab,DC=test"
OTHER = "OU=Other,DC=lab,DC=test"


def setup(n=3, *, scope=None, safety=None, target=None, extra=()):
    d = Directory(scope or ScopeConfig(include_ous=(STAFF,)), safety or SafetyConfig())
    for i in range(n):
        d.put(user(i))
    for o in extra:
        d.put(o)
    t = ModelTarget(target or TargetConfig(name="app"))
    d.cycle([t], later())
    return d, t


def only(p: Plan, anchor: str):
    acts = [a for a in p.actions if a.anchor == anchor]
    assert len(acts) == 1, acts
    return acts[0]


def rules(action) -> list[str]:
    return [r.rule for r in action.reasons]


def test_new_in_scope_users_are_created_with_the_full_projection_and_externalid_anchor():
    d, t = setup(2)
    snap = t.snapshot()
    assert set(snap) == {"u00000", "u00001"}
    assert snap["u00000"]["attrs"]["userName"] == "user0@lab.test"
    assert t.states["u00000"].ownership == Ownership.CREATED


def test_a_second_plan_after_applying_is_all_noops():
    d, t = setup(3)
    assert is_quiet(plan(d.full_input([t], later())))


def test_an_update_carries_only_the_changed_attributes():
    d, t = setup(1)
    d.put(user(0, title="Boss"))
    a = only(plan(d.delta_input([t], later(), ["u00000"])), "u00000")
    assert a.kind == A.UPDATE
    assert dict(a.attributes) == {"title": "Boss"}
    assert "mapping.title" in rules(a)


def test_a_user_moved_out_of_scope_is_soft_deleted_naming_the_include_clause():
    d, t = setup(2)
    d.put(user(1, ou=OTHER))
    a = only(plan(d.delta_input([t], later(), ["u00001"])), "u00001")
    assert (a.kind, a.to_state, dict(a.attributes)) == (A.DISABLE, "soft_deleted", {"active": False})
    assert "scope.include_ous" in rules(a)


def test_a_user_excluded_by_an_exclude_ou_names_that_clause():
    d, t = setup(2, scope=ScopeConfig(include_ous=(STAFF,), exclude_ous=(f"OU=Leavers,{STAFF}",)))
    d.put(user(1, ou=f"OU=Leavers,{STAFF}"))
    a = only(plan(d.delta_input([t], later(), ["u00001"])), "u00001")
    assert a.kind == A.DISABLE and "scope.exclude_ous[0]" in rules(a)


def test_a_user_disabled_in_ad_is_disabled_not_soft_deleted_and_re_enabled_later():
    d, t = setup(1)
    d.put(user(0, disabled=True))
    p = plan(d.delta_input([t], later(), ["u00000"]))
    a = only(p, "u00000")
    assert (a.kind, a.to_state, a.attributes["active"]) == (A.DISABLE, "disabled", False)
    t.apply(p, later())
    d.put(user(0))
    a = only(plan(d.delta_input([t], later(), ["u00000"])), "u00000")
    assert (a.kind, a.to_state, dict(a.attributes)) == (A.RESTORE, "provisioned", {"active": True})


def test_a_user_returning_within_the_grace_window_is_restored_not_duplicated():
    d, t = setup(1)
    d.put(user(0, ou=OTHER))
    t.apply(plan(d.delta_input([t], later(1), ["u00000"])), later(1))
    d.put(user(0))
    p = plan(d.delta_input([t], later(5), ["u00000"]))
    a = only(p, "u00000")
    assert (a.kind, a.from_state, a.to_state) == (A.RESTORE, "soft_deleted", "provisioned")
    t.apply(p, later(5))
    assert len(t.objects) == 1 and t.snapshot()["u00000"]["active"] is True


def test_a_soft_deleted_user_is_deleted_only_after_soft_delete_days():
    d, t = setup(1, safety=SafetyConfig(soft_delete_days=30))
    d.delete("u00000")
    t.apply(plan(d.delta_input([t], later(1), ["u00000"])), later(1))
    assert t.states["u00000"].state == "soft_deleted"
    assert only(plan(d.delta_input([t], later(30), ["u00000"])), "u00000").kind == A.NOOP
    a = only(plan(d.delta_input([t], later(31.5), ["u00000"])), "u00000")
    assert (a.kind, a.to_state) == (A.DELETE, "deleted")
    assert "safety.soft_delete_days" in rules(a)


def test_a_recreated_user_with_the_same_upn_takes_over_its_soft_deleted_predecessor():
    d, t = setup(1)
    d.delete("u00000")
    t.apply(plan(d.delta_input([t], later(1), ["u00000"])), later(1))
    d.put(user(0, guid="NEW0"))
    p = plan(d.delta_input([t], later(2), ["NEW0"]))
    a = only(p, "NEW0")
    assert a.kind == A.ADOPT and a.target_id == t.states["u00000"].target_id
    assert a.attributes["externalId"] == "NEW0" and a.attributes["active"] is True
    detail = next(r.detail for r in a.reasons if r.rule == "match.recreated")
    assert "NEW0" in detail and "u00000" in detail
    old = only(p, "u00000")
    assert (old.kind, old.to_state) == (A.NOOP, "deleted")
    t.apply(p, later(2))
    assert len(t.objects) == 1 and t.snapshot()["NEW0"]["active"] is True


def test_recreated_users_are_created_fresh_when_restore_recreated_is_off():
    d, t = setup(1, safety=SafetyConfig(restore_recreated=False))
    d.delete("u00000")
    t.apply(plan(d.delta_input([t], later(1), ["u00000"])), later(1))
    d.put(user(0, guid="NEW0"))
    a = only(plan(d.delta_input([t], later(2), ["NEW0"])), "NEW0")
    assert a.kind == A.REPORT and a.to_state == "disputed"


def test_a_foreign_target_object_with_the_same_username_is_adopted_and_recorded_as_adopted():
    d = Directory()
    d.put(user(0))
    t = ModelTarget(TargetConfig(name="app"))
    fid = t.add_foreign(ObjectKind.USER, {"userName": "USER0@lab.test", "title": "old"})
    p = plan(d.full_input([t], later()))
    a = only(p, "u00000")
    assert a.kind == A.ADOPT and a.target_id == fid and "match.soft.userName" in rules(a)
    t.apply(p, later())
    assert t.states["u00000"].ownership == Ownership.ADOPTED


def test_two_source_objects_matching_one_target_object_are_both_disputed():
    d = Directory()
    d.put(user(0, upn="same@lab.test"))
    # (issue 14: a match by email that would change the target's userName is disputed on its own;
    # two claimants with the same userName are the case here)
    d.put(user(1, mail="same@lab.test", upn="SAME@lab.test"))
    t = ModelTarget(TargetConfig(name="app", matching=("userName", 'emails[type eq "work"].value')))
    fid = t.add_foreign(ObjectKind.USER, {"userName": "same@lab.test", 'emails[type eq "work"].value': "same@lab.test"})
    p = plan(d.full_input([t], later()))
    for anchor, other in (("u00000", "u00001"), ("u00001", "u00000")):
        a = only(p, anchor)
        assert (a.kind, a.to_state) == (A.REPORT, "disputed")
        text = " ".join(r.detail for r in a.reasons)
        assert other in text and fid in text


def test_one_source_object_matching_two_target_objects_is_disputed():
    d = Directory()
    d.put(user(0))
    t = ModelTarget(TargetConfig(name="app"))
    ids = [t.add_foreign(ObjectKind.USER, {"userName": "user0@lab.test"}) for _ in range(2)]
    a = only(plan(d.full_input([t], later())), "u00000")
    assert a.kind == A.REPORT and all(i in a.reasons[-2].detail for i in ids)


def test_foreign_objects_are_never_disabled_or_deleted():
    d, t = setup(1)
    t.states["u00000"] = evolve(t.states["u00000"], ownership=Ownership.FOREIGN)
    d.delete("u00000")
    a = only(plan(d.delta_input([t], later(), ["u00000"])), "u00000")
    assert a.kind == A.REPORT and "safety.ownership" in rules(a)


def test_absence_from_an_incomplete_full_read_disables_nobody():
    d, t = setup(3)
    d.objects.pop("u00002")
    p = plan(d.full_input([t], later(), complete=False))
    a = only(p, "u00002")
    assert a.kind == A.NOOP and "safety.evidence" in rules(a)
    assert not [x for x in p.actions if x.kind in (A.DISABLE, A.DELETE)]


def test_a_suspiciously_small_full_read_disables_nobody_but_still_creates():
    d, t = setup(10, safety=SafetyConfig(min_full_read_fraction=0.5))
    d.last_complete = 10
    for i in range(8):
        d.objects.pop(f"u{i:05d}")
    d.put(user(50))
    p = plan(d.full_input([t], later()))
    assert not [x for x in p.actions if x.kind in (A.DISABLE, A.DELETE, A.HOLD)]
    assert only(p, "u00050").kind == A.CREATE
    assert any("fewer than" in r.detail for r in only(p, "u00000").reasons)


def test_absence_from_a_complete_full_read_soft_deletes():
    d, t = setup(3)
    d.objects.pop("u00002")
    a = only(plan(d.full_input([t], later())), "u00002")
    assert (a.kind, a.to_state) == (A.DISABLE, "soft_deleted")


def test_moving_many_users_out_of_scope_beyond_the_threshold_holds_them_all_while_new_users_are_created():
    d, t = setup(10, safety=SafetyConfig(delete_threshold=3))
    for i in range(6):
        d.put(user(i, ou=OTHER))
    d.put(user(99))
    p = plan(d.full_input([t], later()))
    assert [a.kind for a in p.actions if a.anchor.startswith("u0000") and int(a.anchor[1:]) < 6] == [A.HOLD] * 6
    assert only(p, "u00099").kind == A.CREATE
    assert p.summary["held"] == 6
    t.apply(p, later())
    t.approved |= {"u00000", "u00001"}
    p2 = plan(d.full_input([t], later()))
    assert {a.anchor for a in p2.actions if a.kind == A.DISABLE} == {"u00000", "u00001"}
    assert only(p2, "u00002").kind == A.HOLD


def test_held_users_that_return_to_scope_are_released_without_any_change():
    d, t = setup(5, safety=SafetyConfig(delete_threshold=1))
    for i in range(3):
        d.put(user(i, ou=OTHER))
    t.apply(plan(d.full_input([t], later())), later())
    assert t.states["u00000"].state == "held"
    d.put(user(0))
    a = only(plan(d.full_input([t], later())), "u00000")
    assert (a.kind, a.to_state) == (A.NOOP, "provisioned")


def test_scope_filters_name_the_failing_clause():
    scope = ScopeConfig(filters=((ScopeClause("department", "EQUALS", "Sales"),),
                                 (ScopeClause("title", "IS NOT NULL"), ScopeClause("title", "NOT EQUALS", "x"))))
    d, t = setup(0, scope=scope, extra=[user(1, department="Sales"), user(2, title="x")])
    assert set(t.snapshot()) == {"u00001"}
    a = only(plan(d.full_input([t], later())), "u00002")
    assert "scope.filters[0][0]" in rules(a)


def test_group_members_are_member_level_deltas_ordered_after_the_creates():
    d, t = setup(2, extra=[group(1, ["u00000"])])
    d.put(group(1, ["u00001", "u00005"]))
    d.put(user(5))
    p = plan(d.full_input([t], later()))
    kinds = [a.kind for a in p.actions]
    add = only([a for a in p.actions if a.kind == A.ADD_MEMBERS], "g00001") if False else \
        next(a for a in p.actions if a.kind == A.ADD_MEMBERS)
    rem = next(a for a in p.actions if a.kind == A.REMOVE_MEMBERS)
    assert add.members == ("u00001", "u00005") and rem.members == ("u00000",)
    assert kinds.index(A.CREATE) < kinds.index(A.ADD_MEMBERS) < kinds.index(A.REMOVE_MEMBERS)


def test_out_of_scope_members_are_not_sent():
    d, t = setup(1, extra=[user(7, ou=OTHER), group(1, ["u00000", "u00007"])])
    assert t.snapshot()["g00001"]["members"] == {"u00000"}


def test_group_scope_follows_nested_membership_through_a_cycle():
    scope = ScopeConfig(groups=("CN=Group 1,OU=Staff,DC=lab,DC=test",))
    extra = [user(5), user(6), group(1, ["g00002"]), group(2, ["u00005", "g00001"])]
    d, t = setup(0, scope=scope, extra=extra)
    assert set(t.snapshot()) == {"g00001", "g00002", "u00005"}
    a = only(plan(d.full_input([t], later())), "u00006")
    assert "scope.groups" in rules(a)


@pytest.mark.parametrize("mode,members_of_g1", [
    ("nested", {"u00000", "g00002"}),
    ("flatten", {"u00000", "u00001", "u00002"}),
    ("omit", {"u00000"}),
])
def test_nested_groups_are_kept_flattened_or_omitted_per_target(mode, members_of_g1):
    extra = [group(1, ["u00000", "g00002"]), group(2, ["u00001", "g00003"]), group(3, ["u00002", "g00001"])]
    d, t = setup(3, target=TargetConfig(name="app", nested_groups=mode), extra=extra)
    assert t.snapshot()["g00001"]["members"] == members_of_g1


def test_contacts_go_only_to_targets_that_take_contacts():
    from hybridsync.engine.core.values import SourceObject
    contact = SourceObject(anchor="c1", object_guid="c1", kind=ObjectKind.CONTACT, dn=f"CN=C,{STAFF}",
                           attributes={"cn": "C", "mail": "c@x.test"})
    d = Directory()
    d.put(contact)
    plain = ModelTarget(TargetConfig(name="plain"))
    wide = ModelTarget(TargetConfig(name="wide", object_types=("user", "group", "contact")))
    d.cycle([plain, wide], later())
    assert plain.snapshot() == {} and set(wide.snapshot()) == {"c1"}


def test_a_mapping_error_reports_the_object_and_provisions_nothing():
    d = Directory()
    d.put(user(0))
    t = ModelTarget(TargetConfig(name="app", mapping={"user": {"userName": "CDate(\"nope\")"}}))
    p = plan(d.full_input([t], later()))
    assert only(p, "u00000").kind == A.REPORT
    assert p.errors and p.errors[0].anchor == "u00000" and p.errors[0].attribute == "userName"


def test_plans_round_trip_through_json_lines():
    d = Directory()
    d.put(user(0))
    p = plan(d.full_input([ModelTarget(TargetConfig(name="app"))], later()))
    again = Plan.from_jsonl(p.to_jsonl())
    assert again.actions == p.actions and dict(again.summary) == dict(p.summary)


def test_escrowed_objects_wait_for_their_retry_time():
    d, t = setup(1)
    t.fail = {"u00000"}
    d.put(user(0, title="T"))
    t.apply(plan(d.delta_input([t], later(), ["u00000"])), later())
    assert t.states["u00000"].state == "escrow"
    a = only(plan(d.delta_input([t], later(seconds=1), ["u00000"])), "u00000")
    assert a.kind == A.NOOP and "lifecycle.escrow" in rules(a)
    t.fail = set()
    a = only(plan(d.delta_input([t], later(seconds=3600), ["u00000"])), "u00000")
    assert (a.kind, a.from_state, a.to_state) == (A.UPDATE, "escrow", "provisioned")


def test_group_scope_without_a_closure_refuses_to_plan():
    d = Directory(ScopeConfig(groups=("CN=G,DC=lab,DC=test",)))
    inp = evolve(d.full_input([], later()), group_scope=None)
    with pytest.raises(ValueError, match="group_scope"):
        plan(inp)


def test_absent_anchors_passed_with_a_delta_or_a_non_final_page_are_not_evidence():
    d, t = setup(2)
    for read in (ReadEvidence(ReadMode.DELTA), ReadEvidence(ReadMode.FULL, final=False, complete=False)):
        inp = evolve(d.delta_input([t], later(), []), absent=frozenset({"u00001"}), read=read)
        a = only(plan(inp), "u00001")
        assert a.kind == A.NOOP and a.to_state == "provisioned" and "safety.evidence" in rules(a)


def test_lookups_ask_only_about_in_scope_objects_the_target_does_not_know():
    from hybridsync.engine.plan.planner import Lookup, lookups
    d, t = setup(1, extra=[user(8, ou=OTHER)])
    d.put(user(5, mail="five@lab.test"))
    asked = lookups(d.full_input([t], later()))
    assert len(asked) == 2 and set(asked) == {  # soft match by userName only by default (issue 14)
        Lookup("app", ObjectKind.USER, "externalId", "u00005"),
        Lookup("app", ObjectKind.USER, "userName", "user5@lab.test"),
    }


def test_a_full_read_planned_in_pages_shares_one_threshold_and_acts_on_absence_only_at_the_end():
    d, t = setup(6, safety=SafetyConfig(delete_threshold=2))
    d.put(user(0, ou=OTHER))
    d.put(user(1, ou=OTHER))
    d.objects.pop("u00005")
    objs = sorted(d.objects.values(), key=lambda o: o.anchor)
    page1 = evolve(d.full_input([t], later(), objects=objs[:3]), absent=frozenset(),
                   read=ReadEvidence(ReadMode.FULL, final=False))
    p1 = plan(page1)
    assert {a.anchor for a in p1.actions if a.kind == A.DISABLE} == {"u00000", "u00001"}
    used = p1.summary["threshold_used"]["app"]
    assert used == 2 and p1.carry.threshold_used["app"] == used
    last = d.full_input([t], later(), objects=objs[3:])
    last = evolve(last, objects=tuple(objs[3:]), absent=frozenset({"u00005"}), carry=p1.carry,
                  read=ReadEvidence(ReadMode.FULL, final=True, complete=True, count=len(objs), last_complete_count=6))
    a = only(plan(last), "u00005")
    assert a.kind == A.HOLD and "safety.delete_threshold" in rules(a)


def test_a_recreated_user_that_is_no_longer_a_group_member_is_removed_from_the_group_it_took_over():
    d, t = setup(2, extra=[group(1, ["u00000", "u00001"])])
    d.delete("u00000")  # a delta with the tombstone only: the group is not re-planned yet
    t.apply(plan(d.delta_input([t], later(1), ["u00000"])), later(1))
    assert t.states["g00001"].members_sent == {"u00000", "u00001"}
    d.put(group(1, ["u00001"]))
    d.put(user(0, guid="NEW0"))
    p = plan(d.full_input([t], later(2)))
    assert p.predecessor("app", "NEW0") == "u00000"
    remove = next(a for a in p.actions if a.kind == A.REMOVE_MEMBERS)
    assert remove.members == ("NEW0",)  # the same target object, now anchored as NEW0
    t.apply(p, later(2))
    assert t.snapshot()["g00001"]["members"] == {"u00001"}
    d.put(group(1, ["u00001", "NEW0"]))
    p = plan(d.full_input([t], later(3)))
    add = next(a for a in p.actions if a.kind == A.ADD_MEMBERS)
    assert add.members == ("NEW0",)


def test_a_manager_reference_is_set_once_the_manager_exists_and_cleared_when_it_is_gone():
    mgr = "CN=User 0,OU=Staff,DC=lab,DC=test"
    d, t = setup(1, extra=[user(1, manager=mgr)])
    path = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"
    assert t.snapshot()["u00001"]["attrs"][path] == t.states["u00000"].target_id
    d.delete("u00000")
    a = only(plan(d.delta_input([t], later(), ["u00001"])), "u00001")
    assert (a.kind, dict(a.attributes)) == (A.UPDATE, {path: None})


def test_a_member_waiting_in_escrow_stays_in_its_groups():
    d, t = setup(2, extra=[group(1, ["u00000", "u00001"])])
    t.fail = {"u00000"}
    d.put(user(0, title="T"))
    t.apply(plan(d.delta_input([t], later(), ["u00000"])), later())
    assert t.states["u00000"].state == "escrow"
    p = plan(d.full_input([t], later(seconds=1)))
    assert not [a for a in p.actions if a.kind in (A.ADD_MEMBERS, A.REMOVE_MEMBERS)]

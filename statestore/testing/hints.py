"""``had_members`` of ``put_object`` / ``put_target_state`` (what the caller knows of the stored
members), for the conformance kit (``StoreContract`` includes ``MemberHintContract``): a hint of
none writes the members given; a hint of some, and no hint, make the stored members equal the
state's (a state without members deletes them), as before the keyword existed."""

from __future__ import annotations

from hybridsync.engine.core.values import ObjectKind, TargetState
from hybridsync.statestore.testing.samples import group_state, obj

A = "hint-group"


def _group(members: set[str]):
    return obj(A, kind=ObjectKind.GROUP, members=frozenset(members))


class MemberHintContract:
    def test_a_hint_of_no_stored_members_writes_the_members_given(self, store):
        with store.atomic():
            store.put_object(_group({"m1", "m2"}), had_members=False)
            store.put_target_state(group_state(A, {"x1", "x2"}), had_members=False)
        assert store.get_object("corp", A).members == {"m1", "m2"}
        assert store.get_target_state("app", A).members_sent == {"x1", "x2"}
        assert store.groups_with_member("corp", "m2") == [A]
        assert store.target_groups_with_member("app", "x1") == [A]
        store.put_object(obj("hint-user"), had_members=False)  # nothing to write, nothing stored
        store.put_target_state(TargetState(anchor="hint-user", target="app", kind=ObjectKind.USER,
                                           state="provisioned"), had_members=False)
        assert store.get_object("corp", "hint-user").members == frozenset()
        assert store.get_target_state("app", "hint-user").members_sent == frozenset()

    def test_a_hint_of_some_stored_members_then_none_deletes_them(self, store):
        store.put_object(_group({"m1", "m2"}))
        store.put_target_state(group_state(A, {"x1", "x2"}))
        with store.atomic():
            store.put_object(_group({"m2", "m3"}), had_members=True)  # a diff against the stored
            store.put_target_state(group_state(A, {"x2", "x3"}), had_members=True)
        assert store.get_object("corp", A).members == {"m2", "m3"}
        assert store.get_target_state("app", A).members_sent == {"x2", "x3"}
        with store.atomic():
            store.put_object(_group(set()), had_members=True)
            store.put_target_state(group_state(A, set()), had_members=True)
        assert store.get_object("corp", A).members == frozenset()
        assert store.get_target_state("app", A).members_sent == frozenset()
        assert store.groups_with_member("corp", "m2") == [] and store.target_groups_with_member("app", "x2") == []

    def test_no_hint_keeps_the_stored_members_equal_to_the_state_s(self, store):
        store.put_object(_group({"m1", "m2"}), had_members=False)
        store.put_target_state(group_state(A, {"x1"}), had_members=False)
        with store.atomic():
            store.put_object(_group({"m1", "m4"}))
            store.put_target_state(group_state(A, {"x1", "x4"}))
        assert store.get_object("corp", A).members == {"m1", "m4"}
        assert store.get_target_state("app", A).members_sent == {"x1", "x4"}
        store.put_object(_group(set()))
        store.put_target_state(group_state(A, set()))
        assert store.get_object("corp", A).members == frozenset()
        assert store.get_target_state("app", A).members_sent == frozenset()
        # then a hint of none is true again: members written afresh, no stale row comes back
        store.put_object(_group({"m9"}), had_members=False)
        store.put_target_state(group_state(A, {"x9"}), had_members=False)
        assert store.get_object("corp", A).members == {"m9"}
        assert store.get_target_state("app", A).members_sent == {"x9"}

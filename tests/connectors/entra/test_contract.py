"""The conformance kit (contract + state machine) against the fake Graph.

Graph differs from SCIM where the contract assumes SCIM: contacts cannot be written (orgContact is
read-only), so that test is replaced by the unsupported outcome; a displayName cannot be cleared
(required by Graph), so the state machine's update rule never clears it."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import multiple, precondition, rule, run_state_machine_as_test

from hybridsync.connectors.base import Done, RetryAfter, Terminal
from hybridsync.connectors.testing.faults import Fault
from hybridsync.connectors.testing import strategies as hs
from hybridsync.connectors.testing.stateful import TargetStateMachine
from hybridsync.connectors.testing.target_contract import TargetContract, anchor
from hybridsync.engine.core.values import ObjectKind as K


class TestEntraContract(TargetContract):
    member_chunk = 20  # members@odata.bind holds at most 20 references

    def test_contact_is_created_inactive_and_listed_apart_from_users(self, target, backdoor):
        made = target.create(K.CONTACT, anchor("c"), {"displayName": "C", "mail": "c@corp.example"})
        assert isinstance(made, Terminal) and made.scim_type == "unsupported"
        assert "orgContact is read-only" in made.detail
        assert list(target.list_owned(K.CONTACT)) == []

    def test_a_member_change_costs_at_most_one_request_per_400(self, faulty_target, backdoor, faults):
        ids = backdoor.seed_users([{"externalId": anchor(i), **self.user_attributes(i)} for i in range(800)])
        gid = faulty_target.create(K.GROUP, anchor("g"), self.group_attributes("g")).target_id
        faults.clear()
        assert isinstance(faulty_target.add_members(gid, [(K.USER, i) for i in ids]), Done)
        assert faults.count() == 2  # 800 members: 40 binds of 20 in 2 $batch requests
        assert backdoor.members(gid) == set(ids)


_changes = st.fixed_dictionaries({}, optional={
    "displayName": hs.display_names,  # required in Graph: never cleared
    "name.givenName": st.one_of(st.none(), hs.display_names),
    "title": st.one_of(st.none(), hs.display_names),
    'emails[type eq "work"].value': st.one_of(st.none(), hs.emails),
}).filter(bool)


class EntraStateMachine(TargetStateMachine):
    @precondition(lambda self: self.faults is not None)
    @rule(target=TargetStateMachine.users, anchor=hs.anchors, local=hs.local_parts)
    def create_user_whose_answer_is_lost(self, anchor, local):
        """As the kit's rule, with the displayName Graph requires (the kit sends none)."""
        attrs = {"userName": f"{local}@corp.example", "displayName": local, "active": True}
        if self._taken(attrs["userName"]) or any(u["externalId"] == anchor for u in self.model_users.values()):
            return multiple()
        self.faults.add(Fault.lost_response(), method="POST")
        assert isinstance(self.target.create(K.USER, anchor, attrs), RetryAfter)
        result = self.target.create(K.USER, anchor, attrs)
        assert isinstance(result, Done), result
        self.model_users[result.target_id] = {"externalId": anchor, "active": True,
                                              "attrs": {"userName": attrs["userName"], "displayName": local}}
        return result.target_id

    @rule(user=TargetStateMachine.users, changes=_changes)
    def update_user(self, user, changes):
        TargetStateMachine.update_user.hypothesis_stateful_rule.function(self, user, changes)


def test_entra_matches_the_model(target, backdoor):
    run_state_machine_as_test(lambda: EntraStateMachine(target, backdoor),
                              settings=settings(max_examples=10, stateful_step_count=12, deadline=None))


def test_entra_matches_the_model_when_answers_are_lost(faulty_target, backdoor, faults):
    run_state_machine_as_test(lambda: EntraStateMachine(faulty_target, backdoor, faults),
                              settings=settings(max_examples=6, stateful_step_count=10, deadline=None))

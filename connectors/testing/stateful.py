"""A Hypothesis state machine driving a target connector and a perfect model side by side.

After every step, what the service holds (read through the backdoor) equals the model. Run it
from a test that has the kit's fixtures (zarr's ``testing/stateful.py`` pattern)::

    def test_connector_matches_the_model(target, backdoor):
        run_state_machine_as_test(lambda: TargetStateMachine(target, backdoor),
                                  settings=settings(max_examples=20, stateful_step_count=15))

Pass ``faults`` (the ``FaultTransport`` under ``target``) to add rules whose answers are lost: the
service applies a create or update, the client hears a reset, and the retry must converge without
duplicates.

A path the connector documents as dropped or computed by the service (``describe()``, see
``target_contract.not_kept``) is not compared: the writes of it must still succeed.
"""

from __future__ import annotations

from typing import Any

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    precondition,
    rule,
)

from hybridsync.connectors.base import Done, RetryAfter, Terminal
from hybridsync.connectors.testing.faults import Fault
from hybridsync.connectors.testing import strategies as hs
from hybridsync.connectors.testing.target_contract import not_kept
from hybridsync.engine.core.values import ObjectKind

K = ObjectKind
TRACKED = ("userName", "displayName", "name.givenName", "title", 'emails[type eq "work"].value')


class TargetStateMachine(RuleBasedStateMachine):
    users = Bundle("users")
    groups = Bundle("groups")

    def __init__(self, target: Any, backdoor: Any, faults: Any = None):
        super().__init__()
        self.target = target
        self.backdoor = backdoor
        self.faults = faults  # a FaultTransport under ``target``: enables the lost-answer rules
        backdoor.reset()
        self.model_users: dict[str, dict[str, Any]] = {}  # target id -> {externalId, attrs, active}
        self.model_groups: dict[str, dict[str, Any]] = {}  # target id -> {externalId, name, members}

    def _taken(self, user_name: str) -> bool:
        return any(u["attrs"].get("userName") == user_name for u in self.model_users.values())

    @rule(target=users, anchor=hs.anchors, local=hs.local_parts, name=hs.display_names)
    def create_user(self, anchor, local, name):
        attrs = {"userName": f"{local}@corp.example", "displayName": name, "active": True}
        if any(u["externalId"] == anchor for u in self.model_users.values()):
            return multiple()  # the engine looks an anchor up before it creates; never twice
        result = self.target.create(K.USER, anchor, attrs)
        note(f"create {attrs} -> {result}")
        if self._taken(attrs["userName"]):
            assert isinstance(result, Terminal) and result.status == 409, result
            return multiple()  # no new object
        assert isinstance(result, Done), result
        self.model_users[result.target_id] = {"externalId": anchor, "attrs": {k: v for k, v in attrs.items() if k != "active"},
                                              "active": True}
        return result.target_id

    @precondition(lambda self: self.faults is not None)
    @rule(target=users, anchor=hs.anchors, local=hs.local_parts, name=hs.display_names)
    def create_user_whose_answer_is_lost(self, anchor, local, name):
        """The service applies the create, the client never hears; the retry must not duplicate."""
        attrs = {"userName": f"{local}@corp.example", "displayName": name, "active": True}
        if self._taken(attrs["userName"]) or any(u["externalId"] == anchor for u in self.model_users.values()):
            return multiple()
        self.faults.add(Fault.lost_response(), method="POST")
        first = self.target.create(K.USER, anchor, attrs)
        assert isinstance(first, RetryAfter), first
        result = self.target.create(K.USER, anchor, attrs)
        assert isinstance(result, Done), result
        self.model_users[result.target_id] = {"externalId": anchor, "active": True,
                                              "attrs": {"userName": attrs["userName"], "displayName": name}}
        return result.target_id

    @precondition(lambda self: self.faults is not None)
    @rule(user=users, name=hs.display_names)
    def update_whose_answer_is_lost(self, user, name):
        if user not in self.model_users:
            return
        for method in ("PATCH", "PUT"):  # a target may update by GET + PUT
            self.faults.add(Fault.lost_response(), method=method)
        assert isinstance(self.target.update(K.USER, user, {"displayName": name}), RetryAfter)
        for _ in range(2):  # the other rule may take the retry's answer too
            result = self.target.update(K.USER, user, {"displayName": name})
            if not isinstance(result, RetryAfter):
                break
        assert isinstance(result, Done), result
        self.faults.clear()
        self.model_users[user]["attrs"]["displayName"] = name

    @rule(user=users, changes=hs.user_changes)
    def update_user(self, user, changes):
        if user not in self.model_users:
            return
        result = self.target.update(K.USER, user, changes)
        assert isinstance(result, Done), result
        for path, value in changes.items():
            if value is None:
                self.model_users[user]["attrs"].pop(path, None)
            else:
                self.model_users[user]["attrs"][path] = value

    @rule(user=users, active=st.booleans())
    def set_active(self, user, active):
        if user not in self.model_users:
            return
        result = (self.target.restore if active else self.target.disable)(K.USER, user)
        assert isinstance(result, Done), result
        self.model_users[user]["active"] = active

    @rule(user=consumes(users))
    def delete_user(self, user):
        if user not in self.model_users:
            return
        assert isinstance(self.target.delete(K.USER, user), Done)
        del self.model_users[user]
        gone = self.target.delete(K.USER, user)
        assert isinstance(gone, Terminal) and gone.gone

    @rule(target=groups, anchor=hs.anchors, name=hs.display_names)
    def create_group(self, anchor, name):
        result = self.target.create(K.GROUP, anchor, {"displayName": name})
        assert isinstance(result, Done), result
        self.model_groups[result.target_id] = {"externalId": anchor, "displayName": name, "members": set()}
        return result.target_id

    @rule(group=groups, user=users, add=st.booleans())
    def change_member(self, group, user, add):
        if user not in self.model_users or group not in self.model_groups:
            return
        call = self.target.add_members if add else self.target.remove_members
        assert isinstance(call(group, [(K.USER, user)]), Done)
        members = self.model_groups[group]["members"]
        (members.add if add else members.discard)(user)

    @invariant()
    def service_equals_model(self):
        held = {o.target_id: o for o in self.backdoor.objects(K.USER)}
        assert set(held) == set(self.model_users), (set(held), set(self.model_users))
        skip = not_kept(self.target, K.USER)
        for tid, want in self.model_users.items():
            got = held[tid]
            assert got.external_id == want["externalId"]
            assert got.active is want["active"], (tid, got.active, want["active"])
            for path in (p for p in TRACKED if p not in skip):
                assert got.attributes.get(path) == want["attrs"].get(path), (tid, path)
        groups = {o.target_id: o for o in self.backdoor.objects(K.GROUP)}
        assert set(groups) == set(self.model_groups)
        live = set(self.model_users)
        for gid, want in self.model_groups.items():
            assert groups[gid].external_id == want["externalId"]
            assert groups[gid].attributes.get("displayName") == want["displayName"]
            assert self.backdoor.members(gid) & live == want["members"] & live

"""The contract every hybridsync target connector must pass (like zarr's ``StoreTests``).

Subclass ``TargetContract`` in your connector's tests and provide three fixtures:

- ``target``: a fresh connector (implementing ``hybridsync.connectors.base.Target``) on an empty
  service;
- ``backdoor``: a ``Backdoor`` that reads and seeds the same service without the connector;
- ``faulty_target``: a connector whose HTTP goes through the ``faults`` fixture's
  ``FaultTransport`` (e.g. ``httpx.Client(transport=faults)``; ``faults`` wraps a real transport).

Optionally override ``secrets`` (strings that must never appear in any result) and
``user_attributes`` / ``group_attributes`` if your target's attribute paths differ.

A service may drop attributes it does not model or compute some itself (django-scim2 keeps no
email ``type`` and makes a User's ``displayName`` from the name parts). A connector that learned
so from the service's own answers documents it in ``describe()`` as ``dropped`` / ``computed``
entries ``"<kind>:<path>"``; the kit then checks that the write converges (succeeds, and again)
instead of that the service stores the value. Anything not documented must be held as written:
a service that loses data the connector did not learn still fails. ``userName``, ``active`` and
a group's ``displayName`` can never be documented away.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any, Protocol

import pytest

from hybridsync.connectors.base import Done, RetryAfter, Target, Terminal
from hybridsync.connectors.testing.faults import Fault, FaultTransport
from hybridsync.engine.core.values import ObjectKind, TargetObject

K = ObjectKind


class Backdoor(Protocol):
    """Direct access to the service behind a connector, for seeding and inspecting."""

    def reset(self) -> None: ...

    def objects(self, kind: ObjectKind) -> list[TargetObject]:
        """Every stored object of ``kind`` (flat attributes as the connector's projections)."""

    def get(self, kind: ObjectKind, target_id: str) -> TargetObject | None: ...

    def members(self, group_id: str) -> set[str]: ...

    def seed_users(self, users: list[Mapping[str, Any]]) -> list[str]:
        """Store users directly (``externalId`` plus projection paths); returns their ids."""

    def seed_group(self, anchor: str, display_name: str, member_ids: list[str]) -> str: ...


NEVER_NOT_KEPT = frozenset({"userName", "active"})


def not_kept(target: Any, kind: ObjectKind) -> frozenset[str]:
    """The paths of ``kind`` the connector documents as dropped or computed by the service."""
    shown = target.describe()
    prefix = f"{kind}:"
    paths = {e[len(prefix):] for key in ("dropped", "computed") for e in shown.get(key) or ()
             if isinstance(e, str) and e.startswith(prefix)}
    never = NEVER_NOT_KEPT | ({"displayName"} if kind is ObjectKind.GROUP else set())
    return frozenset(paths - never)


def assert_held(target: Any, kind: ObjectKind, held: Mapping[str, Any], written: Mapping[str, Any]) -> None:
    """Each written path is held as written (``None``: unassigned), unless documented not kept."""
    skip = not_kept(target, kind)
    for path, value in written.items():
        if path not in skip:
            assert held.get(path) == value, (
                f"{kind} {path}: the service holds {held.get(path)!r}, {value!r} was written "
                "(and the connector does not document it as dropped or computed)")


def anchor(n: int | str) -> str:
    return base64.b64encode(f"anchor-{n}".encode().ljust(16, b"\0")[:16]).decode()


class TargetContract:
    """Contract tests. Names read as sentences; each asserts what the service really holds."""

    large_group_size = 2000
    member_chunk = 100

    @pytest.fixture
    def secrets(self) -> list[str]:
        return []

    @pytest.fixture
    def faults(self) -> FaultTransport:
        return FaultTransport()

    def user_attributes(self, n: int | str, **extra: Any) -> dict[str, Any]:
        return {
            "userName": f"user{n}@corp.example",
            "displayName": f'User "{n}" \\ Ünïcode',
            "name.givenName": f"Given{n}",
            "name.familyName": f"Family{n}",
            'emails[type eq "work"].value': f"user{n}@corp.example",
            "active": True,
            **extra,
        }

    def group_attributes(self, n: int | str) -> dict[str, Any]:
        return {"displayName": f"Group {n}"}

    # -- lifecycle --------------------------------------------------------------------------

    def test_connector_implements_the_target_protocol(self, target):
        assert isinstance(target, Target)
        assert isinstance(target.describe(), Mapping)

    def test_created_user_is_found_by_anchor_and_by_user_name(self, target, backdoor):
        made = target.create(K.USER, anchor(1), self.user_attributes(1))
        assert isinstance(made, Done) and made.target_id
        held = backdoor.get(K.USER, made.target_id)
        assert held.external_id == anchor(1)
        assert held.attributes["userName"] == "user1@corp.example"
        written = self.user_attributes(1)
        assert_held(target, K.USER, held.attributes, {p: written[p] for p in ('emails[type eq "work"].value',)})
        by_anchor = target.lookup_by_anchor(K.USER, anchor(1))
        assert [o.target_id for o in by_anchor.found] == [made.target_id]
        by_name = target.lookup_by_attribute(K.USER, "userName", "user1@corp.example")
        assert by_name.target_id == made.target_id
        assert target.lookup_by_anchor(K.USER, anchor(2)).found == ()

    def test_create_many_creates_each_item_once_as_create_would(self, target, backdoor):
        """Optional capability (``create_many`` + ``bulk_size``, e.g. SCIM Bulk): one result per
        item, in order, each object held once with what was written."""
        create_many = getattr(target, "create_many", None)
        if not callable(create_many):  # the engine then creates each item singly: the same promise holds
            assert not callable(getattr(target, "bulk_size", None)), "bulk_size without create_many"

            def create_many(items):  # type: ignore[no-untyped-def]
                return [target.create(kind, a, attributes) for kind, a, attributes in items]
        users = [(K.USER, anchor(f"m{i}"), self.user_attributes(f"m{i}")) for i in range(7)]
        groups = [(K.GROUP, anchor(f"mg{i}"), self.group_attributes(f"m{i}")) for i in range(3)]
        results = create_many(users + groups)
        assert len(results) == 10 and all(isinstance(r, Done) and r.target_id for r in results), results
        for kind, items, made in ((K.USER, users, results[:7]), (K.GROUP, groups, results[7:])):
            held = {o.external_id: o for o in backdoor.objects(kind)}
            assert len(held) == len(backdoor.objects(kind)) == len(items)  # each once
            for (_, a, written), result in zip(items, made):
                assert held[a].target_id == result.target_id
                assert_held(target, kind, held[a].attributes, {p: v for p, v in written.items() if p != "active"})

    def test_update_changes_exactly_the_given_attributes_and_none_clears(self, target, backdoor):
        uid = target.create(K.USER, anchor(1), self.user_attributes(1)).target_id
        changes = {"displayName": 'New "name"', "name.givenName": None,
                   'emails[type eq "work"].value': "new@corp.example"}
        result = target.update(K.USER, uid, changes)
        assert isinstance(result, Done), result
        held = backdoor.get(K.USER, uid).attributes
        assert_held(target, K.USER, held, {**changes, "name.familyName": "Family1", "userName": "user1@corp.example"})
        assert held.get("name.givenName") is None
        again = target.update(K.USER, uid, changes)  # converges: the same write again is no failure
        assert isinstance(again, Done), again
        assert backdoor.get(K.USER, uid).attributes == held

    def test_update_with_anchor_rewrites_the_external_id(self, target, backdoor):
        uid = target.create(K.USER, anchor(1), self.user_attributes(1)).target_id
        assert isinstance(target.update(K.USER, uid, {}, anchor=anchor("new")), Done)
        assert backdoor.get(K.USER, uid).external_id == anchor("new")

    def test_disable_then_restore_flips_active(self, target, backdoor):
        uid = target.create(K.USER, anchor(1), self.user_attributes(1)).target_id
        assert isinstance(target.disable(K.USER, uid), Done)
        assert backdoor.get(K.USER, uid).active is False
        assert isinstance(target.restore(K.USER, uid), Done)
        assert backdoor.get(K.USER, uid).active is True

    def test_contact_is_created_inactive_and_listed_apart_from_users(self, target, backdoor):
        made = target.create(K.CONTACT, anchor("c"), {"userName": "c@corp.example", "displayName": "C"})
        target.create(K.USER, anchor("u"), self.user_attributes("u"))
        if isinstance(made, Terminal) and not_kept(target, K.CONTACT):
            # the service drops what tells a contact from a user (SCIM: userType): the connector
            # refuses contacts with a reason and leaves nothing behind that reads as a user
            assert not made.target_level and made.why
            assert [o.external_id for o in backdoor.objects(K.USER)] == [anchor("u")]
            assert [o.external_id for o in target.list_owned(K.USER)] == [anchor("u")]
            return
        assert backdoor.get(K.CONTACT, made.target_id).active is False
        assert [o.external_id for o in target.list_owned(K.CONTACT)] == [anchor("c")]
        assert [o.external_id for o in target.list_owned(K.USER)] == [anchor("u")]

    def test_delete_removes_the_object_and_a_second_delete_reports_it_gone(self, target, backdoor):
        uid = target.create(K.USER, anchor(1), self.user_attributes(1)).target_id
        assert isinstance(target.delete(K.USER, uid), Done)
        assert backdoor.get(K.USER, uid) is None
        again = target.delete(K.USER, uid)
        assert isinstance(again, Terminal) and again.gone
        upd = target.update(K.USER, uid, {"displayName": "x"})
        assert isinstance(upd, Terminal) and upd.gone

    def test_list_owned_yields_only_objects_with_an_external_id(self, target, backdoor):
        target.create(K.USER, anchor(1), self.user_attributes(1))
        backdoor.seed_users([{"userName": "foreign@corp.example"}])
        owned = list(target.list_owned(K.USER))
        assert [o.external_id for o in owned] == [anchor(1)]
        assert len(backdoor.objects(K.USER)) == 2

    def test_list_objects_when_offered_is_complete_including_objects_without_an_external_id(
            self, target, backdoor):
        if not hasattr(target, "list_objects"):  # optional: the engine then asks per object
            assert hasattr(target, "list_owned")
            return
        target.create(K.USER, anchor(1), self.user_attributes(1))
        backdoor.seed_users([{"userName": "foreign@corp.example"}])
        got = target.list_objects(K.USER)  # Done(found=...), or an iterator of TargetObject
        objects = got.found if isinstance(got, Done) else list(got)
        listed = {o.attributes.get("userName"): o.external_id for o in objects}
        assert listed == {"user1@corp.example": anchor(1), "foreign@corp.example": None}

    def test_taken_unique_value_is_a_terminal_conflict_naming_the_value(self, target, backdoor):
        target.create(K.USER, anchor(1), self.user_attributes(1))
        clash = target.create(K.USER, anchor(2), self.user_attributes(1))
        assert isinstance(clash, Terminal) and clash.status == 409
        assert clash.scim_type == "uniqueness"
        assert "user1@corp.example" in (clash.detail or "")
        assert len(backdoor.objects(K.USER)) == 1

    # -- groups -----------------------------------------------------------------------------

    def test_group_is_created_without_members_and_takes_deltas(self, target, backdoor):
        users = [target.create(K.USER, anchor(i), self.user_attributes(i)).target_id for i in range(3)]
        gid = target.create(K.GROUP, anchor("g"), self.group_attributes("g")).target_id
        assert backdoor.members(gid) == set()
        assert isinstance(target.add_members(gid, [(K.USER, u) for u in users]), Done)
        assert isinstance(target.remove_members(gid, [(K.USER, users[0])]), Done)
        assert backdoor.members(gid) == set(users[1:])

    def test_large_group_takes_chunked_adds_and_one_removal_costs_at_most_two_calls(
        self, faulty_target, backdoor, faults
    ):
        ids = backdoor.seed_users([{"externalId": anchor(i), **self.user_attributes(i)}
                                   for i in range(self.large_group_size)])
        gid = faulty_target.create(K.GROUP, anchor("big"), self.group_attributes("big")).target_id
        faults.clear()
        assert isinstance(faulty_target.add_members(gid, [(K.USER, i) for i in ids]), Done)
        assert faults.count() <= -(-self.large_group_size // self.member_chunk)
        assert backdoor.members(gid) == set(ids)
        faults.clear()
        assert isinstance(faulty_target.remove_members(gid, [(K.USER, ids[7])]), Done)
        assert faults.count() <= 2
        assert backdoor.members(gid) == set(ids) - {ids[7]}

    # -- idempotence ------------------------------------------------------------------------

    @pytest.mark.parametrize("kind", [K.USER, K.GROUP])
    def test_create_repeated_after_a_lost_response_does_not_duplicate(self, faulty_target, backdoor, faults, kind):
        attrs = self.user_attributes(1) if kind is K.USER else self.group_attributes(1)
        faults.add(Fault.lost_response(), method="POST")
        first = faulty_target.create(kind, anchor(1), attrs)
        assert isinstance(first, RetryAfter)
        second = faulty_target.create(kind, anchor(1), attrs)
        assert isinstance(second, Done), second
        held = [o for o in backdoor.objects(kind) if o.external_id == anchor(1)]
        assert [o.target_id for o in held] == [second.target_id]

    # -- error mapping ----------------------------------------------------------------------

    def _assert_clean(self, result: Any, secrets: list[str]) -> None:
        text = repr(result)
        for secret in secrets:
            assert secret not in text

    @pytest.mark.parametrize("status", [500, 502])
    def test_server_errors_are_retriable(self, faulty_target, faults, status, secrets):
        faults.add(Fault.status_code(status), method="POST")
        result = faulty_target.create(K.USER, anchor(1), self.user_attributes(1))
        assert isinstance(result, RetryAfter) and result.seconds > 0
        self._assert_clean(result, secrets)

    @pytest.mark.parametrize("status", [429, 503])
    def test_throttling_honours_retry_after_in_seconds(self, faulty_target, faults, status):
        faults.add(Fault.status_code(status, headers={"Retry-After": "7"}), method="POST")
        result = faulty_target.create(K.USER, anchor(1), self.user_attributes(1))
        assert isinstance(result, RetryAfter) and result.seconds == 7

    def test_throttling_honours_retry_after_as_an_http_date(self, faulty_target, faults):
        when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=120), usegmt=True)
        faults.add(Fault.status_code(429, headers={"Retry-After": when}), method="POST")
        result = faulty_target.create(K.USER, anchor(1), self.user_attributes(1))
        assert isinstance(result, RetryAfter) and 100 <= result.seconds <= 121

    def test_a_failed_complete_listing_is_a_result_value_not_an_exception(self, faulty_target, faults):
        if not hasattr(faulty_target, "list_objects"):
            return
        faulty_target.create(K.USER, anchor(1), self.user_attributes(1))
        faults.add(Fault.status_code(503, headers={"Retry-After": "3"}), method="GET")
        got = faulty_target.list_objects(K.USER)
        assert isinstance(got, RetryAfter) and got.seconds == 3

    @pytest.mark.parametrize("fault", [Fault.reset(), Fault.timeout()], ids=["reset", "stall"])
    def test_resets_and_stalls_are_retriable(self, faulty_target, faults, fault, secrets):
        uid = faulty_target.create(K.USER, anchor(1), self.user_attributes(1)).target_id
        faults.add(fault, method="PATCH")
        result = faulty_target.update(K.USER, uid, {"displayName": "x"})
        assert isinstance(result, RetryAfter) and result.seconds > 0
        self._assert_clean(result, secrets)

    def test_bad_request_with_scim_type_is_terminal_with_the_detail(self, faulty_target, faults):
        uid = faulty_target.create(K.USER, anchor(1), self.user_attributes(1)).target_id
        faults.add(Fault.status_code(400, scim_type="invalidValue", detail="title is too long"), method="PATCH")
        result = faulty_target.update(K.USER, uid, {"title": "x" * 10})
        assert isinstance(result, Terminal) and result.status == 400
        assert result.scim_type == "invalidValue" and "too long" in result.detail
        assert not result.target_level and not result.gone

    def test_injected_conflict_is_terminal_with_status_409(self, faulty_target, faults, backdoor):
        faults.add(Fault.status_code(409, scim_type="uniqueness"), method="POST")
        result = faulty_target.create(K.USER, anchor(1), self.user_attributes(1))
        assert isinstance(result, Terminal) and result.status == 409 and result.scim_type == "uniqueness"
        assert backdoor.objects(K.USER) == []

    @pytest.mark.parametrize("status", [401, 403])
    def test_refused_credentials_fail_the_whole_target(self, faulty_target, faults, status, secrets):
        faults.add(Fault.status_code(status), method="POST")
        result = faulty_target.create(K.USER, anchor(1), self.user_attributes(1))
        assert isinstance(result, Terminal) and result.target_level
        self._assert_clean(result, secrets)

    def test_precondition_failure_is_retried_once_then_left_to_the_loop(self, faulty_target, faults, backdoor):
        uid = faulty_target.create(K.USER, anchor(1), self.user_attributes(1)).target_id
        faults.add(Fault.status_code(412), method="PATCH", times=1)
        faults.add(Fault.status_code(412), method="PUT", times=1)
        assert isinstance(faulty_target.update(K.USER, uid, {"displayName": "after 412"}), Done)
        assert_held(faulty_target, K.USER, backdoor.get(K.USER, uid).attributes, {"displayName": "after 412"})
        faults.add(Fault.status_code(412), method="PATCH", times=5)
        faults.add(Fault.status_code(412), method="PUT", times=5)
        again = faulty_target.update(K.USER, uid, {"displayName": "never"})
        assert isinstance(again, RetryAfter) and again.seconds == 0

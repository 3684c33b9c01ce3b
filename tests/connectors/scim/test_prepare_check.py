"""The pure layers: projections -> requests, answers -> results, the token bucket."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scim2_models import ScimFilter, User

from hybridsync.connectors.base import RetryAfter, Terminal
from hybridsync.connectors.scim import PROFILES, check, prepare
from hybridsync.connectors.scim.prepare import PrepareError
from hybridsync.connectors.scim.transport import TokenBucket
from hybridsync.connectors.testing import strategies as hs
from hybridsync.engine.core.values import ObjectKind

E = prepare.ENTERPRISE


def test_flat_projection_nests_into_a_scim_user_with_the_enterprise_extension():
    body = prepare.create_body(ObjectKind.USER, "QUJD+/==", {
        "userName": "a@corp.example", "name.givenName": "A", 'emails[type eq "work"].value': "a@corp.example",
        'phoneNumbers[type eq "work"].value': "+1 555", f"{E}:department": "Ops", f"{E}:manager": "m1",
        "active": "False", "title": None,
    }, base_url="https://x.example/v2/")
    assert body == {
        "schemas": [prepare.USER_SCHEMA, E], "externalId": "QUJD+/==", "userName": "a@corp.example",
        "name": {"givenName": "A"}, "emails": [{"type": "work", "value": "a@corp.example"}],
        "phoneNumbers": [{"type": "work", "value": "+1 555"}],
        E: {"department": "Ops", "manager": {"value": "m1", "$ref": "https://x.example/v2/Users/m1"}},
        "active": False,
    }


def test_contact_is_an_inactive_user_of_type_contact_and_groups_never_carry_members():
    contact = prepare.create_body(ObjectKind.CONTACT, "Yw==", {"userName": "c@corp.example", "active": True})
    assert contact["active"] is False and contact["userType"] == "Contact"
    group = prepare.create_body(ObjectKind.GROUP, "Zw==", {"displayName": "G", "members": ["x"]})
    assert group == {"schemas": [prepare.GROUP_SCHEMA], "externalId": "Zw==", "displayName": "G"}


def test_update_replaces_exactly_the_changed_paths_in_each_dialect_style():
    changes = {"displayName": "D", "title": None, 'emails[type eq "work"].value': "n@corp.example", "active": False}
    strict = prepare.patch_operations(changes, PROFILES["rfc7644-strict"])
    assert strict == [
        {"op": "replace", "path": "displayName", "value": "D"},
        {"op": "remove", "path": "title"},
        {"op": "remove", "path": 'emails[type eq "work"]'},
        {"op": "add", "path": "emails", "value": [{"type": "work", "value": "n@corp.example"}]},
        {"op": "replace", "path": "active", "value": False},
    ]
    entra = prepare.patch_body(prepare.patch_operations(changes, PROFILES["entra-scim-client"]), PROFILES["entra-scim-client"])
    assert [o["op"] for o in entra["Operations"]] == ["Replace", "Remove", "Replace", "Replace"]
    assert entra["Operations"][-1]["value"] == "False"


def test_member_removal_styles_and_chunks():
    assert prepare.member_operations("remove", ["a", 'b"c'], PROFILES["scim2-server"]) == [
        {"op": "remove", "path": 'members[value eq "a"]'}, {"op": "remove", "path": 'members[value eq "b\\"c"]'}]
    assert prepare.member_operations("remove", ["a"], PROFILES["aws-identity-center"]) == [
        {"op": "remove", "path": "members", "value": [{"value": "a"}]}]
    assert [len(c) for c in prepare.chunks([str(i) for i in range(250)], 100)] == [100, 100, 50]


def test_unsupported_paths_and_booleans_are_named_errors():
    with pytest.raises(PrepareError, match="emails"):
        prepare.nest({'emails[type ne "work"].value': "x"})
    with pytest.raises(PrepareError, match="active"):
        prepare.nest({"active": "maybe"})


@given(value=st.one_of(hs.display_names, hs.anchors, st.text(max_size=20)))
def test_filter_values_are_quoted_so_scim2_models_parses_back_the_same_value(value):
    flt = ScimFilter[User](prepare.filter_value("displayName", value))
    assert flt.match(User(user_name="u", display_name=value))
    assert not flt.match(User(user_name="u", display_name=value + "x"))


@given(name=hs.display_names, mail=hs.emails)
def test_nest_then_flatten_gives_the_projection_back(name, mail):
    flat = {"userName": mail, "displayName": name, 'emails[type eq "work"].value': mail,
            "name.familyName": name, f"{E}:department": name}
    resource = {"id": "1", **prepare.create_body(ObjectKind.USER, "YQ==", flat)}
    got = check.flatten(resource, ObjectKind.USER)
    assert got.external_id == "YQ==" and dict(got.attributes) == flat


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert check.retry_after({"retry-after": "30"}, now) == 30
    date = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert check.retry_after({"retry-after": date}, now) == 90
    assert check.retry_after({"retry-after": format_datetime(now - timedelta(seconds=5), usegmt=True)}, now) == 0
    assert check.retry_after({}, now) == check.RETRY_429_DEFAULT


@pytest.mark.parametrize("status,scim_type,expect", [
    (400, "invalidFilter", Terminal), (400, "tooMany", Terminal), (400, "invalidSyntax", Terminal),
    (400, "invalidPath", Terminal), (400, "noTarget", Terminal), (400, "invalidValue", Terminal),
    (400, "invalidVers", Terminal), (400, "sensitive", Terminal), (400, "mutability", Terminal),
    (409, "uniqueness", Terminal), (404, None, Terminal), (412, None, RetryAfter), (413, None, Terminal),
    (401, None, Terminal), (403, None, Terminal), (500, None, RetryAfter), (502, None, RetryAfter),
    (503, None, RetryAfter), (429, None, RetryAfter),
])
def test_every_rfc_scim_type_and_status_maps_to_one_result(status, scim_type, expect):
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": str(status), "detail": "d"}
    if scim_type:
        body["scimType"] = scim_type
    got = check.classify(status, {}, body, what="user x")
    assert isinstance(got, expect) and got.status == status
    if isinstance(got, Terminal):
        assert got.scim_type == scim_type and got.detail == "d"
        assert got.gone == (status == 404) and got.target_level == (status in (401, 403))


def test_transport_failures_are_retriable_and_name_the_failure():
    request = httpx.Request("GET", "http://x")
    reset = check.transport_failure(httpx.ReadError("Connection reset by peer", request=request), what="create u")
    stall = check.transport_failure(httpx.ReadTimeout("timed out", request=request), what="create u")
    assert reset.seconds > 0 and "ReadError" in reset.why
    assert stall.seconds >= reset.seconds and "timed out" in stall.why


def test_token_bucket_never_allows_more_than_the_rate():
    now = [0.0]
    bucket = TokenBucket(20, clock=lambda: now[0])
    allowed = 0
    for step in range(1000):  # 10 s in 10 ms steps, asking 5 times per step
        now[0] = step * 0.01
        allowed += sum(1 for _ in range(5) if bucket.take() == 0.0)
    assert allowed <= 20 * 10 + 20
    assert bucket.take() > 0

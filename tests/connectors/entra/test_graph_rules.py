"""One test per Graph rule the Entra connector relies on, against the fake Graph (each rule's
learn.microsoft.com page is cited in connectors/entra/ and in graphfake/README.md)."""

from __future__ import annotations

import re

import httpx
import pytest
import structlog

from hybridsync.connectors.base import Done, RetryAfter, Terminal
from hybridsync.connectors.entra import EntraTarget, prepare
from hybridsync.connectors.testing.faults import Fault
from hybridsync.connectors.testing.target_contract import anchor
from hybridsync.engine.core.values import ObjectKind as K

from .conftest import entra_config

DOMAIN = "contoso.onmicrosoft.com"


def user(n, **extra):
    return {"userPrincipalName": f"user{n}@{DOMAIN}", "displayName": f"User {n}", "active": True, **extra}


# -- tokens (v2-oauth2-client-creds-grant-flow) ------------------------------------------------

def test_tokens_come_from_msal_client_credentials_at_the_authority(entra, fake):
    assert isinstance(entra.create(K.USER, anchor(1), user(1)), Done)
    assert isinstance(entra.create(K.USER, anchor(2), user(2)), Done)
    assert entra._transport.sent == 3  # 2 creates + 1 deleted-items read; the token is MSAL's, cached


def test_a_refused_client_secret_fails_the_whole_target_without_showing_it(fake, monkeypatch):
    monkeypatch.setenv("WRONG_SECRET", "not-the-secret-123")
    t = EntraTarget(entra_config(fake, client_secret_env="WRONG_SECRET"))
    got = t.create(K.USER, anchor(1), user(1))
    assert isinstance(got, Terminal) and got.target_level
    assert "not-the-secret-123" not in repr(got)
    assert fake.backdoor.users() == []


def test_an_expired_token_is_renewed_once(entra, fake):
    uid = entra.create(K.USER, anchor(1), user(1)).target_id
    fake.clock.advance(fake.knobs.token_lifetime + 1)  # Graph now answers InvalidAuthenticationToken
    assert isinstance(entra.update(K.USER, uid, {"jobTitle": "after renewal"}), Done)


# -- users (user-post-users, resources/user, passwordprofile) ----------------------------------

def test_created_user_carries_the_anchor_and_a_random_password_that_must_be_changed(entra, fake):
    logs = structlog.testing.capture_logs
    with logs() as seen:
        made = entra.create(K.USER, anchor(1), user(1))
    held = fake.backdoor.users()[0]
    assert held["onPremisesImmutableId"] == anchor(1) and held["onPremisesSyncEnabled"] is None
    profile = held["passwordProfile"]
    assert profile["forceChangePasswordNextSignIn"] is True and len(profile["password"]) >= 16
    assert profile["password"] not in repr(made) + repr(seen) + repr(entra.describe())


def test_password_none_sends_no_password_profile(fake):
    t = EntraTarget(entra_config(fake, password_policy="none"))
    got = t.create(K.USER, anchor(1), user(1))
    assert isinstance(got, Terminal) and got.status == 400  # the fake, like Graph's page, requires one


def test_mail_nickname_is_derived_safely_and_a_changed_value_is_said(entra, fake):
    with structlog.testing.capture_logs() as seen:
        assert isinstance(entra.create(K.USER, anchor(1), user(1, mailNickname="Zoë (admin); x")), Done)
    assert fake.backdoor.users()[0]["mailNickname"] == "Zoeadminx"
    assert any(e["event"] == "entra.value_changed" and "Zoë" in e["note"] for e in seen)
    assert prepare.mail_nickname("a" * 80)[0] == "a" * 64


def test_duplicate_upn_is_disputed_naming_both_sides(entra):
    first = entra.create(K.USER, anchor(1), user(1)).target_id
    clash = entra.create(K.USER, anchor(2), user(1))
    assert isinstance(clash, Terminal) and clash.status == 409 and clash.scim_type == "uniqueness"
    assert first in clash.detail and anchor(1) in clash.detail and anchor(2) in clash.detail


def test_duplicate_upn_held_by_our_own_anchor_is_done(entra, fake):
    first = entra.create(K.USER, anchor(1), user(1)).target_id
    again = EntraTarget(entra_config(fake)).create(K.USER, anchor(1), user(1))
    assert isinstance(again, Done) and again.target_id == first


def test_proxy_addresses_are_an_unsupported_outcome(entra, fake):
    got = entra.create(K.USER, anchor(1), user(1, proxyAddresses=["SMTP:a@b.c"]))
    assert isinstance(got, Terminal) and got.scim_type == "unsupported" and "proxyAddresses" in got.detail
    assert fake.backdoor.users() == []


# -- groups (group-post-groups) -----------------------------------------------------------------

@pytest.mark.parametrize("attrs, reason", [
    ({"displayName": "D", "groupType": 2}, "distribution group"),
    ({"displayName": "M", "groupType": -2147483646, "mail": "m@corp.example"}, "mail-enabled"),
])
def test_distribution_and_mail_enabled_groups_are_unsupported(entra, fake, attrs, reason):
    got = entra.create(K.GROUP, anchor("g"), attrs)
    assert isinstance(got, Terminal) and got.scim_type == "unsupported" and reason in got.detail
    assert fake.backdoor.groups() == []


def test_security_group_is_found_by_its_anchor(entra, fake):
    gid = entra.create(K.GROUP, anchor("g"), {"displayName": "Staff", "groupType": -2147483646}).target_id
    held = fake.backdoor.groups()[0]
    assert held["securityEnabled"] is True and held["mailEnabled"] is False
    assert entra.lookup_by_anchor(K.GROUP, anchor("g")).target_id == gid


# -- members (group-post-members, group-delete-members, json-batching) ------------------------

def _users(entra, n):
    return [entra.create(K.USER, anchor(i), user(i)).target_id for i in range(n)]


def test_already_present_and_missing_members_settle_as_done(entra, fake):
    ids = _users(entra, 3)
    gid = entra.create(K.GROUP, anchor("g"), {"displayName": "G"}).target_id
    assert isinstance(entra.add_members(gid, [(K.USER, ids[0])]), Done)
    assert isinstance(entra.add_members(gid, [(K.USER, i) for i in ids]), Done)  # one already there
    assert fake.backdoor.members(gid) == set(ids)
    assert isinstance(entra.remove_members(gid, [(K.USER, ids[0])]), Done)
    assert isinstance(entra.remove_members(gid, [(K.USER, ids[0])]), Done)  # 404: not a member
    assert fake.backdoor.members(gid) == set(ids[1:])


def test_members_bind_at_most_20_per_patch(entra, fake):
    ids = _users(entra, 45)
    gid = entra.create(K.GROUP, anchor("g"), {"displayName": "G"}).target_id
    fake.backdoor.requests.clear()
    assert isinstance(entra.add_members(gid, [(K.USER, i) for i in ids]), Done)
    assert fake.backdoor.requests["POST /$batch"] == 1  # 3 PATCHes of <= 20 in one batch
    assert fake.backdoor.members(gid) == set(ids)


def test_a_throttled_batch_item_is_retry_after_with_its_own_seconds_then_converges(entra, fake):
    ids = _users(entra, 60)
    gid = entra.create(K.GROUP, anchor("g"), {"displayName": "G"}).target_id
    fake.configure(batch_retry_after=9)
    fake.force_batch_throttle(1)
    got = entra.add_members(gid, [(K.USER, i) for i in ids])
    assert isinstance(got, RetryAfter) and got.seconds == 9
    assert len(fake.backdoor.members(gid)) == 40
    assert isinstance(entra.add_members(gid, [(K.USER, i) for i in ids]), Done)
    assert fake.backdoor.members(gid) == set(ids)


# -- eventual consistency (howto-handle-eventual-consistency) ---------------------------------

def test_404_right_after_create_is_retried_never_recreated(entra, fake):
    fake.configure(replication_lag=30.0)
    uid = entra.create(K.USER, anchor(1), user(1)).target_id
    got = entra.update(K.USER, uid, {"jobTitle": "x"})
    assert isinstance(got, RetryAfter) and not isinstance(got, Terminal)
    fake.clock.advance(31)
    assert isinstance(entra.update(K.USER, uid, {"jobTitle": "x"}), Done)
    assert fake.backdoor.requests["POST /users"] == 1


def test_a_404_long_after_create_is_gone(entra, fake):
    uid = fake.backdoor.seed("user", {"userPrincipalName": f"x@{DOMAIN}", "displayName": "x"})
    with fake.directory.lock:
        del fake.directory.objects[uid]
    got = entra.update(K.USER, uid, {"jobTitle": "x"})
    assert isinstance(got, Terminal) and got.gone


# -- deleted items (directory-deleteditems-restore) -------------------------------------------

def test_a_returning_anchor_restores_its_deleted_predecessor(entra, fake):
    uid = entra.create(K.USER, anchor(1), user(1)).target_id
    assert isinstance(entra.delete(K.USER, uid), Done)
    again = entra.create(K.USER, anchor(1), user(1, displayName="Back"))
    assert isinstance(again, Done) and again.target_id == uid
    assert [u["id"] for u in fake.backdoor.users()] == [uid]
    assert fake.backdoor.users()[0]["displayName"] == "Back"


def test_a_recreated_ad_object_with_the_same_upn_restores_the_predecessor(entra, fake):
    uid = entra.create(K.USER, anchor(1), user(1)).target_id
    entra.delete(K.USER, uid)
    again = entra.create(K.USER, anchor("new"), user(1))
    assert again.target_id == uid
    assert fake.backdoor.users()[0]["onPremisesImmutableId"] == anchor("new")


def test_restore_of_a_deleted_user_brings_it_back_enabled(entra, fake):
    uid = entra.create(K.USER, anchor(1), user(1)).target_id
    entra.disable(K.USER, uid)
    entra.delete(K.USER, uid)
    assert isinstance(entra.restore(K.USER, uid), Done)
    assert fake.backdoor.users()[0]["accountEnabled"] is True


# -- throttling (throttling, throttling-limits) ------------------------------------------------

def test_the_write_quota_429_is_retry_after(fake):
    fake.configure(write_quota=(2, 150.0))
    t = EntraTarget(entra_config(fake))
    t.create(K.USER, anchor(1), user(1))
    t.create(K.USER, anchor(2), user(2))
    got = t.create(K.USER, anchor(3), user(3))
    assert isinstance(got, RetryAfter) and got.seconds >= 1 and got.status == 429


def test_the_throttle_percentage_header_slows_writes_down(fake):
    fake.configure(write_quota=(10, 150.0))
    t = EntraTarget(entra_config(fake))
    for i in range(9):  # 0.9 of the quota: Graph warns, but that is our own budget
        t.create(K.USER, anchor(i), user(i))
    assert t.describe()["slowed_by_graph"] is False
    t.create(K.USER, anchor(9), user(9))  # 1.0: someone else is eating the quota too
    assert t.describe()["slowed_by_graph"] is True


def test_the_token_bucket_answers_retry_after_instead_of_exceeding_its_rate(fake):
    t = EntraTarget(entra_config(fake, rate_limit=1.0))
    assert isinstance(t.create(K.USER, anchor(1), user(1)), Done)
    t._transport.bucket._tokens = 0.0
    got = t.create(K.USER, anchor(2), user(2))
    assert isinstance(got, RetryAfter) and 0 < got.seconds <= 1


# -- reading back (user-delta, group-delta) and soft match --------------------------------------

def test_list_objects_is_a_complete_delta_round_without_removed_entries(entra, fake):
    fake.configure(delta_page_size=3)
    ids = _users(entra, 7)
    entra.delete(K.USER, ids[0])
    foreign = fake.backdoor.seed("user", {"userPrincipalName": f"f@{DOMAIN}", "displayName": "f",
                                          "onPremisesImmutableId": anchor("other")})
    listed = entra.list_objects(K.USER)
    assert isinstance(listed, Done)
    assert {o.target_id for o in listed.found} == set(ids[1:]) | {foreign}
    assert {o.external_id for o in listed.found if o.target_id == foreign} == {anchor("other")}


def test_soft_match_by_upn_shows_another_anchor_so_it_is_never_adopted(entra, fake):
    fake.backdoor.seed("user", {"userPrincipalName": f"u@{DOMAIN}", "displayName": "u",
                                "onPremisesImmutableId": anchor("other")})
    got = entra.lookup_by_attribute(K.USER, "userPrincipalName", f"u@{DOMAIN}")
    assert [o.external_id for o in got.found] == [anchor("other")]  # the engine disputes it


def test_quotes_in_filter_values_are_doubled(entra, fake):
    fake.backdoor.seed("user", {"userPrincipalName": f"o'neil@{DOMAIN}", "displayName": "o"})
    got = entra.lookup_by_attribute(K.USER, "userPrincipalName", f"o'neil@{DOMAIN}")
    assert len(got.found) == 1


def test_contacts_are_unsupported_everywhere(entra):
    for got in (entra.create(K.CONTACT, anchor(1), {"displayName": "c"}),
                entra.update(K.CONTACT, "x", {"displayName": "c"}), entra.delete(K.CONTACT, "x")):
        assert isinstance(got, Terminal) and got.scim_type == "unsupported"

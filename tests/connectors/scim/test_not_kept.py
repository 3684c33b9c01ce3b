"""What a server drops or computes is learned from its own answers and never a failure or a loop;
PUT bodies carry no empty values (issue 16, django-scim2). Pure tests first, then real servers."""

from __future__ import annotations

import json

import attrs
import httpx
import pytest

from hybridsync.connectors.base import Done, Terminal
from hybridsync.connectors.scim import ScimTarget, prepare
from hybridsync.connectors.scim.dialect import Dialect
from hybridsync.connectors.scim.nested import NESTED
from hybridsync.connectors.scim.notkept import learn, typeless
from hybridsync.connectors.testing.target_contract import TargetContract
from hybridsync.engine.core.values import ObjectKind as K

WORK = 'emails[type eq "work"].value'
# django-scim2 0.23's answer to a POST of a user with a work email, a title and a displayName
DJANGO_ANSWER = {"id": "1", "externalId": "YQ==", "userName": "a@corp.example",
                 "name": {"givenName": "G", "familyName": "F", "formatted": "G F"}, "displayName": "G F",
                 "emails": [{"value": "a@corp.example", "primary": True}], "active": True, "groups": []}
SENT = {"userName": "a@corp.example", "displayName": "Ann", "name.givenName": "G", "name.familyName": "F",
        WORK: "a@corp.example", "title": "Boss", "active": True}


def test_dropped_and_computed_attributes_are_learned_from_the_answer():
    got = learn(Dialect(), K.USER, SENT, DJANGO_ANSWER)
    assert got == {"dropped": ("user:" + WORK, "user:title"), "computed": ("user:displayName",)}
    d = Dialect().set("probe:user-answer", **got)
    assert d.not_kept("user") == {WORK, "title", "displayName"} and d.not_kept("group") == frozenset()
    assert typeless(d, K.USER) == {"emails"}


def test_an_answer_that_keeps_everything_teaches_nothing_and_the_config_wins():
    kept = {"id": "1", "userName": "a@corp.example", "displayName": "Ann", "title": "Boss", "active": True,
            "name": {"givenName": "G", "familyName": "F"}, "emails": [{"type": "work", "value": "a@corp.example"}]}
    assert learn(Dialect(), K.USER, SENT, kept) == {}
    assert learn(Dialect(), K.USER, SENT, None) == {}  # 204: no resource, nothing learned
    pinned = Dialect().set("config", dropped=(), computed=())
    assert learn(pinned, K.USER, SENT, DJANGO_ANSWER) == {}
    # identity is never "not kept": a server losing userName is not something to document away
    assert learn(Dialect(), K.USER, {"userName": "x"}, {"id": "1"}) == {}


def test_dropped_and_computed_in_the_config_are_checked_and_win():
    from hybridsync.connectors.scim.dialect import DialectError, with_overrides

    d = with_overrides(Dialect(), {"computed": ["user:displayName"], "dropped": []})
    assert d.not_kept("user") == {"displayName"} and d.sources["computed"] == "config"
    for bad in (["displayName"], ["person:title"], "user:title", ["user:"]):
        with pytest.raises(DialectError, match="dialect.computed"):
            with_overrides(Dialect(), {"computed": bad})


def test_a_put_body_carries_no_empty_values():
    """django-scim2 answers a user without email as {"value": "", "primary": true} and refuses that
    same entry in a PUT (400 "Invalid email value"): the email is dropped from the body."""
    current = {**DJANGO_ANSWER, "externalId": "", "emails": [{"value": "", "primary": True}],
               "name": {"givenName": "", "familyName": "", "formatted": "a@corp.example"}}
    body = prepare.replace_body(current, {"name.givenName": "G"}, anchor="YQ==")
    assert "emails" not in body and body["name"] == {"givenName": "G", "formatted": "a@corp.example"}
    assert body["externalId"] == "YQ==" and body["active"] is True and "groups" not in body


def test_where_the_type_is_dropped_a_typed_email_replaces_the_untyped_entry():
    current = {**DJANGO_ANSWER}
    plain = prepare.replace_body(current, {WORK: "new@corp.example"}, anchor=None)
    assert plain["emails"] == [{"value": "a@corp.example", "primary": True},
                               {"type": "work", "value": "new@corp.example"}]  # RFC: distinct entries
    body = prepare.replace_body(current, {WORK: "new@corp.example"}, anchor=None, typeless=frozenset({"emails"}))
    assert body["emails"] == [{"type": "work", "value": "new@corp.example"}]


# -- real servers ---------------------------------------------------------------------------------


@pytest.mark.scim
def test_django_scim2_user_without_email_is_updated_by_put(django_scim_server, scim_target_config):
    """Its own GET answers an empty email its PUT then refused: every update of such a user failed."""
    django_scim_server.reset()
    config = attrs.evolve(scim_target_config, url=django_scim_server.url, token_file=django_scim_server.token_file)
    target = ScimTarget(config)
    try:
        uid = target.create(K.USER, "YQ==", {"userName": "a@corp.example", "displayName": "Ann"}).target_id
        for changes in ({"displayName": "Ann B"}, {"name.givenName": "Ann"}, {WORK: "a@corp.example"},
                        {WORK: "new@corp.example"}):
            assert isinstance(target.update(K.USER, uid, changes), Done), changes
        held = next(u for u in django_scim_server.backdoor.resources("User") if u["id"] == uid)
        assert held["name"]["givenName"] == "Ann"
        assert [e["value"] for e in held["emails"]] == ["new@corp.example"]  # the new address replaced the old
        shown = target.describe()
        assert "user:displayName" in shown["computed"] and "user:" + WORK in shown["dropped"]
    finally:
        target.close()


@pytest.mark.scim
def test_django_scim2_contacts_are_refused_and_nothing_is_left_behind(django_scim_server, scim_target_config):
    django_scim_server.reset()
    config = attrs.evolve(scim_target_config, url=django_scim_server.url, token_file=django_scim_server.token_file)
    target = ScimTarget(config)
    try:
        made = target.create(K.CONTACT, "Yw==", {"userName": "c@corp.example", "displayName": "C"})
        assert isinstance(made, Terminal) and "userType" in made.why and not made.target_level
        assert django_scim_server.backdoor.resources("User") == []
        again = target.create(K.CONTACT, "Yw==", {"userName": "c@corp.example"})  # known now: not even sent
        assert isinstance(again, Terminal) and django_scim_server.backdoor.resources("User") == []
    finally:
        target.close()


@pytest.mark.scim
def test_django_scim2_a_nested_group_never_adds_an_unrelated_user(django_scim_server, scim_target_config):
    """Its member ids are user ids, and users and groups are both numbered 1, 2, ...: adding group
    2 as a member added user 2. The connector probes once and leaves nested members out."""
    django_scim_server.reset()
    config = attrs.evolve(scim_target_config, url=django_scim_server.url, token_file=django_scim_server.token_file)
    target = ScimTarget(config)
    try:
        users = [target.create(K.USER, f"dQ{i}=", {"userName": f"u{i}@corp.example"}).target_id for i in range(4)]
        outer = target.create(K.GROUP, "Zw==", {"displayName": "Outer"}).target_id
        inner = target.create(K.GROUP, "aA==", {"displayName": "Inner"}).target_id
        assert inner in users  # the same number names a user too
        assert isinstance(target.add_members(outer, [(K.USER, users[0]), (K.GROUP, inner)]), Done)
        members = {m["value"] for m in _group(django_scim_server, outer)["members"]}
        assert members == {users[0]}
        assert NESTED in target.describe()["dropped"]
        assert isinstance(target.remove_members(outer, [(K.GROUP, inner)]), Done)
        assert {m["value"] for m in _group(django_scim_server, outer)["members"]} == {users[0]}
        assert [g["displayName"] for g in django_scim_server.backdoor.resources("Group")] == ["Outer", "Inner"]
    finally:
        target.close()


@pytest.mark.scim
def test_nested_groups_are_probed_kept_on_scim2_server(scim_server, scim_target):
    outer = scim_target.create(K.GROUP, "Zw==", {"displayName": "Outer"}).target_id
    inner = scim_target.create(K.GROUP, "aA==", {"displayName": "Inner"}).target_id
    assert isinstance(scim_target.add_members(outer, [(K.GROUP, inner)]), Done)
    assert {m["value"] for m in _group(scim_server, outer)["members"]} == {inner}
    assert NESTED not in scim_target.describe()["dropped"]
    assert sorted(g["displayName"] for g in scim_server.backdoor.resources("Group")) == ["Inner", "Outer"]


class _LosesEmailUpdates(httpx.BaseTransport):
    """A server that answers a PATCH 204 and silently loses its email operations."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            body = json.loads(request.content)
            body["Operations"] = [op for op in body["Operations"] if not str(op.get("path", "")).startswith("emails")]
            request = httpx.Request("PATCH", request.url, headers={k: v for k, v in request.headers.items()
                                                                    if k.lower() != "content-length"},
                                    json=body)
        return self.inner.handle_request(request)


@pytest.mark.scim
def test_the_kit_is_not_blind_a_loss_the_dialect_did_not_learn_fails_it(scim_server, scim_target_config):
    from hybridsync.connectors.scim.check import flatten

    scim_server.reset()
    target = ScimTarget(scim_target_config, client=httpx.Client(transport=_LosesEmailUpdates()))

    class Backdoor:
        def get(self, kind, target_id):
            return flatten(scim_server.backdoor.get(target_id), kind)  # scim2-server: uuids

    try:
        with pytest.raises(AssertionError, match="emails"):
            TargetContract().test_update_changes_exactly_the_given_attributes_and_none_clears(target, Backdoor())
    finally:
        target.close()


def _group(lab, group_id: str) -> dict:
    """By type: django-scim2 numbers users and groups apart (user 2 and group 2 both exist)."""
    return next(g for g in lab.backdoor.resources("Group") if g["id"] == group_id)


@pytest.mark.scim
def test_nested_groups_set_in_the_config_are_not_probed(django_scim_server, scim_target_config):
    django_scim_server.reset()
    config = attrs.evolve(scim_target_config, url=django_scim_server.url, token_file=django_scim_server.token_file,
                          dialect={"dropped": [NESTED]})
    target = ScimTarget(config)
    try:
        outer = target.create(K.GROUP, "Zw==", {"displayName": "Outer"}).target_id
        inner = target.create(K.GROUP, "aA==", {"displayName": "Inner"}).target_id
        before = django_scim_server.backdoor.requests()
        assert isinstance(target.add_members(outer, [(K.GROUP, inner)]), Done)
        assert django_scim_server.backdoor.requests() == before  # nothing to send, no probe
    finally:
        target.close()

"""Dialect discovery against the real scim2-server, the profiles, overrides and the PUT fallback."""

from __future__ import annotations

import httpx
import pytest
from attrs import evolve

from hybridsync.connectors.base import Done
from hybridsync.connectors.scim import PROFILES, ScimTarget
from hybridsync.connectors.scim.dialect import Dialect, from_discovery, with_overrides
from hybridsync.engine.core.errors import ConfigError
from hybridsync.engine.lab.scim import ScimLab
from hybridsync.engine.core.values import ObjectKind as K

pytestmark = pytest.mark.scim
MEASURED = ("patch", "filter", "etag", "max_results", "bulk_max_operations", "bulk_max_payload")


def test_dialect_discovered_on_scim2_server_matches_the_recorded_profile(scim_target):
    shown = scim_target.describe()
    profile = PROFILES["scim2-server"].to_dict()
    for key in MEASURED:
        assert shown[key] == profile[key], key
        assert shown["sources"][key] == "discovery"
    assert shown["endpoints"] == {"User": "/Users", "Group": "/Groups"}


def test_after_first_writes_every_behaviour_field_matches_the_scim2_server_profile(scim_target):
    uid = scim_target.create(K.USER, "YQ==", {"userName": "d@corp.example"}).target_id
    gid = scim_target.create(K.GROUP, "Zw==", {"displayName": "G"}).target_id
    assert isinstance(scim_target.update(K.USER, uid, {'emails[type eq "work"].value': "d@corp.example"}), Done)
    assert isinstance(scim_target.add_members(gid, [(K.USER, uid)]), Done)
    assert isinstance(scim_target.remove_members(gid, [(K.USER, uid)]), Done)
    shown = {k: v for k, v in scim_target.describe().items() if k not in ("kind", "url", "profile", "sources")}
    profile = {k: v for k, v in PROFILES["scim2-server"].to_dict().items() if k not in ("profile", "sources")}
    profile["endpoints"] = {"User": "/Users", "Group": "/Groups"}
    assert shown == profile
    assert scim_target.describe()["sources"]["patch_response"] == "probe:patch-answer"


def test_scim2_server_behaves_as_its_profile_says(scim_server, scim_target):
    """The facts the profile records that discovery cannot tell, checked on the live server."""
    base = scim_server.url
    auth = {"Authorization": f"Bearer {scim_server.token}"}
    with httpx.Client(base_url=base, headers=auth) as raw:
        user = raw.post("/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                        "userName": "probe@corp.example"}).json()
        group = raw.post("/Groups", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                          "displayName": "probe", "members": [{"value": user["id"]}]}).json()
        patch = lambda path, ops: raw.patch(path, json={"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                                         "Operations": ops})
        by_value = patch(f"/Groups/{group['id']}", [{"op": "remove", "path": "members", "value": [{"value": user["id"]}]}])
        assert by_value.status_code == 400  # so: member_removal = path-filter
        by_path = patch(f"/Groups/{group['id']}", [{"op": "remove", "path": f'members[value eq "{user["id"]}"]'}])
        assert by_path.status_code == 204 and not by_path.content  # patch_response = no-content
        in_place = patch(f"/Users/{user['id']}", [{"op": "replace", "path": 'emails[type eq "work"].value', "value": "a@corp.example"}])
        assert in_place.status_code == 400 and in_place.json()["scimType"] == "noTarget"  # so: remove-add
        strings = patch(f"/Users/{user['id']}", [{"op": "replace", "path": "active", "value": "False"}])
        assert strings.status_code == 204
        assert scim_server.backdoor.get(user["id"])["active"] is False
    d = PROFILES["scim2-server"]
    assert (d.member_removal, d.patch_response, d.value_path_update) == ("path-filter", "no-content", "remove-add")


def test_config_overrides_win_over_discovery_and_unknown_keys_are_config_errors(scim_target_config, scim_server):
    scim_server.reset()
    target = ScimTarget(evolve(scim_target_config, dialect={"profile": "entra-scim-client", "etag": False,
                                                            "member_removal": "path-filter"}))
    shown = target.describe()
    assert shown["profile"] == "entra-scim-client" and shown["op_case"] == "capitalized"
    assert shown["member_removal"] == "path-filter" and shown["sources"]["member_removal"] == "config"
    target.close()
    with pytest.raises(ConfigError, match="dialect.colour"):
        ScimTarget(evolve(scim_target_config, dialect={"colour": "blue"}))
    with pytest.raises(ConfigError, match="boolean_style"):
        ScimTarget(evolve(scim_target_config, dialect={"boolean_style": "yes"}))


def test_entra_style_requests_work_on_scim2_server(scim_target_config, scim_server, backdoor):
    """Capitalised ops and string booleans are accepted; the value-array removal is corrected by a probe."""
    scim_server.reset()
    target = ScimTarget(evolve(scim_target_config, dialect={"profile": "entra-scim-client"}))
    uid = target.create(K.USER, "YQ==", {"userName": "e@corp.example", "active": True}).target_id
    assert isinstance(target.disable(K.USER, uid), Done)
    assert backdoor.get(K.USER, uid).active is False
    gid = target.create(K.GROUP, "Zw==", {"displayName": "G"}).target_id
    assert isinstance(target.add_members(gid, [(K.USER, uid)]), Done)
    assert isinstance(target.remove_members(gid, [(K.USER, uid)]), Done)
    assert backdoor.members(gid) == set()
    assert target.describe()["sources"]["member_removal"] == "probe:member-removal-refused"
    target.close()


def test_discovery_tolerates_absent_documents():
    d = from_discovery(Dialect(), None, None)
    assert d == Dialect()
    d = from_discovery(Dialect(), {"patch": {"supported": False}, "filter": {"supported": True, "maxResults": 7}}, None)
    assert (d.patch, d.max_results) == (False, 7)
    assert with_overrides(d, {"patch": True}).patch is True


def test_without_patch_updates_are_a_get_then_a_put_with_if_match(tmp_path):
    with ScimLab(patch=False) as lab:
        token = tmp_path / "t"
        token.write_text(lab.token)
        from hybridsync.engine.core.config import TargetConfig

        seen: list[httpx.Request] = []
        client = httpx.Client(event_hooks={"request": [seen.append]})
        target = ScimTarget(TargetConfig(name="nopatch", url=lab.url, token_file=str(token)), client=client)
        assert target.describe()["patch"] is False
        uid = target.create(K.USER, "YQ==", {"userName": "p@corp.example", "name.givenName": "A",
                                             'emails[type eq "work"].value': "p@corp.example"}).target_id
        before = lab.backdoor.requests()
        result = target.update(K.USER, uid, {"name.givenName": None, "title": "T",
                                             'emails[type eq "work"].value': "q@corp.example"})
        assert isinstance(result, Done), result
        after = lab.backdoor.requests()
        assert after["GET /Users"] - before["GET /Users"] == 1 and after["PUT /Users"] - before["PUT /Users"] == 1
        put = [r for r in seen if r.method == "PUT"]
        assert len(put) == 1 and put[0].headers["If-Match"] == 'W/"1"'
        held = lab.backdoor.get(uid)
        assert held["title"] == "T" and "givenName" not in held.get("name", {})
        assert held["emails"] == [{"type": "work", "value": "q@corp.example"}]
        target.close()

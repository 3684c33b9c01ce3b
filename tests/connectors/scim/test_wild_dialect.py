"""Dialect quirks measured on real servers, learned by discovery (fast tier, a fake provider).

SCIMMY (npm) announces no ``schemaExtensions`` on its User ResourceType and refuses a ``remove``
of an enterprise attribute with 400 invalidPath: attributes of an extension the service does not
announce are never sent."""

from __future__ import annotations

import json

import httpx

from hybridsync.connectors.base import Done
from hybridsync.connectors.scim import ScimTarget
from hybridsync.connectors.scim.dialect import Dialect, from_discovery
from hybridsync.engine.core.config import TargetConfig
from hybridsync.engine.core.values import ObjectKind as K

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def test_extensions_come_from_the_user_resource_type():
    rts = [{"name": "User", "endpoint": "/Users"}, {"name": "Group", "endpoint": "/Groups"}]
    assert from_discovery(Dialect(), None, rts).extensions == ()
    rts[0]["schemaExtensions"] = [{"schema": ENT, "required": False}]
    assert from_discovery(Dialect(), None, rts).extensions == (ENT,)
    assert from_discovery(Dialect(), None, None).extensions is None  # not announced: unknown, all sent


def test_attributes_of_an_unannounced_extension_are_never_sent(tmp_path):
    bodies: list[dict] = []

    def handle(request: httpx.Request) -> httpx.Response:
        p = request.url.path
        if p.endswith("/ResourceTypes"):
            return httpx.Response(200, json={"Resources": [{"name": "User", "endpoint": "/Users"}]})
        if request.method == "GET":
            return httpx.Response(200, json={"totalResults": 0, "Resources": []})
        body = json.loads(request.content)
        bodies.append(body)
        return httpx.Response(201 if request.method == "POST" else 200, json={**body, "id": "u1"})

    token = tmp_path / "token"
    token.write_text("t")
    target = ScimTarget(TargetConfig(name="wild", kind="scim", url="http://127.0.0.1:9/scim/v2", token_file=str(token)),
                        client=httpx.Client(transport=httpx.MockTransport(handle)))
    created = target.create(K.USER, "YQ==", {"userName": "a@x", f"{ENT}:department": "Sales"})
    assert isinstance(created, Done)
    updated = target.update(K.USER, "u1", {f"{ENT}:department": None, "title": "T"})
    assert isinstance(updated, Done)
    assert ENT not in json.dumps(bodies), bodies
    assert "extensions" in target.describe()


def _case_sensitive_server():
    """userName eq compared case-sensitively, a filter on an unmapped attribute: 200, 0 results."""
    users = [{"id": "u1", "userName": "Ann@Corp.example", "externalId": "YQ==", "nickName": "annie"}]
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        p, q = request.url.path, dict(request.url.params)
        seen.append(f"{request.method} {p} {q.get('filter', '')}")
        if request.method == "GET" and p.endswith("/Users"):
            flt = q.get("filter")
            hits = users
            if flt:
                attr, _, value = flt.split(" ", 2)
                value = json.loads(value)
                hits = [u for u in users if attr in ("userName", "externalId") and u.get(attr) == value]
            return httpx.Response(200, json={"totalResults": len(hits), "Resources": hits})
        if request.method == "POST":
            body = json.loads(request.content)
            users.append({**body, "id": f"u{len(users) + 1}"})
            return httpx.Response(201, json=users[-1])
        return httpx.Response(404)

    return seen, httpx.Client(transport=httpx.MockTransport(handle))


def test_an_empty_filter_answer_the_dialect_cant_vouch_for_is_never_absence(tmp_path):
    seen, client = _case_sensitive_server()
    token = tmp_path / "token"
    token.write_text("t")
    target = ScimTarget(TargetConfig(name="wild", kind="scim", url="http://127.0.0.1:9/scim/v2", token_file=str(token),
                                     object_types=("user",)), client=client)
    found = target.lookup_by_attribute(K.USER, "userName", "ann@corp.example")
    assert isinstance(found, Done) and found.target_id == "u1"  # the listing found it
    found = target.lookup_by_attribute(K.USER, "nickName", "annie")
    assert isinstance(found, Done) and found.target_id == "u1"
    # a create probes its own object: externalId eq finds it (vouched), userName in another case doesn't
    created = target.create(K.USER, "Yg==", {"userName": "Bob@corp.example"})
    assert isinstance(created, Done)
    assert target.describe()["filter_vouched"] == ["externalId"]
    n = len(seen)
    assert isinstance(target.lookup_by_anchor(K.USER, "Yw=="), Done) and len(seen) == n + 1  # vouched: no listing


def _group_server(*, rename_patch: int, path_filter_remove: int):
    """A group service like django-scim2: a PATCH renaming the group answers ``rename_patch``,
    removal by ``members[value eq]`` answers ``path_filter_remove``; PUT and value arrays work."""
    group = {"id": "g1", "displayName": "Old", "members": [{"value": "u1"}, {"value": "u2"}]}
    sent: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        p = request.url.path
        if request.method == "GET" and p.endswith("/Groups/g1"):
            return httpx.Response(200, json=group)
        if request.method == "GET":
            return httpx.Response(200, json={"totalResults": 0, "Resources": []})
        body = json.loads(request.content)
        sent.append(f"{request.method} {json.dumps(body, sort_keys=True)}")
        if request.method == "PUT":
            group["displayName"] = body["displayName"]
            return httpx.Response(200, json=group)
        ops = body["Operations"]
        if any(not str(o.get("path", "")).startswith("members") for o in ops):  # a rename, with or without a path
            return httpx.Response(rename_patch, json={"status": str(rename_patch)})
        for o in ops:
            if o["op"] == "add":
                group["members"] += o["value"]
            elif o["path"].startswith("members["):
                return httpx.Response(path_filter_remove, json={"status": str(path_filter_remove)})
            else:
                gone = {v["value"] for v in o["value"]}
                group["members"] = [m for m in group["members"] if m["value"] not in gone]
        return httpx.Response(204)

    return group, sent, httpx.Client(transport=httpx.MockTransport(handle))


def test_a_group_rename_refused_by_patch_goes_by_put_and_members_stay_patch(tmp_path):
    group, sent, client = _group_server(rename_patch=501, path_filter_remove=501)
    token = tmp_path / "token"
    token.write_text("t")
    target = ScimTarget(TargetConfig(name="wild", kind="scim", url="http://127.0.0.1:9/scim/v2", token_file=str(token),
                                     object_types=("user", "group")), client=client)
    assert isinstance(target.update(K.GROUP, "g1", {"displayName": "New"}), Done)
    assert group["displayName"] == "New"
    shown = target.describe()
    assert shown["patch"] is True and shown["update_by_put"] == ["group"]  # only renames go by PUT
    assert isinstance(target.add_members("g1", [(K.USER, "u3")]), Done)
    removed = target.remove_members("g1", [(K.USER, "u1")])  # members[value eq] answers 501 here
    assert isinstance(removed, Done), removed
    assert [m["value"] for m in group["members"]] == ["u2", "u3"]
    assert target.describe()["member_removal"] == "value-array"


def test_after_a_restart_a_filter_is_vouched_by_probing_an_object_the_target_holds(tmp_path):
    """A new connector (nothing created yet) whose discovered dialect vouches for no filter: the
    first empty ``externalId eq`` answer is checked by probing an object the target already holds
    (one count=1 read), not by comparing a whole listing; later lookups take one request."""
    seen, client = _case_sensitive_server()
    token = tmp_path / "token"
    token.write_text("t")
    target = ScimTarget(TargetConfig(name="wild", kind="scim", url="http://127.0.0.1:9/scim/v2", token_file=str(token),
                                     object_types=("user",)), client=client)
    found = target.lookup_by_anchor(K.USER, "bm90LXRoZXJl")
    assert isinstance(found, Done) and found.target_id is None and not found.found
    assert target.describe()["filter_vouched"] == ["externalId"]  # vouched by the probe: no listing compared
    assert 'GET /scim/v2/Users externalId eq "YQ=="' in seen  # the probe asked for the object it holds
    n = len(seen)
    assert isinstance(target.lookup_by_anchor(K.USER, "bm9uZQ=="), Done) and len(seen) == n + 1

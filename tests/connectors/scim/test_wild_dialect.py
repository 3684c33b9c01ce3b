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

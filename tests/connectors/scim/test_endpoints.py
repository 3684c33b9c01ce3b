"""Issue 16 (2): ResourceType endpoints resolved as clients in the wild must, probed once at discovery.

A fake service provider over ``httpx.MockTransport`` (no server, fast tier): its ResourceTypes
give the endpoint in the shapes servers really answer."""

from __future__ import annotations

import json

import httpx
import pytest

from hybridsync.connectors.base import Done, Terminal
from hybridsync.connectors.scim import ScimTarget
from hybridsync.connectors.scim.dialect import DialectError, resolve_endpoint
from hybridsync.engine.core.config import TargetConfig
from hybridsync.engine.core.values import ObjectKind as K

BASE = "http://127.0.0.1:9/scim/v2"


@pytest.mark.parametrize("endpoint, want", [
    ("/Users", "/Users"),  # RFC 7643 §6: relative to the base URL
    ("Users", "/Users"),
    ("/scim/v2/Users", "/Users"),  # repeats the base path: used as it is
    ("/scim/v2/Users/", "/Users"),
    ("http://127.0.0.1:9/scim/v2/Users", "/Users"),  # absolute URL on the same origin
    ("/v2/Users", "/v2/Users"),  # only a whole repeated base path counts
])
def test_endpoint_resolution(endpoint, want):
    assert resolve_endpoint(BASE, endpoint) == want


def test_endpoint_resolution_at_the_origin_root_and_refusals():
    assert resolve_endpoint("http://h:1/", "/Users") == "/Users"
    assert resolve_endpoint("http://h:1", "http://h:1/Users") == "/Users"
    with pytest.raises(DialectError, match="another origin"):
        resolve_endpoint(BASE, "https://elsewhere.example/scim/v2/Users")
    with pytest.raises(DialectError, match="outside the base URL"):
        resolve_endpoint(BASE, "http://127.0.0.1:9/other/Users")


def _server(endpoints: dict[str, str], *, path: str = "/scim/v2"):
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        p = request.url.path
        if p == f"{path}/ServiceProviderConfig":
            return httpx.Response(200, json={"patch": {"supported": True}, "filter": {"supported": True, "maxResults": 50}})
        if p == f"{path}/ResourceTypes":
            rts = [{"name": n, "endpoint": e} for n, e in endpoints.items()]
            return httpx.Response(200, json={"totalResults": len(rts), "Resources": rts})
        if p in (f"{path}/Users", f"{path}/Groups") and request.method == "GET":
            return httpx.Response(200, json={"totalResults": 0, "Resources": []})
        if p == f"{path}/Users" and request.method == "POST":
            body = json.loads(request.content)
            return httpx.Response(201, json={**body, "id": "u1", "meta": {"resourceType": "User"}})
        return httpx.Response(404, json={"status": "404", "detail": "not found"})

    return seen, httpx.Client(transport=httpx.MockTransport(handle))


def _target(tmp_path, client, url=BASE) -> ScimTarget:
    token = tmp_path / "token"
    token.write_text("t0ken")
    return ScimTarget(TargetConfig(name="wild", kind="scim", url=url, token_file=str(token),
                                   object_types=("user", "group")), client=client)


def test_an_endpoint_repeating_the_base_path_reaches_the_collection(tmp_path):
    seen, client = _server({"User": "/scim/v2/Users", "Group": "/scim/v2/Groups"})
    target = _target(tmp_path, client)
    assert target.describe()["endpoints"] == {"User": "/Users", "Group": "/Groups"}
    assert isinstance(target.lookup_by_anchor(K.USER, "YQ=="), Done)
    created = target.create(K.USER, "YQ==", {"userName": "a@corp.example"})
    assert isinstance(created, Done) and created.target_id == "u1"
    assert not any("/scim/v2/scim/v2" in s for s in seen), seen
    # probed once at discovery: one GET per collection in use, before any other call
    assert seen[:4] == ["GET /scim/v2/ServiceProviderConfig", "GET /scim/v2/ResourceTypes",
                        "GET /scim/v2/Users", "GET /scim/v2/Groups"]


def test_a_404_at_the_resolved_endpoint_is_a_configuration_error_naming_the_url(tmp_path):
    seen, client = _server({"User": "/scim/v2/Users", "Group": "/scim/v2/Groups"}, path="/api")
    target = _target(tmp_path, client, url="http://127.0.0.1:9/api/scim/v2")  # wrong: nothing there
    result = target.lookup_by_anchor(K.USER, "YQ==")
    assert isinstance(result, Terminal)
    assert "http://127.0.0.1:9/api/scim/v2/Users" in result.why and "404" in result.why
    assert result.target_level and not result.gone  # the whole target, not "the object is gone"
    update = target.update(K.USER, "u1", {"title": "x"})
    assert isinstance(update, Terminal) and update.target_level and not update.gone
    listing = target.list_objects(K.GROUP)
    assert isinstance(listing, Terminal) and listing.target_level
    assert "misconfigured" in target.describe().get("problem", "")
    n = len(seen)
    target.delete(K.USER, "u1")
    assert len(seen) == n  # nothing more is sent to a misconfigured target

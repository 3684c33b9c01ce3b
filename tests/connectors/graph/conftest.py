"""The fake Microsoft Graph (hybridsync.connectors.testing.graphfake), in-process and fast:
one fake per test, spoken to over real HTTP on loopback with httpx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hybridsync.connectors.testing.graphfake import GraphFake

DOMAIN = "contoso.onmicrosoft.com"
PASSWORD = "Str0ng!Passw0rd"


@pytest.fixture
def fake() -> Iterator[GraphFake]:
    with GraphFake() as f:
        yield f


@pytest.fixture
def graph(fake: GraphFake) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.graph_url, headers={"Authorization": f"Bearer {fake.token()}"},
                      timeout=10) as client:
        yield client


def user_body(name: str = "ada", **over: Any) -> dict[str, Any]:
    body = {"accountEnabled": True, "displayName": name.title(), "mailNickname": name,
            "userPrincipalName": f"{name}@{DOMAIN}",
            "passwordProfile": {"forceChangePasswordNextSignIn": False, "password": PASSWORD}}
    body.update(over)
    return body


def group_body(name: str = "staff", **over: Any) -> dict[str, Any]:
    body = {"displayName": name.title(), "mailEnabled": False, "mailNickname": name, "securityEnabled": True}
    body.update(over)
    return body


def make_user(graph: httpx.Client, name: str = "ada", **over: Any) -> dict[str, Any]:
    r = graph.post("/users", json=user_body(name, **over))
    assert r.status_code == 201, r.text
    return r.json()


def make_group(graph: httpx.Client, name: str = "staff", **over: Any) -> dict[str, Any]:
    r = graph.post("/groups", json=group_body(name, **over))
    assert r.status_code == 201, r.text
    return r.json()


def ref(object_id: str) -> str:
    return f"https://graph.microsoft.com/v1.0/directoryObjects/{object_id}"


def error_code(r: httpx.Response) -> str:
    body = r.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    return body["error"]["code"]

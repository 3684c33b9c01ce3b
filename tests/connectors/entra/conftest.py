"""Kit fixtures for the Entra connector against the documentation-based fake Graph
(``hybridsync.connectors.testing.graphfake``): one fake per test, real HTTP on loopback,
tokens through MSAL against the fake's token endpoint.

The kit (``TargetContract``, ``TargetStateMachine``) speaks SCIM attribute paths; ``KitPaths``
renames them to Graph properties on the way in and back on the way out (nothing else), so the
same contract runs unchanged where Graph allows it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest

from hybridsync.connectors.base import Done
from hybridsync.connectors.entra import EntraTarget, prepare
from hybridsync.connectors.testing.faults import FaultTransport
from hybridsync.connectors.testing.graphfake import GraphFake, Knobs
from hybridsync.engine.core.config import TargetConfig
from hybridsync.engine.core.values import ObjectKind, TargetObject

K = ObjectKind
SECRET_ENV = "HYBRIDSYNC_TEST_ENTRA_SECRET"
SCIM_TO_GRAPH = {"userName": "userPrincipalName", "name.givenName": "givenName", "name.familyName": "surname",
                 'emails[type eq "work"].value': "mail", "title": "jobTitle"}
GRAPH_TO_SCIM = {v: k for k, v in SCIM_TO_GRAPH.items()}


def entra_config(fake: GraphFake, **over: Any) -> TargetConfig:
    values: dict[str, Any] = dict(name="entra", kind="entra", tenant_id=fake.knobs.tenant,
                                  client_id=fake.knobs.client_id, client_secret_env=SECRET_ENV,
                                  graph_url=fake.graph_url, authority_url=fake.root, timeout=10.0)
    values.update(over)
    return TargetConfig(**values)


@pytest.fixture
def fake(monkeypatch) -> Iterator[GraphFake]:
    with GraphFake(Knobs(verified_domains=None)) as f:
        monkeypatch.setenv(SECRET_ENV, f.knobs.client_secret)
        yield f


@pytest.fixture
def entra(fake) -> Iterator[EntraTarget]:
    t = EntraTarget(entra_config(fake))
    yield t
    t.close()


def _to_graph(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return {SCIM_TO_GRAPH.get(k, k): v for k, v in attrs.items()}


def _to_kit(obj: TargetObject) -> TargetObject:
    return TargetObject(obj.target_id, obj.kind, obj.external_id,
                        {GRAPH_TO_SCIM.get(k, k): v for k, v in obj.attributes.items()}, obj.active, obj.etag)


class KitPaths:
    """The Entra connector as the kit sees it: SCIM paths renamed to Graph properties."""

    def __init__(self, inner: EntraTarget):
        self.inner = inner
        self.name = inner.name

    def describe(self):
        return self.inner.describe()

    def _out(self, result):
        if isinstance(result, Done) and result.found:
            return Done(result.target_id, result.etag, tuple(_to_kit(o) for o in result.found), result.status)
        return result

    def lookup_by_anchor(self, kind, anchor):
        return self._out(self.inner.lookup_by_anchor(kind, anchor))

    def lookup_by_attribute(self, kind, attribute, value):
        return self._out(self.inner.lookup_by_attribute(kind, SCIM_TO_GRAPH.get(attribute, attribute), value))

    def create(self, kind, anchor, attributes):
        return self._out(self.inner.create(kind, anchor, _to_graph(attributes)))

    def update(self, kind, target_id, changes, *, anchor=None):
        return self.inner.update(kind, target_id, _to_graph(changes), anchor=anchor)

    def disable(self, kind, target_id):
        return self.inner.disable(kind, target_id)

    def restore(self, kind, target_id):
        return self.inner.restore(kind, target_id)

    def delete(self, kind, target_id):
        return self.inner.delete(kind, target_id)

    def add_members(self, group_id, members):
        return self.inner.add_members(group_id, members)

    def remove_members(self, group_id, members):
        return self.inner.remove_members(group_id, members)

    def list_owned(self, kind):
        return (_to_kit(o) for o in self.inner.list_owned(kind))

    def list_objects(self, kind):
        return self._out(self.inner.list_objects(kind))

    def close(self):
        self.inner.close()


class GraphKitBackdoor:
    """The kit's ``Backdoor`` over the fake's own storage (never through the connector)."""

    def __init__(self, fake: GraphFake):
        self.fake = fake

    def reset(self) -> None:
        self.fake.backdoor.reset()

    def objects(self, kind: ObjectKind) -> list[TargetObject]:
        if kind is K.USER:
            return [_to_kit(prepare.flatten(u, kind)) for u in self.fake.backdoor.users()]
        if kind is K.GROUP:
            return [prepare.flatten(g, kind) for g in self.fake.backdoor.groups()]
        return []

    def get(self, kind: ObjectKind, target_id: str) -> TargetObject | None:
        held = self.fake.backdoor.get(target_id)
        if held is None or held["deleted"] or held["kind"] != str(kind):
            return None
        obj = prepare.flatten({k: v for k, v in held.items() if k not in ("kind", "deleted")}, kind)
        return _to_kit(obj) if kind is K.USER else obj

    def members(self, group_id: str) -> set[str]:
        return self.fake.backdoor.members(group_id)

    def seed_users(self, users: list[Mapping[str, Any]]) -> list[str]:
        ids = []
        for user in users:
            data = _to_graph({k: v for k, v in user.items() if k not in ("externalId", "active")})
            data.setdefault("displayName", data.get("userPrincipalName"))
            data["accountEnabled"] = user.get("active", True)
            data["mailNickname"] = prepare.mail_nickname(str(data["userPrincipalName"]).split("@")[0])[0]
            if user.get("externalId"):
                data["onPremisesImmutableId"] = user["externalId"]
            ids.append(self.fake.backdoor.seed("user", data))
        return ids

    def seed_group(self, anchor: str, display_name: str, member_ids: list[str]) -> str:
        gid = self.fake.backdoor.seed("group", {"displayName": display_name, "mailEnabled": False,
                                                "securityEnabled": True, "groupTypes": [],
                                                "mailNickname": prepare.group_nickname(anchor)})
        with self.fake.directory.lock:
            self.fake.directory.objects[gid].members.update(member_ids)
        return gid


@pytest.fixture
def backdoor(fake) -> GraphKitBackdoor:
    return GraphKitBackdoor(fake)


@pytest.fixture
def target(entra) -> KitPaths:
    return KitPaths(entra)


@pytest.fixture
def faults() -> FaultTransport:
    return FaultTransport()


@pytest.fixture
def faulty_entra(fake, faults) -> Iterator[EntraTarget]:
    t = EntraTarget(entra_config(fake), client=httpx.Client(transport=faults, timeout=10))
    t._transport.tokens.token()  # the token first, so injected faults meet Graph calls
    faults.clear()
    yield t
    t.close()


@pytest.fixture
def faulty_target(faulty_entra) -> KitPaths:
    return KitPaths(faulty_entra)


@pytest.fixture
def secrets(fake) -> list[str]:
    return [fake.knobs.client_secret]

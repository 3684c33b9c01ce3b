"""Kit fixtures for the SCIM connector against the real scim2-server (see engine/lab/pytest_scim.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from hybridsync.connectors.scim import ScimTarget, check, prepare
from hybridsync.connectors.testing.faults import FaultTransport
from hybridsync.engine.core.values import ObjectKind, TargetObject

_TYPE = {ObjectKind.USER: "User", ObjectKind.CONTACT: "User", ObjectKind.GROUP: "Group"}


class ScimKitBackdoor:
    """The kit's ``Backdoor`` over the lab server's storage backdoor."""

    def __init__(self, lab):
        self.lab = lab

    def reset(self) -> None:
        self.lab.reset()

    def _is(self, kind: ObjectKind, resource: Mapping[str, Any]) -> bool:
        if kind is ObjectKind.GROUP:
            return True
        return (resource.get("userType") == "Contact") == (kind is ObjectKind.CONTACT)

    def objects(self, kind: ObjectKind) -> list[TargetObject]:
        return [check.flatten(r, kind) for r in self.lab.backdoor.resources(_TYPE[kind], members=False)
                if self._is(kind, r)]

    def _get(self, resource_type: str, target_id: str) -> Mapping[str, Any] | None:
        # by type: django-scim2 numbers users and groups apart (user 2 and group 2 both exist)
        return next((r for r in self.lab.backdoor.resources(resource_type) if r.get("id") == target_id), None)

    def get(self, kind: ObjectKind, target_id: str) -> TargetObject | None:
        found = self._get(_TYPE[kind], target_id)
        return check.flatten(found, kind) if found else None

    def members(self, group_id: str) -> set[str]:
        return {m["value"] for m in (self._get("Group", group_id) or {}).get("members") or ()}

    def seed_users(self, users: list[Mapping[str, Any]]) -> list[str]:
        bodies = []
        for user in users:
            flat = {k: v for k, v in user.items() if k != "externalId"}
            body = {"schemas": [prepare.USER_SCHEMA], **prepare.nest(flat)}
            if user.get("externalId"):
                body["externalId"] = user["externalId"]
            bodies.append(body)
        return [r["id"] for r in self.lab.backdoor.seed("User", bodies)]

    def seed_group(self, anchor: str, display_name: str, member_ids: list[str]) -> str:
        body = {"schemas": [prepare.GROUP_SCHEMA], "externalId": anchor, "displayName": display_name,
                "members": [{"value": m} for m in member_ids]}
        return self.lab.backdoor.seed("Group", [body])[0]["id"]


@pytest.fixture
def backdoor(scim_server):
    return ScimKitBackdoor(scim_server)


@pytest.fixture
def target(scim_target):
    return scim_target


@pytest.fixture
def faults():
    return FaultTransport()


@pytest.fixture
def faulty_target(scim_server, scim_target_config, faults):
    scim_server.reset()
    t = ScimTarget(scim_target_config, client=httpx.Client(transport=faults, timeout=30))
    yield t
    t.close()


@pytest.fixture
def secrets(scim_server):
    return [scim_server.token]

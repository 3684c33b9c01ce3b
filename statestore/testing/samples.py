"""Sample values the store contract writes (a user, an action, an intent, a group's state)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from hybridsync.engine.core.values import (
    Action,
    ActionKind,
    ObjectKind,
    ObjectState,
    Reason,
    TargetState,
)

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
G = "AQIDBAUGBwgJCgsMDQ4PEA=="


def obj(anchor: str = G, **kw: Any) -> ObjectState:
    """A user of source ``corp`` (override any field)."""
    base: dict[str, Any] = dict(source="corp", anchor=anchor, object_guid=anchor,
                                kind=ObjectKind.USER, dn=f"CN={anchor[:4]},OU=Staff,DC=lab,DC=test")
    base.update(kw)
    return ObjectState(**base)


def act(kind: ActionKind = ActionKind.DELETE, anchor: str = G, target: str = "app") -> Action:
    """An action with a reason, of target ``app`` by default."""
    return Action(kind=kind, target=target, anchor=anchor, object_kind=ObjectKind.USER,
                  reasons=(Reason("safety.delete_threshold", "3 > 2"),))


def intent(n: int, kind: ActionKind = ActionKind.CREATE) -> Action:
    return Action(kind=kind, target="app", anchor=f"A{n:04d}", object_kind=ObjectKind.USER,
                  attributes={"userName": f"u{n}"}, to_state="pending_create")


def group_state(anchor: str, members: set[str], target: str = "app") -> TargetState:
    return TargetState(anchor=anchor, target=target, kind=ObjectKind.GROUP, state="provisioned",
                       members_sent=frozenset(members))

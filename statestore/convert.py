"""Pure conversions between the store's stored text and values: times, JSON, ``Action`` and the
``ObjectState`` / ``TargetState`` rows. Nothing here does I/O."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from hybridsync.engine.core.values import (
    Action,
    ActionKind,
    ObjectKind,
    ObjectState,
    Ownership,
    Reason,
    TargetState,
)
from hybridsync.statestore.handle import RowLike

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+00:00"


def time_to_text(value: datetime | None) -> str | None:
    """A datetime as fixed-width UTC ISO text (sorts as text); naive values are taken as UTC."""
    if value is None:
        return None
    return _time_text(value)


@functools.lru_cache(maxsize=256)  # a commit unit writes the cycle's clock on many rows
def _time_text(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime(_TIME_FORMAT)


def time_from_text(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def stored_time(text: str) -> datetime:
    """The value of a time column that is never empty (``time_from_text`` without the None)."""
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def dumps(value: Any) -> str:
    """Compact, deterministic JSON (what every JSON column holds)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str)


def action_from_dict(data: Mapping[str, Any]) -> Action:
    """The inverse of ``Action.to_dict()``."""
    return Action.from_dict(data)  # one inverse of Action.to_dict, in core


def action_from_json(text: str) -> Action:
    return action_from_dict(json.loads(text))


def json_or(text: str | None, default: Any) -> Any:
    return json.loads(text) if text else default


def object_state_from_row(row: RowLike, members: Iterable[str] = ()) -> ObjectState:
    """An ``objects`` row plus its member GUIDs -> ObjectState."""
    return ObjectState(
        source=row["source"],
        anchor=row["anchor"],
        object_guid=row["object_guid"],
        kind=ObjectKind(row["kind"]),
        dn=row["dn"],
        attributes=json.loads(row["attrs"]),
        members=frozenset(members),
        usn=row["usn"],
        deleted=bool(row["deleted"]),
        deleted_at=time_from_text(row["deleted_at"]),
        last_seen_round=int(row["last_seen_round"]),
    )


def target_state_from_row(row: RowLike, members: Iterable[str] = ()) -> TargetState:
    """A ``target_states`` row plus its sent member anchors -> TargetState."""
    return TargetState(
        anchor=row["anchor"],
        target=row["target"],
        kind=ObjectKind(row["kind"]),
        state=row["state"],
        target_id=row["target_id"],
        ownership=Ownership(row["ownership"]),
        projection=json.loads(row["projection"]),
        members_sent=frozenset(members),
        since=time_from_text(row["since"]),
        retry_count=int(row["retry_count"]),
        next_retry_at=time_from_text(row["next_retry_at"]),
        last_error=row["last_error"],
    )

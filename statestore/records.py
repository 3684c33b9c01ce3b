"""Frozen records the state store returns (besides ``ObjectState`` / ``TargetState``).

Every record is built from a database row by its ``from_row()`` named constructor; nothing here
does I/O. Times are timezone-aware UTC ``datetime`` values (naive datetimes given to the store
are taken as UTC). Also here: the pure helpers that turn ``Action`` values and times into stored
text and back. The error types live in errors.py (re-exported here).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from attrs import field, frozen

from hybridsync.engine.core.values import (
    Action,
    ActionKind,
    Cursor,
    ObjectKind,
    ObjectState,
    Ownership,
    Reason,
    TargetState,
    cursor_from_json,
    frozen_mapping,
)
from hybridsync.statestore.errors import (  # noqa: F401  (re-exported)
    StaleWatermark,
    StoreCorrupt,
    StoreError,
    StoreMisuse,
    WatermarkRegression,
)

# --------------------------------------------------------------------------------------------
# Pure conversions
# --------------------------------------------------------------------------------------------

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+00:00"


def time_to_text(value: datetime | None) -> str | None:
    """A datetime as fixed-width UTC ISO text (sorts as text); naive values are taken as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime(_TIME_FORMAT)


def time_from_text(text: str | None) -> datetime | None:
    if not text:
        return None
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


def _json_or(text: str | None, default: Any) -> Any:
    return json.loads(text) if text else default


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@frozen
class WatermarkRecord:
    """One (source, DC) watermark row. ``active`` marks the one ``get_cursor`` returns."""

    source: str
    dc: str
    cursor: Cursor
    version: int
    updated_at: datetime | None
    active: bool = False
    high_usn: int | None = None  # the highest USN ever stored for this DC

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "WatermarkRecord":
        return cls(
            source=row["source"],
            dc=row["dc"],
            cursor=cursor_from_json(row["cursor"]),
            version=int(row["version"]),
            updated_at=time_from_text(row["updated_at"]),
            active=bool(row["active"]),
            high_usn=row["high_usn"],
        )


@frozen
class RoundRecord:
    """One full-read round of a source."""

    source: str
    round_no: int
    started_at: datetime | None
    finished_at: datetime | None
    count: int | None
    complete: bool

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "RoundRecord":
        return cls(
            source=row["source"],
            round_no=int(row["round_no"]),
            started_at=time_from_text(row["started_at"]),
            finished_at=time_from_text(row["finished_at"]),
            count=row["count"],
            complete=bool(row["complete"]),
        )


HISTORY_KINDS = ("observation", "decision", "approval")


@frozen
class HistoryRecord:
    """One provisioning-log entry.

    ``kind`` is ``observation`` (a source change: ``change`` holds the attribute diff, DN move or
    tombstone as the engine recorded it), ``decision`` (``action`` is the full Action with its
    reason chain; ``result``/``status``/``detail`` the target's response) or ``approval`` (an
    admin released held deletes: ``detail`` names who).
    """

    id: int
    kind: str
    at: datetime | None
    cycle_id: int | None
    source: str | None = None
    target: str | None = None
    anchor: str | None = None
    dn: str | None = None
    object_kind: ObjectKind | None = None
    action: Action | None = None
    result: str | None = None
    status: int | None = None
    detail: str | None = None
    change: Mapping[str, Any] = field(factory=dict, converter=frozen_mapping)

    @property
    def reasons(self) -> tuple[Reason, ...]:
        return self.action.reasons if self.action is not None else ()

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "HistoryRecord":
        data = _json_or(row["data"], {})
        action = action_from_dict(data) if row["kind"] == "decision" and data else None
        return cls(
            id=int(row["id"]),
            kind=row["kind"],
            at=time_from_text(row["at"]),
            cycle_id=row["cycle_id"],
            source=row["source"],
            target=row["target"],
            anchor=row["anchor"],
            dn=row["dn"],
            object_kind=ObjectKind(row["object_kind"]) if row["object_kind"] else None,
            action=action,
            result=row["result"],
            status=row["status"],
            detail=row["detail"],
            change={} if row["kind"] == "decision" else data,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "at": time_to_text(self.at),
            "cycle_id": self.cycle_id,
            "source": self.source,
            "target": self.target,
            "anchor": self.anchor,
            "dn": self.dn,
            "object_kind": str(self.object_kind) if self.object_kind else None,
            "action": self.action.to_dict() if self.action else None,
            "result": self.result,
            "status": self.status,
            "detail": self.detail,
            "change": dict(self.change),
        }


@frozen
class CallRecord:
    """One recorded target call (JSON: op, call key, result), for replay."""

    id: int
    cycle_id: int | None
    target: str
    at: datetime | None
    call_json: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "CallRecord":
        return cls(id=int(row["id"]), cycle_id=row["cycle_id"], target=row["target"],
                   at=time_from_text(row["at"]), call_json=row["call_json"])


@frozen
class BatchRecord:
    """One recorded source batch (JSON as the engine serialized it), for replay."""

    id: int
    cycle_id: int | None
    source: str
    at: datetime | None
    batch_json: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "BatchRecord":
        return cls(
            id=int(row["id"]),
            cycle_id=row["cycle_id"],
            source=row["source"],
            at=time_from_text(row["at"]),
            batch_json=row["batch_json"],
        )


@frozen
class Intent:
    """A pending-operations journal entry: written before a target call, settled after."""

    id: int
    cycle_id: int | None
    action: Action
    created_at: datetime | None
    settled_at: datetime | None = None
    result: str | None = None

    @property
    def target(self) -> str:
        return self.action.target

    @property
    def anchor(self) -> str:
        return self.action.anchor

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "Intent":
        return cls(
            id=int(row["id"]),
            cycle_id=row["cycle_id"],
            action=action_from_json(row["action"]),
            created_at=time_from_text(row["created_at"]),
            settled_at=time_from_text(row["settled_at"]),
            result=row["result"],
        )


@frozen
class HeldRecord:
    """A delete/disable held by a safety rule until an admin approves it."""

    id: int
    target: str
    anchor: str
    action: Action
    reason: str
    held_at: datetime | None
    approved_by: str | None = None
    approved_at: datetime | None = None
    released_at: datetime | None = None

    @property
    def approved(self) -> bool:
        return self.approved_at is not None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "HeldRecord":
        return cls(
            id=int(row["id"]),
            target=row["target"],
            anchor=row["anchor"],
            action=action_from_json(row["action"]),
            reason=row["reason"],
            held_at=time_from_text(row["held_at"]),
            approved_by=row["approved_by"],
            approved_at=time_from_text(row["approved_at"]),
            released_at=time_from_text(row["released_at"]),
        )


@frozen
class QuarantineRecord:
    """A paused target: why, since when, until when (the next retry), how many times."""

    target: str
    reason: str
    since: datetime | None
    until: datetime | None
    count: int = 1

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "QuarantineRecord":
        return cls(
            target=row["target"],
            reason=row["reason"],
            since=time_from_text(row["since"]),
            until=time_from_text(row["until"]),
            count=int(row["count"]),
        )


@frozen
class CycleRecord:
    """One reconcile cycle."""

    id: int
    source: str
    mode: str
    started_at: datetime | None
    finished_at: datetime | None = None
    status: str | None = None
    counts: Mapping[str, Any] = field(factory=dict, converter=frozen_mapping)
    duration_s: float | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "CycleRecord":
        return cls(
            id=int(row["id"]),
            source=row["source"],
            mode=row["mode"],
            started_at=time_from_text(row["started_at"]),
            finished_at=time_from_text(row["finished_at"]),
            status=row["status"],
            counts=_json_or(row["counts"], {}),
            duration_s=row["duration_s"],
        )


# --------------------------------------------------------------------------------------------
# ObjectState / TargetState from rows (the shared values have no from_row of their own)
# --------------------------------------------------------------------------------------------


def object_state_from_row(row: Mapping[str, Any], members: Any = ()) -> ObjectState:
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


def target_state_from_row(row: Mapping[str, Any], members: Any = ()) -> TargetState:
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

"""Frozen records the state store returns (besides ``ObjectState`` / ``TargetState``).

Every record is built from a database row by its ``from_row()`` named constructor; nothing here
does I/O. Times are timezone-aware UTC ``datetime`` values (naive datetimes given to the store
are taken as UTC). The pure conversions (times, JSON, ``Action``) live in convert.py and the
error types in errors.py; both are re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from attrs import field, frozen

from hybridsync.engine.core.values import (
    Action,
    Cursor,
    ObjectKind,
    Reason,
    cursor_from_json,
    frozen_mapping,
)
from hybridsync.statestore.convert import (  # noqa: F401  (re-exported)
    action_from_dict,
    action_from_json,
    dumps,
    json_or,
    object_state_from_row,
    target_state_from_row,
    time_from_text,
    time_to_text,
    utcnow,
)
from hybridsync.statestore.errors import (  # noqa: F401  (re-exported)
    StaleWatermark,
    StoreCorrupt,
    StoreError,
    StoreMisuse,
    WatermarkRegression,
)
from hybridsync.statestore.handle import RowLike



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
    def from_row(cls, row: RowLike) -> "WatermarkRecord":
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
    def from_row(cls, row: RowLike) -> "RoundRecord":
        return cls(
            source=row["source"],
            round_no=int(row["round_no"]),
            started_at=time_from_text(row["started_at"]),
            finished_at=time_from_text(row["finished_at"]),
            count=row["count"],
            complete=bool(row["complete"]),
        )


HISTORY_KINDS = ("observation", "decision", "approval", "leader")


@frozen
class HistoryRecord:
    """One provisioning-log entry.

    ``kind`` is ``observation`` (a source change: ``change`` holds the attribute diff, DN move or
    tombstone as the engine recorded it), ``decision`` (``action`` is the full Action with its
    reason chain; ``result``/``status``/``detail`` the target's response), ``approval`` (an
    admin released held deletes: ``detail`` names who) or ``leader`` (a process took the lead of
    ``source``: ``change`` holds its host, pid and lease epoch; the decisions of that source's
    later cycles were made by it, until the next ``leader`` record of the source).
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
    def from_row(cls, row: RowLike) -> "HistoryRecord":
        data = json_or(row["data"], {})
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
    def from_row(cls, row: RowLike) -> "CallRecord":
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
    def from_row(cls, row: RowLike) -> "BatchRecord":
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
    def from_row(cls, row: RowLike) -> "Intent":
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
    def from_row(cls, row: RowLike) -> "HeldRecord":
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
    def from_row(cls, row: RowLike) -> "QuarantineRecord":
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
    def from_row(cls, row: RowLike) -> "CycleRecord":
        return cls(
            id=int(row["id"]),
            source=row["source"],
            mode=row["mode"],
            started_at=time_from_text(row["started_at"]),
            finished_at=time_from_text(row["finished_at"]),
            status=row["status"],
            counts=json_or(row["counts"], {}),
            duration_s=row["duration_s"],
        )



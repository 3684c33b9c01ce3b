"""The values that travel between the parts of hybridsync.

source connector --SourceBatch--> engine --PlanInput--> planner --Plan--> engine --> target connector

Everything here is frozen (attrs) and free of I/O. Connectors produce and consume these values;
the planner sees nothing else; the state store turns its rows into ``ObjectState`` /
``TargetState`` and back. Changing a field here changes the contract between all parts:
add fields with defaults, never rename.
"""

from __future__ import annotations

import base64
import enum
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Union

import attrs
from attrs import field, frozen

from hybridsync.engine.core.frozen import freeze_attributes, frozen_mapping
from hybridsync.engine.core.states import State, as_optional_state, as_state

__all__ = [  # frozen_mapping is imported from here too
    "Action", "ActionKind", "CycleProgress", "Cursor", "DcIdentity", "DirSyncCookie", "ObjectKind",
    "ObjectState", "Ownership", "ReadMode", "Reason", "Refresh", "SourceBatch", "SourceObject",
    "SourceObjectError", "TargetObject", "TargetState", "UsnWatermark", "cursor_from_json",
    "cursor_to_json", "evolve", "frozen_mapping", "guid_to_anchor",
]


class ObjectKind(enum.StrEnum):
    USER = "user"
    GROUP = "group"
    CONTACT = "contact"


class ReadMode(enum.StrEnum):
    FULL = "full"
    DELTA = "delta"


class Ownership(enum.StrEnum):
    """Who owns a target object: only CREATED and ADOPTED objects may ever be disabled or deleted."""

    CREATED = "created"
    ADOPTED = "adopted"
    FOREIGN = "foreign"


def guid_to_anchor(raw: bytes) -> str:
    """objectGUID / mS-DS-ConsistencyGuid bytes -> the anchor text (standard base64)."""
    return base64.b64encode(raw).decode("ascii")


# --------------------------------------------------------------------------------------------
# Source side
# --------------------------------------------------------------------------------------------


@frozen
class SourceObject:
    """One directory object as the source saw it in one read.

    ``attributes`` keys are lowercased LDAP names; values are tuples of text (binary values as
    base64). Member references are objectGUIDs (base64), never DNs, so renames cannot break them.
    A delta (``partial=True``) carries only the attributes that changed; the engine merges it with
    the stored state before planning. A tombstone has ``deleted=True`` and may lack ``kind``.
    """

    anchor: str
    object_guid: str
    kind: ObjectKind | None
    dn: str
    attributes: Mapping[str, tuple[str, ...]] = field(factory=dict, converter=freeze_attributes)
    members: frozenset[str] | None = None  # direct members' objectGUIDs; None = not in this read
    members_added: frozenset[str] = frozenset()  # incremental values (DirSync)
    members_removed: frozenset[str] = frozenset()
    usn: int | None = None
    deleted: bool = False
    partial: bool = False

    def get(self, name: str) -> tuple[str, ...]:
        return self.attributes.get(name.lower(), ())

    def first(self, name: str) -> str | None:
        vals = self.get(name)
        return vals[0] if vals else None

    @property
    def user_account_control(self) -> int:
        try:
            return int(self.first("userAccountControl") or 0)
        except ValueError:
            return 0

    @property
    def disabled(self) -> bool:
        return bool(self.user_account_control & 2)


@frozen
class SourceObjectError:
    """An object the source could not turn into a SourceObject; the others proceed."""

    dn: str
    attribute: str | None
    message: str
    object_guid: str | None = None

    def __str__(self) -> str:
        where = f" attribute {self.attribute!r}" if self.attribute else ""
        return f"{self.dn}{where}: {self.message}"


@frozen
class Refresh:
    """No usable position: the next read must be a complete full read."""

    reason: str = ""


@frozen
class DirSyncCookie:
    cookie: bytes
    dc_invocation_id: str = ""


@frozen
class UsnWatermark:
    dc_invocation_id: str
    usn: int


Cursor = Union[Refresh, DirSyncCookie, UsnWatermark]


def cursor_to_json(cursor: Cursor) -> str:
    if isinstance(cursor, Refresh):
        return json.dumps({"type": "refresh", "reason": cursor.reason})
    if isinstance(cursor, DirSyncCookie):
        return json.dumps(
            {
                "type": "dirsync",
                "cookie": base64.b64encode(cursor.cookie).decode(),
                "dc": cursor.dc_invocation_id,
            }
        )
    if isinstance(cursor, UsnWatermark):
        return json.dumps({"type": "usn", "dc": cursor.dc_invocation_id, "usn": cursor.usn})
    raise TypeError(f"not a cursor: {cursor!r}")


def cursor_from_json(text: str | None) -> Cursor:
    if not text:
        return Refresh("no stored cursor")
    data = json.loads(text)
    kind = data.get("type")
    if kind == "refresh":
        return Refresh(data.get("reason", ""))
    if kind == "dirsync":
        return DirSyncCookie(base64.b64decode(data["cookie"]), data.get("dc", ""))
    if kind == "usn":
        return UsnWatermark(data["dc"], int(data["usn"]))
    raise ValueError(f"unknown cursor type {kind!r}")


@frozen
class DcIdentity:
    """Which domain controller served a read. USN watermarks are only valid for one invocationId."""

    url: str
    invocation_id: str
    host: str = ""
    highest_usn: int | None = None


@frozen
class SourceBatch:
    """One page of a read, with the cursor that covers it.

    The engine records the batch's outcomes and stores ``cursor`` in one transaction. A full read
    yields ``mode=FULL`` batches; only its last batch has ``last=True`` and, when the whole read
    finished without error, ``complete=True`` -- the only evidence that lets absence mean "gone".
    Intermediate full-read batches carry ``Refresh`` (a crash restarts the full read).
    """

    objects: tuple[SourceObject, ...]
    cursor: Cursor
    mode: ReadMode
    dc: DcIdentity
    errors: tuple[SourceObjectError, ...] = ()
    last: bool = False
    complete: bool = False


# --------------------------------------------------------------------------------------------
# What the state store remembers (read by the planner, written by the engine)
# --------------------------------------------------------------------------------------------


@frozen
class CycleProgress:
    """What a cycle has done so far, given to the ``progress`` callback after each page."""

    mode: ReadMode = field(converter=ReadMode)
    read: int  # objects read from the source
    planned: int  # objects planned (unchanged ones included)
    applied: int  # target calls made
    expected: int | None = None  # objects of the last complete full read (for an ETA), if any


@frozen
class ObjectState:
    """The store's memory of one source object: its last merged full view."""

    source: str
    anchor: str
    object_guid: str
    kind: ObjectKind
    dn: str
    attributes: Mapping[str, tuple[str, ...]] = field(factory=dict, converter=freeze_attributes)
    members: frozenset[str] = frozenset()  # direct members' objectGUIDs
    usn: int | None = None
    deleted: bool = False
    deleted_at: datetime | None = None
    last_seen_round: int = 0

    def as_source_object(self) -> SourceObject:
        return SourceObject(
            anchor=self.anchor,
            object_guid=self.object_guid,
            kind=self.kind,
            dn=self.dn,
            attributes=self.attributes,
            members=self.members,
            usn=self.usn,
            deleted=self.deleted,
        )


@frozen
class TargetState:
    """The store's memory of one (object, target) pair."""

    anchor: str
    target: str
    kind: ObjectKind
    state: State = field(converter=as_state)  # stored by name
    target_id: str | None = None
    ownership: Ownership = Ownership.CREATED
    projection: Mapping[str, Any] = field(factory=dict, converter=frozen_mapping)  # last applied
    members_sent: frozenset[str] = frozenset()  # member anchors the target holds for this group
    since: datetime | None = None
    retry_count: int = 0
    next_retry_at: datetime | None = None
    last_error: str | None = None


# --------------------------------------------------------------------------------------------
# Target side
# --------------------------------------------------------------------------------------------


@frozen
class TargetObject:
    """A resource as a target holds it, flattened to the same attribute paths as a projection."""

    target_id: str
    kind: ObjectKind
    external_id: str | None = None
    attributes: Mapping[str, Any] = field(factory=dict, converter=frozen_mapping)
    active: bool | None = None
    etag: str | None = None


# --------------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------------


class ActionKind(enum.StrEnum):
    CREATE = "create"
    ADOPT = "adopt"  # soft match / re-anchor an existing target object, then update it
    UPDATE = "update"
    DISABLE = "disable"
    RESTORE = "restore"
    DELETE = "delete"
    ADD_MEMBERS = "add_members"
    REMOVE_MEMBERS = "remove_members"
    HOLD = "hold"  # a delete/disable held by a safety rule: recorded, not applied
    REPORT = "report"  # disputed or failed: recorded for the admin, nothing applied
    NOOP = "noop"


@frozen
class Reason:
    """One link of a decision's reason chain.

    ``rule`` is a dotted name an admin can grep for: ``scope.include_ous``,
    ``scope.filter[0][1]``, ``match.anchor``, ``match.soft.userName``, ``mapping.displayName``,
    ``lifecycle.provisioned->disabled``, ``safety.delete_threshold``, ``safety.evidence``.
    """

    rule: str
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "detail": self.detail}


@frozen
class Action:
    """One thing to do (or deliberately not do) for one (object, target)."""

    kind: ActionKind
    target: str
    anchor: str
    object_kind: ObjectKind
    target_id: str | None = None
    attributes: Mapping[str, Any] = field(factory=dict, converter=frozen_mapping)
    members: tuple[str, ...] = ()  # member anchors, for ADD_MEMBERS / REMOVE_MEMBERS
    from_state: State | None = None  # the planner passes States; from_dict converts stored text
    to_state: State | None = None
    reasons: tuple[Reason, ...] = ()
    dn: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": str(self.kind),
            "target": self.target,
            "anchor": self.anchor,
            "object_kind": str(self.object_kind),
            "dn": self.dn,
            "target_id": self.target_id,
            "attributes": dict(self.attributes),
            "members": list(self.members),
            "from_state": self.from_state,
            "to_state": self.to_state,
            "reasons": [r.to_dict() for r in self.reasons],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, default=str)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Action:
        """The inverse of ``to_dict()`` (the journal, the decision log, recordings)."""
        return cls(kind=ActionKind(data["action"]), target=data["target"], anchor=data["anchor"],
                   object_kind=ObjectKind(data["object_kind"]), target_id=data.get("target_id"),
                   attributes=data.get("attributes") or {}, members=tuple(data.get("members") or ()),
                   from_state=as_optional_state(data.get("from_state")),
                   to_state=as_optional_state(data.get("to_state")),
                   reasons=tuple(Reason(r["rule"], r.get("detail", "")) for r in data.get("reasons") or ()),
                   dn=data.get("dn"))


def evolve(value: Any, **changes: Any) -> Any:
    return attrs.evolve(value, **changes)

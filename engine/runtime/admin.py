"""What ``Engine.status()``, ``Engine.log()`` and ``Engine.approve_deletes()`` answer: the state
store's knowledge as plain frozen values, for a host process and the CLI alike.

Nothing here talks to AD or a target, and nothing here is secret: the store holds no secret (a
DirSync cookie is summarised by its length, never shown). ``to_dict()`` on each value gives the
JSON the CLI prints with ``--json``.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from attrs import field, frozen

from hybridsync.engine.core.errors import HybridsyncError
from hybridsync.engine.core.values import Action, DirSyncCookie, Reason, UsnWatermark
from hybridsync.statestore.records import time_to_text, utcnow

REF_FORMS = "objectGUID, DN, sAMAccountName, UPN"


class NoSuchObject(HybridsyncError):
    """No stored object matches the reference (exit 2 in the CLI)."""

    def __init__(self, ref: str, why: str | None = None):
        self.ref = ref
        self.why = why
        super().__init__(f"no object matches {ref!r}" + (f": {why}" if why else f" (tried {REF_FORMS})"))


class UnknownTarget(HybridsyncError):
    """A command named a target the config does not have (exit 2 in the CLI)."""

    def __init__(self, name: str, config_path: Any, known: list[str]):
        self.name = name
        super().__init__(f"no target named {name!r} in {config_path} (targets: {', '.join(known) or 'none'})")


class NoStateStore(HybridsyncError):
    """The command needs the state store, and there is none yet (exit 2 in the CLI)."""

    def __init__(self, path: Any):
        self.path = str(path)
        super().__init__(f"the state store {self.path} does not exist yet")


def open_existing_store(path: str | Path, *, readonly: bool = True) -> Any | None:
    """The store at ``path`` if it exists (read-only unless asked), else None; never creates one.
    ``":memory:"`` is None too: an in-memory store does not outlive its process. Raises
    ``StoreCorrupt`` when the file is not a readable state store."""
    from hybridsync.statestore.store import Store

    p = str(path)
    if p == ":memory:" or not Path(p).exists():
        return None
    return Store.open(p, readonly=readonly)


# ------------------------------------------------------------------ status values
@frozen
class WatermarkStatus:
    """One DC's watermark as facts safe to show: the cursor type and its USN or cookie length."""

    dc: str
    active: bool
    version: int
    updated_at: datetime | None
    type: str  # usn | dirsync | refresh
    usn: int | None = None
    cookie_bytes: int | None = None
    reason: str | None = None  # a refresh: why a full read is due

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dc": self.dc, "active": self.active, "version": self.version,
                               "updated_at": time_to_text(self.updated_at), "type": self.type}
        if self.type == "usn":
            out["usn"] = self.usn
        elif self.type == "dirsync":
            out["cookie_bytes"] = self.cookie_bytes
        else:
            out["reason"] = self.reason
        return out


def watermark_status(w: Any) -> WatermarkStatus:
    cursor = w.cursor
    base = {"dc": w.dc, "active": w.active, "version": w.version, "updated_at": w.updated_at}
    if isinstance(cursor, UsnWatermark):
        return WatermarkStatus(**base, type="usn", usn=cursor.usn)
    if isinstance(cursor, DirSyncCookie):
        return WatermarkStatus(**base, type="dirsync", cookie_bytes=len(cursor.cookie))
    return WatermarkStatus(**base, type="refresh", reason=getattr(cursor, "reason", ""))


@frozen
class CycleSummary:
    id: int
    mode: str
    status: str | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    counts: Mapping[str, Any] = field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "mode": self.mode, "status": self.status,
                "started_at": time_to_text(self.started_at), "finished_at": time_to_text(self.finished_at),
                "duration_s": self.duration_s, "counts": dict(self.counts)}


@frozen
class FullRead:
    """The newest complete full read of a source."""

    round: int
    count: int
    finished_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {"round": self.round, "count": self.count, "finished_at": time_to_text(self.finished_at)}


@frozen
class SourceStatus:
    name: str
    delta: str | None  # the configured delta mode (None: a source the config no longer names)
    facts: Mapping[str, Any]  # what the engine learnt of the source (mode, privilege, DC, ...)
    watermarks: tuple[WatermarkStatus, ...]
    objects: int  # live objects stored
    last_full_read: FullRead | None
    last_cycle: CycleSummary | None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "delta": self.delta, "facts": dict(self.facts),
                "watermarks": [w.to_dict() for w in self.watermarks], "objects": self.objects,
                "last_full_read": self.last_full_read.to_dict() if self.last_full_read else None,
                "last_cycle": self.last_cycle.to_dict() if self.last_cycle else None}


@frozen
class Quarantine:
    reason: str
    since: datetime | None
    next_retry: datetime | None
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "since": time_to_text(self.since),
                "next_retry": time_to_text(self.next_retry), "count": self.count}


@frozen
class TargetStatus:
    name: str
    states: Mapping[str, int]  # lifecycle state -> count
    dialect: str | None  # the detected SCIM dialect / profile
    profile: Mapping[str, Any]  # the target's described facts (scalars only)
    quarantine: Quarantine | None
    held_deletes: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "states": dict(self.states), "dialect": self.dialect,
                "profile": dict(self.profile),
                "quarantine": self.quarantine.to_dict() if self.quarantine else None,
                "held_deletes": self.held_deletes}


@frozen
class HeldAction:
    """An action held by the accidental-delete threshold, waiting for ``approve_deletes``."""

    id: int
    target: str
    anchor: str
    action: str  # the action kind (disable, delete, ...)
    dn: str | None
    reason: str
    held_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "target": self.target, "anchor": self.anchor, "action": self.action,
                "dn": self.dn, "reason": self.reason, "held_at": time_to_text(self.held_at)}


def held_action(h: Any) -> HeldAction:
    return HeldAction(id=h.id, target=h.target, anchor=h.anchor, action=str(h.action.kind), dn=h.action.dn,
                      reason=h.reason, held_at=h.held_at)


@frozen
class Status:
    """Everything ``hybridsync status`` shows. ``empty``: nothing synced yet (or no store at
    all); ``message`` then says which, and the other fields are empty."""

    store: str
    empty: bool
    message: str | None = None
    format_version: int | None = None
    sources: tuple[SourceStatus, ...] = ()
    targets: tuple[TargetStatus, ...] = ()
    held: tuple[HeldAction, ...] = ()
    pending_intents: int = 0  # unsettled target operations the next cycle settles

    def to_dict(self) -> dict[str, Any]:
        if self.empty:
            return {"store": self.store, "empty": True, "message": self.message}
        return {"store": self.store, "format_version": self.format_version, "empty": False,
                "sources": [s.to_dict() for s in self.sources], "targets": [t.to_dict() for t in self.targets],
                "held": [h.to_dict() for h in self.held], "pending_intents": self.pending_intents}


def status(store: Any, config: Any) -> Status:
    """What ``store`` knows, per source (and DC) and per target; ``store`` None: none exists."""
    path = str(config.state.path)
    if store is None:
        if path == ":memory:":
            return Status(store=path, empty=True, message="The state store is in memory (state.path = "
                                                          "\":memory:\"): nothing persists between runs.")
        return Status(store=path, empty=True, message=f"No state store at {path} yet: nothing has been synced.")
    if store.is_empty():
        return Status(store=path, empty=True,
                      message=f"The state store {path} is empty: nothing has been synced yet.")
    return Status(store=store.path, empty=False, format_version=store.format_version,
                  sources=_sources(store, config), targets=_targets(store, config),
                  held=tuple(held_action(h) for h in store.held()), pending_intents=len(store.pending_intents()))


def _sources(store: Any, config: Any) -> tuple[SourceStatus, ...]:
    configured = [s.name for s in config.sources]
    marks = store.watermarks()
    cycles = store.last_cycles(200)
    names = list(dict.fromkeys(configured + [w.source for w in marks] + [c.source for c in cycles]))
    out = []
    for name in names:
        cfg = next((s for s in config.sources if s.name == name), None)
        last = next((c for c in cycles if c.source == name), None)
        rnd = store.last_complete_round(name)
        out.append(SourceStatus(
            name=name, delta=cfg.delta if cfg else None, facts=store.source_facts(name),
            watermarks=tuple(watermark_status(w) for w in marks if w.source == name),
            objects=store.count_objects(name, include_deleted=False),
            last_full_read=None if rnd is None else FullRead(round=rnd[0], count=rnd[1], finished_at=rnd[2]),
            last_cycle=None if last is None else CycleSummary(
                id=last.id, mode=last.mode, status=last.status, started_at=last.started_at,
                finished_at=last.finished_at, duration_s=last.duration_s, counts=dict(last.counts))))
    return tuple(out)


def _targets(store: Any, config: Any) -> tuple[TargetStatus, ...]:
    counts = store.counts_by_state()
    profiles = store.target_profiles()
    quarantined = {q.target: q for q in store.quarantined()}
    held = store.held()
    names = list(dict.fromkeys([t.name for t in config.targets] + list(counts) + list(profiles)
                               + list(quarantined) + [h.target for h in held]))
    out = []
    for name in names:
        profile = profiles.get(name) or {}
        q = quarantined.get(name)
        out.append(TargetStatus(
            name=name, states=counts.get(name, {}), dialect=profile.get("profile") or profile.get("dialect"),
            profile={k: v for k, v in profile.items() if isinstance(v, (bool, int, str))},
            quarantine=None if q is None else Quarantine(reason=q.reason, since=q.since, next_retry=q.until,
                                                         count=q.count),
            held_deletes=sum(1 for h in held if h.target == name)))
    return tuple(out)


# ------------------------------------------------------------------ the provisioning log
@frozen
class LogRecord:
    """One object outcome: a decision in the store's history, with the object it concerns."""

    at: datetime | None
    cycle_id: int | None
    anchor: str | None
    dn: str | None
    upn: str | None
    object_kind: str | None
    target: str | None
    action: Action | None  # the full action, with its reason chain
    result: str | None
    status: int | None  # the target's response status
    detail: str | None

    @property
    def reasons(self) -> tuple[Reason, ...]:
        return tuple(self.action.reasons) if self.action is not None else ()

    def to_dict(self) -> dict[str, Any]:
        a = self.action
        return {
            "time": time_to_text(self.at),
            "cycle": self.cycle_id,
            "object": {"anchor": self.anchor, "dn": self.dn, "upn": self.upn, "kind": self.object_kind},
            "target": self.target,
            "action": str(a.kind) if a else None,
            "from_state": a.from_state if a else None,
            "to_state": a.to_state if a else None,
            "result": self.result,
            "status": self.status,
            "detail": self.detail,
            "reasons": [r.to_dict() for r in self.reasons],
        }


@frozen
class ProvisioningLog:
    """The log's records, oldest first; ``store_found`` False: there is no state store yet."""

    records: tuple[LogRecord, ...] = ()
    since: datetime | None = None
    object: str | None = None
    store_found: bool = True

    def __iter__(self) -> Any:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)


def provisioning_log(store: Any, *, ref: str | None = None, since: datetime | None = None) -> ProvisioningLog:
    """Every decision (of the objects ``ref`` names; from ``since`` on); raises ``NoSuchObject``."""
    if store is None:
        if ref:
            raise NoSuchObject(ref)
        return ProvisioningLog(since=since, store_found=False)
    anchors = None
    if ref:
        anchors = [o.anchor for o in store.find_objects(ref)] if not store.is_empty() else []
        if not anchors:
            raise NoSuchObject(ref)
    objects: dict[str, Any] = {}
    records = []
    for rec in store.decisions(anchor=anchors, since=since):
        if rec.anchor not in objects:
            found = [o for o in store.find_objects(rec.anchor) if o.anchor == rec.anchor]
            objects[rec.anchor] = found[0] if found else None
        obj = objects[rec.anchor]
        upn = obj.attributes.get("userprincipalname", (None,))[0] if obj is not None else None
        records.append(LogRecord(
            at=rec.at, cycle_id=rec.cycle_id, anchor=rec.anchor, dn=rec.dn or (obj.dn if obj else None), upn=upn,
            object_kind=str(rec.object_kind) if rec.object_kind else None, target=rec.target, action=rec.action,
            result=rec.result, status=rec.status, detail=rec.detail))
    return ProvisioningLog(records=tuple(records), since=since, object=ref)


# ------------------------------------------------------------------ approve-deletes
def os_user() -> str:
    """The OS user running the process (who approved)."""
    try:
        return getpass.getuser()
    except Exception:  # no login name in this environment: fall back to the uid
        return f"uid:{os.getuid()}"


@frozen
class Approval:
    """What ``approve_deletes`` released: the holds approved now, by whom and when."""

    target: str | None  # None: every target
    by: str
    at: datetime
    count: int = 0
    approved: tuple[HeldAction, ...] = ()
    store_found: bool = True

    @property
    def kinds(self) -> dict[str, int]:
        """action kind -> how many were approved."""
        out: dict[str, int] = {}
        for h in self.approved:
            out[h.action] = out.get(h.action, 0) + 1
        return out


def approve_deletes(store: Any, config: Any, target: str | None = None, *, by: str | None = None,
                    at: datetime | None = None) -> Approval:
    """Approve every waiting hold (of ``target``, or all), recording who and when on each hold
    and as an ``approval`` log entry; the next cycle applies them. Raises ``UnknownTarget``."""
    names = [t.name for t in config.targets]
    if target is not None and target not in names:
        raise UnknownTarget(target, config.path, names)
    who, when = by or os_user(), at or utcnow()
    if store is None:
        return Approval(target=target, by=who, at=when, store_found=False)
    count = store.approve_held(target, by=who, at=when)
    approved = [h for h in store.held(target, include_approved=True) if h.approved_at == when and h.approved_by == who]
    return Approval(target=target, by=who, at=when, count=count, approved=tuple(held_action(h) for h in approved))

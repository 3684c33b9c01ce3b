"""What ``Engine.status()`` answers: the state store's knowledge per source (and DC) and per
target, as plain frozen values; ``Status.to_dict()`` is the JSON ``hybridsync status --json``
prints. Nothing secret is in the store: a DirSync cookie is summarised by its length.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from attrs import field, frozen

from hybridsync.engine.core.values import DirSyncCookie, UsnWatermark
from hybridsync.engine.core.config import Config
from hybridsync.engine.runtime.leadership import leader_of
from hybridsync.statestore.convert import time_to_text
from hybridsync.statestore.factory import where
from hybridsync.statestore.protocol import StateStore
from hybridsync.engine.runtime import holds
from hybridsync.engine.runtime.evidence import window_counts


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
    leader: Mapping[str, Any] | None = None  # who writes it: pid, host, epoch, since, lease expiry
    # scoping groups missing or renamed at the last cycle: their scope-exit disables are blocked
    scope_problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "delta": self.delta, "facts": dict(self.facts),
                "watermarks": [w.to_dict() for w in self.watermarks], "objects": self.objects,
                "last_full_read": self.last_full_read.to_dict() if self.last_full_read else None,
                "last_cycle": self.last_cycle.to_dict() if self.last_cycle else None, "leader": self.leader,
                "scope_problems": list(self.scope_problems)}


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
    # the delete threshold's rolling window: access-removing actions applied in it, and the limit
    window_used: int = 0
    window_threshold: int = 0
    window_seconds: float = 0.0
    pending_adoptions: int = 0  # adoptions waiting for approve-adoptions ([matching] adopt = "approve")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "states": dict(self.states), "dialect": self.dialect,
                "profile": dict(self.profile),
                "quarantine": self.quarantine.to_dict() if self.quarantine else None,
                "held_deletes": self.held_deletes,
                "threshold_window": {"used": self.window_used, "threshold": self.window_threshold,
                                     "window_seconds": self.window_seconds},
                "pending_adoptions": self.pending_adoptions}


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
    target_id: str | None = None  # the target object (of a pending adoption: the one it would adopt)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "target": self.target, "anchor": self.anchor, "action": self.action,
                "dn": self.dn, "reason": self.reason, "held_at": time_to_text(self.held_at),
                "target_id": self.target_id}


def held_action(h: Any) -> HeldAction:
    return HeldAction(id=h.id, target=h.target, anchor=h.anchor, action=str(h.action.kind), dn=h.action.dn,
                      reason=h.reason, held_at=h.held_at, target_id=h.action.target_id)


ESCROW_REPORTED_AFTER = timedelta(days=1)  # status lists every object in escrow longer than this


@frozen
class StuckObject:
    """An object that needs a person: in escrow for more than a day (``stage`` escrow, ``reason``
    its last error), or refused by the planner in the last cycle (``stage`` mapping: the attribute
    and expression that yield no value)."""

    target: str
    anchor: str
    stage: str  # escrow | mapping
    reason: str
    since: datetime | None = None
    dn: str | None = None
    retries: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "anchor": self.anchor, "dn": self.dn, "stage": self.stage,
                "reason": self.reason, "since": time_to_text(self.since), "retries": self.retries}


@frozen
class Retention:
    """How big the store is and what retention keeps (``[state] retain_days`` / ``record_days``)."""

    # the SQLite file with its WAL (None: PostgreSQL); not compared (a checkpoint moves bytes)
    store_bytes: int | None = field(eq=False)
    retain_days: float = 30.0  # provisioning log, cycles, settled intents, released holds (0: all)
    record_days: float = 7.0  # recordings for replay: source batches and target calls (0: all)
    pruned_at: str | None = None  # when the engine last ran it

    def to_dict(self) -> dict[str, Any]:
        return {"store_bytes": self.store_bytes, "retain_days": self.retain_days, "record_days": self.record_days,
                "pruned_at": self.pruned_at}

    def describe(self) -> str:
        size = "-" if self.store_bytes is None else f"{self.store_bytes / 1e6:.1f} MB"
        def keep(days: float) -> str:
            return "everything" if days <= 0 else f"{days:g} days"

        return (f"store size {size}; retention keeps the provisioning log {keep(self.retain_days)}, "
                f"recordings for replay {keep(self.record_days)} (last pruned {self.pruned_at or 'never'})")


def _store_bytes(path: str) -> int | None:
    import os

    if not path or path == ":memory:" or not os.path.exists(path):
        return None
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


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
    retention: Retention | None = None
    adoptions: tuple[HeldAction, ...] = ()  # pending adoptions, waiting for approve-adoptions
    stuck: tuple[StuckObject, ...] = ()  # in escrow for more than a day; mapping errors of the last cycle

    def to_dict(self) -> dict[str, Any]:
        if self.empty:
            return {"store": self.store, "empty": True, "message": self.message}
        return {"store": self.store, "format_version": self.format_version, "empty": False,
                "sources": [s.to_dict() for s in self.sources], "targets": [t.to_dict() for t in self.targets],
                "held": [h.to_dict() for h in self.held], "pending_intents": self.pending_intents,
                "pending_adoptions": [h.to_dict() for h in self.adoptions],
                "stuck": [x.to_dict() for x in self.stuck],
                "retention": self.retention.to_dict() if self.retention else None}


def read_status(store: StateStore | None, config: Config) -> Status:
    """What ``store`` knows, per source (and DC) and per target; ``store`` None: none exists."""
    path = where(config.state)
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
                  held=tuple(held_action(h) for h in store.held()), pending_intents=len(store.pending_intents()),
                  adoptions=tuple(held_action(h) for h in store.held(adoptions=True)),
                  stuck=stuck_objects(store, config, datetime.now(UTC)),
                  retention=Retention(store_bytes=_store_bytes(str(store.path)) if not config.state.url else None,
                                      retain_days=config.state.retain_days, record_days=config.state.record_days,
                                      pruned_at=store.meta_get("engine.pruned_at")))


def stuck_objects(store: StateStore, config: Config, now: datetime) -> tuple[StuckObject, ...]:
    """Every object in escrow for more than ``ESCROW_REPORTED_AFTER`` (with its last error), and
    the objects the last cycle of each source refused for a mapping error (the attribute and
    expression named): escrow is for what waiting can fix, these need a person."""
    out: list[StuckObject] = []
    names = list(dict.fromkeys([t.name for t in config.targets] + list(store.counts_by_state())))
    for name in names:
        for ts in store.iter_target_states(name, state="escrow"):
            if ts.since is not None and ts.since <= now - ESCROW_REPORTED_AFTER:
                out.append(StuckObject(target=name, anchor=ts.anchor, stage="escrow", reason=ts.last_error or "?",
                                       since=ts.since, retries=ts.retry_count))
    cycles = store.last_cycles(50)
    for src in dict.fromkeys(c.source for c in cycles):
        last = next(c for c in cycles if c.source == src)
        for rec in store.decisions(cycle_id=last.id):
            if rec.result != "reported" or rec.action is None:
                continue
            why = [r.detail for r in rec.action.reasons if r.rule.startswith("mapping.")]
            if why:
                out.append(StuckObject(target=rec.target or "?", anchor=rec.anchor or "?", stage="mapping",
                                       reason="; ".join(why), since=rec.at, dn=rec.dn))
    return tuple(out)


def _sources(store: StateStore, config: Config) -> tuple[SourceStatus, ...]:
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
                finished_at=last.finished_at, duration_s=last.duration_s, counts=dict(last.counts)),
            leader=leader_of(store, name),
            scope_problems=tuple(store.meta_get(f"scope.problems.{name}") or ())))
    return tuple(out)


def _targets(store: StateStore, config: Config) -> tuple[TargetStatus, ...]:
    counts = store.counts_by_state()
    profiles = store.target_profiles()
    quarantined = {q.target: q for q in store.quarantined()}
    held = store.held()
    names = list(dict.fromkeys([t.name for t in config.targets] + list(counts) + list(profiles)
                               + list(quarantined) + [h.target for h in held]))
    used = window_counts(store, config.safety, names, datetime.now(UTC))
    limit = holds.limits(store, config.safety, names)
    adoptions = store.held(adoptions=True)
    out = []
    for name in names:
        profile = profiles.get(name) or {}
        q = quarantined.get(name)
        out.append(TargetStatus(
            name=name, states=counts.get(name, {}), dialect=profile.get("profile") or profile.get("dialect"),
            profile={k: v for k, v in profile.items() if isinstance(v, (bool, int, str))},
            quarantine=None if q is None else Quarantine(reason=q.reason, since=q.since, next_retry=q.until,
                                                         count=q.count),
            held_deletes=sum(1 for h in held if h.target == name),
            window_used=used.get(name, 0), window_threshold=limit[name],
            window_seconds=config.safety.delete_threshold_window,
            pending_adoptions=sum(1 for h in adoptions if h.target == name)))
    return tuple(out)

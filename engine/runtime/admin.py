"""What ``Engine.log()``, ``Engine.approve_deletes()`` and ``Engine.approve_adoptions()`` answer,
as plain frozen values, and the errors of the admin queries (``Engine.status()`` answers from ``runtime.status``).

Nothing here talks to AD or a target. ``LogRecord.to_dict()`` is the JSON line ``hybridsync log
--json`` prints.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from attrs import frozen

from hybridsync.engine.core.config import Config
from hybridsync.engine.core.errors import HybridsyncError
from hybridsync.engine.core.values import Action, Reason
from hybridsync.engine.runtime.status import HeldAction, held_action
from hybridsync.statestore.convert import time_to_text, utcnow
from hybridsync.statestore.protocol import StateStore
from hybridsync.statestore.store import Store

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


def open_existing_store(path: Any, *, readonly: bool = True) -> StateStore | None:
    """The store at ``path`` (a file path, or a ``StateConfig``: its file or PostgreSQL) if it
    exists (read-only unless asked), else None; never creates one.
    ``":memory:"`` is None too: an in-memory store does not outlive its process. Raises
    ``StoreCorrupt`` when the file is not a readable state store."""
    if hasattr(path, "url"):  # a StateConfig: the SQLite file or PostgreSQL ([state] url)
        from hybridsync.statestore.factory import open_existing

        return open_existing(path, readonly=readonly)
    p = str(path)
    if p == ":memory:" or not Path(p).exists():
        return None
    return Store.open(p, readonly=readonly)


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

    def __iter__(self) -> Iterator[LogRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)


def provisioning_log(store: StateStore | None, *, ref: str | None = None, since: datetime | None = None) -> ProvisioningLog:
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
        key = rec.anchor or ""  # a decision always names its object
        if key not in objects:
            found = [o for o in store.find_objects(key) if o.anchor == key] if key else []
            objects[key] = found[0] if found else None
        obj = objects[key]
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


def approve_deletes(store: StateStore | None, config: Config, target: str | None = None, *, by: str | None = None,
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


# ------------------------------------------------------------------ approve-adoptions
def _known_target(config: Config, target: str | None) -> None:
    names = [t.name for t in config.targets]
    if target is not None and target not in names:
        raise UnknownTarget(target, config.path, names)


def pending_adoptions(store: StateStore | None, config: Config, target: str | None = None) -> tuple[HeldAction, ...]:
    """The adoptions waiting for approval (``[matching] adopt = "approve"``), of ``target`` or all."""
    _known_target(config, target)
    if store is None:
        return ()
    return tuple(held_action(h) for h in store.held(target, adoptions=True))


def approve_adoptions(store: StateStore | None, config: Config, target: str | None = None, *,
                      ids: Iterable[int] | None = None, by: str | None = None,
                      at: datetime | None = None) -> Approval:
    """Approve the pending adoptions of ``ids`` (or, ``ids`` None, every one) of ``target`` (or
    all), recording who and when on each and as an ``approval`` log entry; the next cycle
    adopts each one whose object still matches the same target object. Raises ``UnknownTarget``."""
    _known_target(config, target)
    who, when = by or os_user(), at or utcnow()
    if store is None:
        return Approval(target=target, by=who, at=when, store_found=False)
    count = store.approve_held(target, by=who, at=when, adoptions=True, ids=ids)
    approved = [h for h in store.held(target, include_approved=True, adoptions=True)
                if h.approved_at == when and h.approved_by == who]
    return Approval(target=target, by=who, at=when, count=count, approved=tuple(held_action(h) for h in approved))

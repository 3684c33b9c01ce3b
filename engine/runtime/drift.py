"""Drift: what changed at a target since the last cycle, on objects hybridsync owns, is put back.

A target that can say what changed in it since its last look (optional ``read_changes(kind)``,
the Entra connector's delta links: ``connectors/entra/delta.py``) is asked once per cycle, after
the pages and before the due pass. For each changed object the store knows as provisioned:

- an attribute of the stored projection that the target now holds with another value is written
  into the stored projection as the target holds it, and the object is re-planned in this cycle:
  the planner's diff (AD's value against what the target holds) updates it back;
- an object the target reports removed (``@removed``) gets an empty stored projection and is
  re-planned: its update answers "gone" and the engine's own rules follow (the state releases
  the id; the next plan re-creates it, or restores it from deleted items).

A target's ``restore_profile(profile)``, when present, is given the profile the engine stored from
its ``describe()`` before its first look, so its delta links survive a restart. Nothing happens in
a dry run. Failures are logged and skipped: drift never fails a cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import structlog

from hybridsync.engine.core.states import State
from hybridsync.engine.core.values import ObjectKind
from hybridsync.statestore.protocol import StateStore

log = structlog.get_logger("hybridsync.drift")
_SKIP = frozenset({"active", "manager", "password"})  # not read back, or not comparable


def _norm(value: Any) -> Any:
    if value in (None, "", [], ()):
        return None
    return str(value) if not isinstance(value, (bool, list, tuple)) else value


def _inner(target: Any) -> Any:
    return getattr(target, "inner", target)


def check(store: StateStore, targets: Mapping[str, Any], kinds: tuple[ObjectKind, ...] = (
        ObjectKind.USER, ObjectKind.GROUP)) -> set[str]:
    """The anchors to plan again because their target objects drifted (see the module doc)."""
    anchors: set[str] = set()
    for name, target in targets.items():
        inner = _inner(target)
        read = getattr(inner, "read_changes", None)
        if not callable(read):
            continue
        restore = getattr(inner, "restore_profile", None)
        if callable(restore) and not getattr(inner, "_drift_restored", False):
            restore(store.target_profile(name))
            setattr(inner, "_drift_restored", True)
        for kind in kinds:
            try:
                got = read(kind)
            except Exception as exc:  # informative only: never fail a cycle for it
                log.warning("drift_read_failed", target=name, kind=str(kind), error=str(exc)[:200])
                continue
            changed, removed = getattr(got, "changed", None), getattr(got, "removed", None)
            if changed is None or removed is None:
                log.info("drift_not_read", target=name, kind=str(kind), why=str(getattr(got, "why", got))[:200])
                continue
            anchors |= _apply(store, name, changed, removed, getattr(inner, "written_value", None))
    return anchors


def _apply(store: StateStore, target: str, changed: Any, removed: Any, written: Any = None) -> set[str]:
    """``written(path, value)``: the value the target writes for a projected value (a connector
    that rewrites values, e.g. Entra's mailNickname made valid, compares what it wrote)."""
    anchors: set[str] = set()

    def as_written(path: str, value: Any) -> Any:
        return written(path, value) if callable(written) else value

    with store.atomic():
        for obj in changed:
            ts = store.target_state_by_target_id(target, obj.target_id, kind=obj.kind)
            if ts is None or ts.state not in (State.PROVISIONED, State.DISABLED):
                continue
            held = {k: v for k, v in ts.projection.items()
                    if k not in _SKIP and k in obj.attributes and _norm(obj.attributes[k]) != _norm(as_written(k, v))}
            enabled = ts.projection.get("active")
            if isinstance(enabled, bool) and obj.active is not None and obj.active != enabled:
                held["active"] = obj.active
            if held:
                new = {**ts.projection, **{k: obj.attributes.get(k, v) for k, v in held.items()}}
                store.put_target_state(attrs.evolve(ts, projection=new))
                anchors.add(ts.anchor)
                log.info("drift_detected", target=target, anchor=ts.anchor, target_id=obj.target_id,
                         attributes=sorted(held))
        for target_id in removed:
            ts = store.target_state_by_target_id(target, target_id)
            if ts is None or ts.state != State.PROVISIONED:
                continue
            store.put_target_state(attrs.evolve(ts, projection={}))
            anchors.add(ts.anchor)
            log.info("drift_removed", target=target, anchor=ts.anchor, target_id=target_id)
    return anchors



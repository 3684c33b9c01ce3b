"""``explain``: an object's timeline from the store's history, offline, as values.

It answers "why was this user disabled?" first: for every target, the object's current
lifecycle state and the decision that put it there, with that decision's reason chain (the
scope clause, lifecycle edge, safety rule or mapping rule behind it) and the target's response.
Then the whole timeline: every observed source change (attribute diff, DN move, tombstone) and
every decision, oldest first.

Nothing here talks to AD or a target; it reads only what the engine recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from attrs import frozen

from hybridsync.engine.core.values import Action, ObjectState, Reason, TargetState
from hybridsync.engine.runtime.admin import REF_FORMS, NoSuchObject
from hybridsync.statestore.protocol import StateStore

__all__ = ["REF_FORMS", "Explanation", "NoSuchObject", "TimelineEntry", "Verdict", "explain", "explain_object",
           "resolve_objects"]


def resolve_objects(store: StateStore, ref: str) -> list[ObjectState]:
    """Every stored object ``ref`` names (live ones first); raises ``NoSuchObject``."""
    found = store.find_objects(ref) if ref and ref.strip() else []
    if not found:
        raise NoSuchObject(ref)
    return found


@frozen
class TimelineEntry:
    at: datetime | None
    kind: str  # "observed" | "decision"
    cycle_id: int | None
    summary: str
    target: str | None = None
    action: Action | None = None
    result: str | None = None
    status: int | None = None
    detail: str | None = None
    reasons: tuple[Reason, ...] = ()
    change: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat() if self.at else None,
            "kind": self.kind,
            "cycle_id": self.cycle_id,
            "summary": self.summary,
            "target": self.target,
            "action": self.action.to_dict() if self.action else None,
            "result": self.result,
            "status": self.status,
            "detail": self.detail,
            "reasons": [r.to_dict() for r in self.reasons],
            "change": _plain(self.change),
        }


@frozen
class Verdict:
    """Where the object stands at one target, and the decision that put it there."""

    target: str
    state: str
    since: datetime | None
    target_id: str | None
    ownership: str
    last_error: str | None
    because: TimelineEntry | None

    def headline(self) -> str:
        since = f" since {self.since:%Y-%m-%d %H:%M:%S}" if self.since else ""
        text = f"at target {self.target!r}: {self.state}{since}"
        if self.because is not None:
            text += f" — {self.because.summary}"
        if self.last_error:
            text += f" (last error: {self.last_error})"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "state": self.state,
            "since": self.since.isoformat() if self.since else None,
            "target_id": self.target_id,
            "ownership": self.ownership,
            "last_error": self.last_error,
            "because": self.because.to_dict() if self.because else None,
        }


@frozen
class Explanation:
    ref: str
    object: ObjectState
    verdicts: tuple[Verdict, ...]
    timeline: tuple[TimelineEntry, ...]
    dn_history: tuple[tuple[str, datetime | None], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        o = self.object
        return {
            "ref": self.ref,
            "object": {
                "source": o.source,
                "anchor": o.anchor,
                "object_guid": o.object_guid,
                "kind": str(o.kind),
                "dn": o.dn,
                "deleted": o.deleted,
                "userPrincipalName": _first(o, "userprincipalname"),
                "sAMAccountName": _first(o, "samaccountname"),
            },
            "verdicts": [v.to_dict() for v in self.verdicts],
            "dn_history": [[dn, at.isoformat() if at else None] for dn, at in self.dn_history],
            "timeline": [e.to_dict() for e in self.timeline],
        }

    def lines(self) -> list[str]:
        """Plain text, most important first: who, then why at each target, then the timeline."""
        o = self.object
        who = _first(o, "userprincipalname") or _first(o, "samaccountname") or o.dn
        gone = " (deleted in AD)" if o.deleted else ""
        out = [f"{o.kind} {who}{gone}", f"  dn: {o.dn}", f"  anchor: {o.anchor}"]
        for v in self.verdicts:
            out.append(f"  {v.headline()}")
            if v.because is not None:
                for r in v.because.reasons:
                    out.append(f"      because {r.rule}: {r.detail}" if r.detail else f"      because {r.rule}")
        if not self.verdicts:
            out.append("  not provisioned to any target yet")
        if len(self.dn_history) > 1:
            out.append("DN history:")
            for dn, at in self.dn_history:
                out.append(f"  {_ts(at)}  {dn}")
        out.append("Timeline:")
        for e in self.timeline:
            out.append(f"  {_ts(e.at)}  [cycle {e.cycle_id}] {e.summary}")
            for r in e.reasons:
                out.append(f"      {r.rule}: {r.detail}" if r.detail else f"      {r.rule}")
        if not self.timeline:
            out.append("  (no recorded history)")
        return out


def _ts(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") if at else "-" * 19


def _first(o: ObjectState, name: str) -> str | None:
    vals = o.attributes.get(name, ())
    return vals[0] if vals else None


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    return value


def _observation_summary(rec: Any) -> str:
    change = dict(rec.change or {})
    parts = change.get("changes") or []
    if isinstance(parts, (list, tuple)) and parts:
        what = ", ".join(str(p) for p in parts)
    else:
        what = ", ".join(sorted(change)) or "seen"
    mode = change.get("mode")
    return f"observed in AD ({mode} read): {what}" if mode else f"observed in AD: {what}"


def _decision_summary(rec: Any) -> str:
    a: Action | None = rec.action
    if a is None:
        return f"decision at {rec.target}: {rec.result}"
    edge = f" ({a.from_state} -> {a.to_state})" if a.from_state or a.to_state else ""
    resp = f", target answered {rec.status}" if rec.status else ""
    detail = f": {rec.detail}" if rec.detail else ""
    return f"{a.kind} at {a.target}{edge} -> {rec.result}{resp}{detail}"


def _entries(records: Iterable[Any]) -> list[TimelineEntry]:
    out = []
    for rec in records:
        if rec.kind == "observation":
            out.append(TimelineEntry(at=rec.at, kind="observed", cycle_id=rec.cycle_id,
                                     summary=_observation_summary(rec), change=dict(rec.change or {})))
        elif rec.kind == "decision":
            a = rec.action
            out.append(TimelineEntry(at=rec.at, kind="decision", cycle_id=rec.cycle_id,
                                     summary=_decision_summary(rec), target=rec.target, action=a,
                                     result=rec.result, status=rec.status, detail=rec.detail,
                                     reasons=tuple(a.reasons) if a else ()))
        else:
            out.append(TimelineEntry(at=rec.at, kind=rec.kind, cycle_id=rec.cycle_id,
                                     summary=f"{rec.kind}: {rec.detail or ''}".strip(), target=rec.target,
                                     detail=rec.detail, change=dict(rec.change or {})))
    return out


_NOOP = {"noop"}


def _because(ts: TargetState, timeline: list[TimelineEntry]) -> TimelineEntry | None:
    """The latest decision at this target that led to its current state (else the latest one)."""
    decisions = [(e, e.action) for e in timeline
                 if e.kind == "decision" and e.target == ts.target and e.action is not None]
    for e, action in reversed(decisions):
        if str(action.kind) in _NOOP:
            continue
        if action.to_state == ts.state or str(action.kind) in ("hold", "report"):
            return e
    real = [e for e, action in decisions if str(action.kind) not in _NOOP]
    return real[-1] if real else None


def explain_object(store: StateStore, obj: ObjectState, *, ref: str = "", since: datetime | None = None,
                   targets: Iterable[str] | None = None) -> Explanation:
    timeline = _entries(store.history(anchor=obj.anchor, since=since))
    names = list(targets) if targets is not None else sorted(store.counts_by_state())
    verdicts = []
    for name in names:
        ts = store.get_target_state(name, obj.anchor)
        if ts is None:
            continue
        verdicts.append(Verdict(target=name, state=ts.state, since=ts.since, target_id=ts.target_id,
                                ownership=str(ts.ownership), last_error=ts.last_error,
                                because=_because(ts, timeline)))
    held = [h for h in store.held(include_approved=True, adoptions=None) if h.anchor == obj.anchor]
    for h in held:
        status = "approved" if h.approved_at else "held"
        summary = f"{h.action.kind} at {h.target} {status} by the safety rule: {h.reason}"
        if str(h.action.kind) == "adopt":  # [matching] adopt = "approve"
            summary = (f"adoption of target object {h.action.target_id} at {h.target} "
                       + ("approved: the next cycle adopts it" if h.approved_at else "waits for approve-adoptions"))
        entry = TimelineEntry(at=h.held_at, kind="held", cycle_id=None, target=h.target, action=h.action,
                              summary=summary, reasons=tuple(h.action.reasons), result=status)
        timeline.append(entry)
    timeline.sort(key=lambda e: (e.at is None, e.at or datetime.min))
    try:
        dn_hist = tuple(store.dn_history(obj.source, obj.anchor))
    except Exception:  # an older store without DN history
        dn_hist = ()
    return Explanation(ref=ref or obj.anchor, object=obj, verdicts=tuple(verdicts), timeline=tuple(timeline),
                       dn_history=dn_hist)


def explain(store: StateStore, ref: str, *, since: datetime | None = None) -> list[Explanation]:
    """One Explanation per stored object ``ref`` names (a re-created user has two)."""
    return [explain_object(store, o, ref=ref, since=since) for o in resolve_objects(store, ref)]

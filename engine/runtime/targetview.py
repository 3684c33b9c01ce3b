"""Build the planner's view of each target: answer ``planner.lookups()`` with target calls.

Two strategies:

- per-object lookups (deltas, small pages): ``lookup_by_anchor`` / ``lookup_by_attribute`` for
  each question the planner asks;
- a bulk listing (first sync of a target, large full reads), once per kind and cycle, indexed
  by externalId and matching values, so 20k questions cost one paged listing instead of 20k GETs:
  - ``list_objects(kind)`` when the target offers it: a COMPLETE listing (owned or not), so a
    question with no candidate in it is answered "no candidate" without any lookup;
  - else ``list_owned(kind)``: externalId questions are answered from it; a matching-attribute
    question is answered from it when it holds a candidate, and asked per object otherwise
    (an unowned object would not be in it).

A lookup the target cannot answer (RetryAfter/Terminal) is reported in ``failures``; the planner
then has no candidate for that anchor and must not create it blindly, so the caller defers that
target's creates and adopts of the page (``lookup_failed``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import structlog
from attrs import frozen

from hybridsync.connectors.base import Done, Result, RetryAfter, Target, Terminal
from hybridsync.engine.plan.planner import Lookup, TargetView
from hybridsync.engine.runtime.recording import RecordingTarget, call_key
from hybridsync.engine.core.values import ObjectKind, TargetObject, TargetState

log = structlog.get_logger("hybridsync.targetview")


@frozen
class TargetViewResult:
    view: TargetView
    failures: tuple[str, ...] = ()
    target_level: bool = False  # an auth failure: the whole target is refusing us


class Listing:
    """A cached bulk listing of one target's objects, per kind (one per cycle).

    ``complete``: loaded from ``list_objects`` (every object, owned or not), so an absent
    candidate is a real "no candidate"; from ``list_owned`` only owned objects are in it."""

    def __init__(self) -> None:
        self.by_anchor: dict[tuple[ObjectKind, str], list[TargetObject]] = {}
        self.by_attr: dict[tuple[ObjectKind, str, str], list[TargetObject]] = {}
        self.kinds: set[ObjectKind] = set()
        self.complete_kinds: set[ObjectKind] = set()

    def complete(self, kind: ObjectKind) -> bool:
        return kind in self.complete_kinds

    def load(self, target: Target, kind: ObjectKind, paths: Iterable[str]) -> None:
        """Load ``kind`` once. A listing that fails part-way leaves the kind unloaded (questions
        are then asked per object) and nothing of it indexed."""
        if kind in self.kinds:
            return
        paths = list(paths) + (["displayName"] if kind == ObjectKind.GROUP else [])  # groups: by name (match 3b)
        complete = callable(getattr(target, "list_objects", None))
        items = _complete_listing(target, kind) if complete else list(target.list_owned(kind))
        if items is None:
            return
        for obj in items:
            if obj.external_id:
                self.by_anchor.setdefault((kind, obj.external_id), []).append(obj)
            for p in paths:
                v = obj.attributes.get(p)
                if isinstance(v, str):
                    self.by_attr.setdefault((kind, p, v.lower()), []).append(obj)
        self.kinds.add(kind)
        if complete:
            self.complete_kinds.add(kind)


def _complete_listing(target: Target, kind: ObjectKind) -> list[TargetObject] | None:
    """``target.list_objects(kind)`` as a list, or None when it failed (logged). Through a
    RecordingTarget the listing is recorded as one call, so a replay answers it; a replay target
    answers with the recorded Result."""
    inner = target.inner if isinstance(target, RecordingTarget) else target
    result: Result
    try:
        got = getattr(inner, "list_objects")(kind)  # an optional operation (load() checked it)
        if isinstance(got, Done):
            result = got
        elif isinstance(got, (RetryAfter, Terminal)):
            result = got
        else:
            result = Done(found=tuple(got))
    except Exception as exc:  # a transport error or refusal: fall back to per-object lookups
        result = Terminal(f"{type(exc).__name__}: {exc}"[:300])
    if isinstance(target, RecordingTarget):
        target.recorder.call(target.name, "list_objects", call_key("list_objects", [kind], {}), result)
    if not isinstance(result, Done):
        log.warning("target_listing_failed", target=getattr(target, "name", "?"), kind=str(kind),
                    error=getattr(result, "why", str(result))[:300])
        return None
    return list(result.found)


def build_view(
    target: Target,
    questions: Iterable[Lookup],
    holder_of: Callable[[str, ObjectKind], TargetState | None],
    *,
    listing: Listing | None = None,
) -> TargetViewResult:
    """Answer ``questions`` at ``target``; ``holder_of(target_id, kind) -> TargetState | None``.
    Objects are told apart by kind and id: a server may number users and groups apart."""
    found: dict[tuple[ObjectKind, str], TargetObject] = {}
    failures: list[str] = []
    target_level = False
    for q in questions:
        if listing is not None and q.kind in listing.kinds:
            if q.path == "externalId":
                hits = listing.by_anchor.get((q.kind, q.value), [])
                for obj in hits:
                    found[(ObjectKind(obj.kind), obj.target_id)] = obj
                continue
            matched = listing.by_attr.get((q.kind, q.path, str(q.value).lower()))
            if matched or listing.complete(q.kind):  # a complete listing: no hit is no candidate
                for obj in matched or ():
                    found[(ObjectKind(obj.kind), obj.target_id)] = obj
                continue
        if q.path == "externalId":
            res = target.lookup_by_anchor(q.kind, q.value)
        else:
            res = target.lookup_by_attribute(q.kind, q.path, q.value)
        if isinstance(res, Done):
            for obj in res.found:
                found[(ObjectKind(obj.kind), obj.target_id)] = obj
        else:
            failures.append(f"lookup {q.path}={q.value!r}: {getattr(res, 'why', res)}")
            if getattr(res, "target_level", False):
                target_level = True
                break
    holders: dict[tuple[ObjectKind, str], TargetState] = {}
    for kind, tid in found:
        h = holder_of(tid, kind)
        if h is not None:
            holders[(kind, tid)] = h
    view = TargetView(objects=tuple(found[t] for t in sorted(found)), holders=holders)
    return TargetViewResult(view, tuple(failures), target_level)

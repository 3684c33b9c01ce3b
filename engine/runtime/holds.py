"""The held actions around a cycle: what the threshold has used and may use when a cycle begins,
which approvals the planner sees, and -- in each page's commit -- which holds are stored and
which are closed.

- ``threshold_carry``: per target, the access-removing actions applied within
  ``delete_threshold_window`` (``evidence.window_counts``) and the limit
  (``plan.holds.effective_limit``: ``delete_threshold``, or ``delete_threshold_percent`` of the
  objects hybridsync owns there when smaller).
- ``approvals``: approved holds split into the anchors whose held disable/delete may go on and
  the (anchor, target id) pairs of approved adoptions.
- ``record_holds``: every HOLD of the page is stored (a pending adoption as a held ``adopt``
  naming the target object); a hold is released when what it held was applied after approval,
  or when it became moot (a held object came back or was disabled in AD with approval; a
  pending adoption was created, adopted, disputed, left scope or was deleted in AD instead). An approved adoption whose object
  now matches another target object is released and held anew: the approval was for the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from hybridsync.engine.core.config import SafetyConfig
from hybridsync.engine.core.states import OutcomeResult, State
from hybridsync.engine.core.values import ActionKind
from hybridsync.engine.plan.holds import effective_limit, is_pending_adoption
from hybridsync.engine.plan.inputs import Carry
from hybridsync.engine.runtime.evidence import window_counts

A = ActionKind
# the states of an object hybridsync owns at a target (what delete_threshold_percent is a percent of)
OWNED_STATES = frozenset(str(s) for s in (State.PROVISIONED, State.DISABLED, State.HELD, State.ESCROW,
                                          State.SOFT_DELETED, State.PENDING_CREATE))


def owned_count(counts: Mapping[str, int]) -> int:
    """The objects hybridsync owns at one target, from its ``counts_by_state()`` entry."""
    return sum(n for state, n in counts.items() if state in OWNED_STATES)


def limits(store: Any, safety: SafetyConfig, targets: Iterable[str]) -> dict[str, int]:
    """The threshold's limit per target (only when a percentage is set: else ``delete_threshold``)."""
    names = list(targets)
    if safety.delete_threshold_percent is None:
        return {name: safety.delete_threshold for name in names}
    counts = store.counts_by_state()
    return {name: effective_limit(safety, owned_count(counts.get(name, {}))) for name in names}


def threshold_carry(store: Any, safety: SafetyConfig, targets: Iterable[str], now: datetime) -> Carry:
    """What the threshold has used within the window, and the limit, per target: a cycle's first carry."""
    names = list(targets)
    return Carry(window_counts(store, safety, names, now), limits(store, safety, names))


def approvals(records: Iterable[Any]) -> tuple[frozenset[str], frozenset[tuple[str, str]]]:
    """Approved holds -> (anchors whose disable/delete may go on, (anchor, target id) of adoptions)."""
    anchors: set[str] = set()
    adoptions: set[tuple[str, str]] = set()
    for h in records:
        if h.action.kind == A.ADOPT:
            adoptions.add((h.anchor, h.action.target_id or ""))
        else:
            anchors.add(h.anchor)
    return frozenset(anchors), frozenset(adoptions)


def _settles(action: Any, outcome: Any, h: Any) -> bool:
    """Whether ``outcome`` (of ``action``, for the hold's object) closes the open hold ``h``."""
    ok = outcome.result == OutcomeResult.OK
    if h.action.kind == A.ADOPT:  # a pending adoption: adopted, created, disputed or out of scope instead
        return (action.kind in (A.ADOPT, A.CREATE) and ok) or action.to_state in (State.DISPUTED, State.OUT_OF_SCOPE)
    if h.approved_at is not None and action.kind in (A.DISABLE, A.DELETE) and ok:
        return True  # approved and applied
    new = outcome.state
    return (action.from_state == State.HELD and new is not None and new.state != State.HELD
            and outcome.result in (OutcomeResult.OK, OutcomeResult.NOOP))  # held no longer


def _concerns(action: Any) -> bool:
    """An outcome that may store or close a hold (the others need no look at the held table)."""
    return (action.kind in (A.HOLD, A.ADOPT, A.CREATE, A.DISABLE, A.DELETE) or action.from_state == State.HELD
            or action.to_state in (State.DISPUTED, State.OUT_OF_SCOPE))


def record_holds(store: Any, outcomes: Sequence[tuple[Any, Any]], *, at: datetime,
                 gone: Iterable[str] = ()) -> None:
    """In a page's commit unit: store the page's holds and close those its outcomes settle, and
    the pending adoptions of objects deleted in the source (``gone``: a never-owned object's
    tombstone plans no action that would settle them)."""
    open_by_target: dict[str, dict[str, list[Any]]] = {}
    gone = set(gone)
    if gone:
        for h in store.held(None, include_approved=True, adoptions=True):
            if h.anchor in gone:
                store.release(h.id, at=at)

    def open_holds(target: str, anchor: str) -> list[Any]:
        if target not in open_by_target:
            by_anchor: dict[str, list[Any]] = {}
            for h in store.held(target, include_approved=True, adoptions=None):
                by_anchor.setdefault(h.anchor, []).append(h)
            open_by_target[target] = by_anchor
        return open_by_target[target].get(anchor, [])

    for outcome, _intent in outcomes:
        a = outcome.action
        if not _concerns(a):
            continue
        current = open_holds(a.target, a.anchor)
        if a.kind == A.HOLD:
            why = "; ".join(r.detail or r.rule for r in a.reasons) or "held"
            if is_pending_adoption(a):
                for h in current:  # approved for another target object: that approval is void
                    if h.action.kind == A.ADOPT and h.action.target_id != a.target_id:
                        store.release(h.id, at=at)
                        current.remove(h)
                store.hold(attrs.evolve(a, kind=A.ADOPT), why, at=at)
            else:
                store.hold(a, why, at=at)
            continue  # the cache keeps what this page's other outcomes may settle (read once per page)
        for h in list(current):
            if _settles(a, outcome, h):
                store.release(h.id, at=at)
                current.remove(h)


__all__ = ["OWNED_STATES", "approvals", "limits", "owned_count", "record_holds", "threshold_carry"]

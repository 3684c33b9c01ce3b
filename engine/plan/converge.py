"""What makes a plan converge that the lifecycle table alone does not say (issue 20). Pure.

- ``followup(tp)``: the objects to plan again once ``tp``'s plan is applied -- a reference
  (``manager``) to an object the plan creates or restores resolves only after that; a dispute
  names an object the plan changes (renamed, re-created, soft-deleted), so it may be gone once
  applied (a real dispute stays one, and asks no more); a reference to a DN no stored object has
  yet, of an object the plan writes (a later page of the read may bring it; a plan that then
  changes nothing asks no more). The engine plans them in the same cycle (``Plan.followup``).
- ``strip_group(tp, ...)``: a group's soft delete. A group has no ``active`` flag, so its edge to
  ``soft_deleted`` is ONE ``remove_members`` of every member sent, carrying the new state (a
  failure leaves it in escrow to retry); a group that returns gets them back through its member
  delta (``lifecycle`` module docstring).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from hybridsync.engine.core.states import PRESENT_PLANNED
from hybridsync.engine.core.values import Action, ActionKind, ObjectKind, Reason, TargetState
from hybridsync.engine.plan import lifecycle as lc
from hybridsync.engine.plan.lifecycle import State, Trigger


class TargetPlanner(Protocol):
    """What this module reads and calls of ``target.TargetPlanner``."""

    actions: list[Action]
    planned: dict[str, State]
    waiting: list[tuple[str, str]]
    disputes: list[tuple[str, tuple[str, ...]]]
    unknown: list[str]

    def emit(self, kind: ActionKind, anchor: str, okind: ObjectKind, *, dn: str | None, ts: TargetState | None,
             to: State | None, reasons: list[Reason] | tuple[Reason, ...], attributes: Mapping[str, Any] | None = ...,
             target_id: str | None = ..., members: tuple[str, ...] = ...) -> None: ...

A = ActionKind
__all__ = ["followup", "strip_group"]


def followup(tp: TargetPlanner) -> set[str]:
    """The anchors of ``tp``'s plan to plan again once it is applied (see the module docstring)."""
    out = {a for a, ref in tp.waiting if tp.planned.get(ref) in PRESENT_PLANNED
           and tp.planned.get(a) in PRESENT_PLANNED}
    changed = {a.anchor for a in tp.actions if a.kind not in (A.NOOP, A.REPORT, A.HOLD)}
    out.update(a for a, others in tp.disputes if changed.intersection(others))
    out.update(a for a in tp.unknown if a in changed)
    return out


def strip_group(tp: TargetPlanner, eff: State, trigger: Trigger, anchor: str, kind: ObjectKind, dn: str | None,
                ts: TargetState, reasons: list[Reason]) -> None:
    """The soft delete of a group holding members at the target (see the module docstring)."""
    edge = lc.edge(eff, trigger) if eff != State.SOFT_DELETED else None
    to = edge.dest if edge is not None else State.SOFT_DELETED
    tp.emit(A.REMOVE_MEMBERS, anchor, kind, dn=dn, ts=ts, to=to, members=tuple(sorted(ts.members_sent)),
            reasons=[*reasons, *([edge.reason] if edge is not None else []), Reason(
                "lifecycle.group_soft_delete", f"a soft-deleted group keeps no members: "
                                               f"{len(ts.members_sent)} removed at the target")])

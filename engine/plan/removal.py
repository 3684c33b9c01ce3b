"""What one target's plan does with the objects that leave it: disables, soft deletes, deletes
and the delete threshold. Pure.

``plan_gone(tp, gone)`` is the second half of ``target.TargetPlanner.run``: each object that
left (tombstoned, out of scope, absent from a complete full read) takes its lifecycle edge,
unless the evidence gate, foreign ownership or a recreate that took its target object over
says otherwise; the ones that take access away (the AD disables ``plan_owned`` set aside, the
soft deletes) are counted together against the delete threshold, and over it every one is held
for ``approve-deletes``. ``soft_delete`` takes the edge to ``soft_deleted`` (a group: one
``remove_members`` of every member sent, ``converge.strip_group``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from hybridsync.engine.core.states import UNOWNED
from hybridsync.engine.core.values import ActionKind, ObjectKind, Ownership, Reason, TargetState
from hybridsync.engine.plan import converge, holds
from hybridsync.engine.plan import lifecycle as lc
from hybridsync.engine.plan.lifecycle import State, Trigger

__all__ = ["Candidate", "Gone", "Removing", "disable_attrs", "plan_gone", "soft_delete"]

# an object that left: anchor, kind, dn, stored state, trigger, why
Gone = tuple[str, ObjectKind, str | None, TargetState, Trigger, Reason]
# a disable/delete the threshold decides: anchor, kind, dn, state, trigger, reasons, attributes (None: disable_attrs)
Candidate = tuple[str, ObjectKind, str | None, TargetState, Trigger, list[Reason], "Mapping[str, Any] | None"]


class Removing(converge.TargetPlanner, Protocol):
    """What this module reads and calls of ``target.TargetPlanner``."""

    ad_disables: list[Candidate]
    superseded: set[str]
    gate: str | None


def plan_gone(tp: Removing, gone: list[Gone]) -> None:
    safety = tp.inp.safety
    candidates: list[Candidate] = list(tp.ad_disables)
    for anchor, kind, dn, ts, trigger, why in gone:
        if anchor in tp.superseded:
            continue
        eff = lc.effective_state(ts)
        reasons = [why]
        if eff in UNOWNED:
            tp.take(eff, trigger, anchor, kind, dn, ts, reasons)
            continue
        if ts.ownership == Ownership.FOREIGN:
            tp.emit(ActionKind.REPORT, anchor, kind, dn=dn, ts=ts, to=None, reasons=reasons + [
                Reason("safety.ownership", f"target object {ts.target_id} is foreign: never disabled or deleted")])
            continue
        if tp.gate is not None:
            tp.keep(anchor, kind, dn, ts, reasons + [
                Reason("safety.evidence", f"no deletes or disables: {tp.gate}")])
            continue
        if eff == State.SOFT_DELETED:
            if lc.grace_expired(ts, tp.inp.clock, safety.soft_delete_days):
                tp.take(eff, Trigger.GRACE_EXPIRED, anchor, kind, dn, ts, reasons + [
                    Reason("safety.soft_delete_days", f"soft-deleted since {ts.since.isoformat() if ts.since else '?'}, "
                                                      f"more than {safety.soft_delete_days:g} days")])
            elif kind == ObjectKind.GROUP and ts.members_sent:  # soft-deleted keeping members (before 0.x)
                soft_delete(tp, eff, trigger, anchor, kind, dn, ts, reasons)
            else:
                tp.take(eff, trigger, anchor, kind, dn, ts, reasons)
            continue
        if anchor in tp.t.approved:
            reasons.append(Reason("safety.approved", "an admin approved this held disable"))
            if eff == State.HELD:
                soft_delete(tp, eff, Trigger.APPROVED, anchor, kind, dn, ts, reasons)
            else:
                soft_delete(tp, eff, trigger, anchor, kind, dn, ts, reasons)
            continue
        if eff == State.HELD:
            tp.take(eff, trigger, anchor, kind, dn, ts, reasons + [
                Reason("safety.delete_threshold", "still waiting for approve-deletes")])
            continue
        candidates.append((anchor, kind, dn, ts, trigger, reasons, None))
    total = tp.threshold_used + len(candidates)
    over = total > tp.limit
    for anchor, kind, dn, ts, trigger, reasons, diff in candidates:
        eff = lc.effective_state(ts)
        if over:
            limit = holds.limit_reason(safety, tp.limit)
            held = [Reason("safety.delete_threshold",
                           f"{total} disables/deletes within the window exceed {limit}: held for approve-deletes")]
            others = sorted(set(diff or ()) - {"active"})
            if others:  # an AD-originated disable is held as a whole
                held.append(Reason("safety.delete_threshold",
                                   "the whole update waits, its other attribute changes too: " + ", ".join(others)))
            tp.take(eff, Trigger.OVER_THRESHOLD, anchor, kind, dn, ts, reasons + held)
        else:
            soft_delete(tp, eff, trigger, anchor, kind, dn, ts, reasons,
                        disable_attrs(kind, ts) if diff is None else diff)
    if not over:
        tp.threshold_used = total


def soft_delete(tp: Removing, eff: State, trigger: Trigger, anchor: str, kind: ObjectKind, dn: str | None,
                ts: TargetState, reasons: list[Reason], attributes: Mapping[str, Any] | None = None) -> None:
    """Take ``trigger``'s edge to soft_deleted. A group has no ``active`` flag: its soft delete
    removes every member sent at once (one REMOVE_MEMBERS carrying the new state, so a failure
    leaves it in escrow to retry); a group that returns gets them back through its member delta."""
    if kind != ObjectKind.GROUP or not ts.members_sent:
        tp.take(eff, trigger, anchor, kind, dn, ts, reasons,
                disable_attrs(kind, ts) if attributes is None else attributes)
        return
    converge.strip_group(tp, eff, trigger, anchor, kind, dn, ts, reasons)


def disable_attrs(kind: ObjectKind, ts: TargetState) -> dict[str, Any]:
    if kind == ObjectKind.GROUP or ts.projection.get("active") is False:
        return {}
    return {"active": False}

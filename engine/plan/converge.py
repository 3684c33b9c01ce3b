"""What makes a plan converge that the lifecycle table alone does not say (issue 20). Pure.

- ``followup(tp)``: the objects to plan again once ``tp``'s plan is applied -- a reference
  (``manager``) to an object the plan creates or restores resolves only after that; a dispute
  names an object the plan changes (renamed, re-created, soft-deleted), so it may be gone once
  applied (a real dispute stays one, and asks no more); a reference to a DN no stored object has
  yet, of an object the plan writes (a later page of the read may bring it; a plan that then
  changes nothing asks no more); a group whose member change a page of a full read left to the
  due pass, as it names members the store does not know yet (``target.plan_members``). A
  dispute with an object whose change waits for a follow-up (``after``: its rename waits for a
  ``name_taken`` delete) is planned again with it. The engine plans them in the same cycle
  (``Plan.followup``).
- ``strip_group(tp, ...)``: a group's soft delete. A group has no ``active`` flag, so its edge to
  ``soft_deleted`` is ONE ``remove_members`` of every member sent, carrying the new state (a
  failure leaves it in escrow to retry); a group that returns gets them back through its member
  delta (``lifecycle`` module docstring).
- ``name_taken(tp, ...)``: an owned object whose update met a 409 (it is in escrow, due at once)
  and whose diff renames its unique name (``name_paths``) onto a name the target view shows held
  by another object. A soft-deleted target object of ours (the name was freed in AD: its object
  was deleted or left scope) is deleted early (``name_taken`` edge, counted by the delete
  threshold) and the rename follows once that is applied (a follow-up); any other holder -- not
  ours, live, or over the threshold -- makes the rename *disputed*: a report naming both sides,
  the update not sent again (``status`` lists it as stuck). ``name_lookups`` asks the target who
  holds those names, for escrow objects due at once only (``conflicted``: the 409 came first,
  so renames meet no extra lookup, nor do retries of other failures).
- ``name_cycle(tp, ...)``: a holder planned in this plan goes first and the rename is planned
  again after it -- unless the renames close a cycle (a swap, a rotation): each an escrow object
  of ours whose rename met a 409 onto the name the next one holds. Then the first of the cycle
  (the least anchor) takes a temporary name (``temporary_name``: valid wherever the name is) in
  an UPDATE planned to ``escrow`` (reason ``converge.name_cycle``): applied, it stays in escrow,
  due at once (``outcome.applied_state``), so the others take their names in the follow-up, and
  it takes its own after them; a crash or a failed step in between leaves it due for the next
  cycle. A cycle through an object not ours, not in this plan, or not renamed is no cycle here:
  today's outcome (waiting for it, or disputed) stands.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Protocol

from hybridsync.engine.core.states import PRESENT_PLANNED
from hybridsync.engine.core.values import Action, ActionKind, ObjectKind, Ownership, Reason, TargetState
from hybridsync.engine.plan import lifecycle as lc
from hybridsync.engine.plan import match
from hybridsync.engine.plan.inputs import make_context
from hybridsync.engine.plan.lifecycle import State, Trigger


class TargetPlanner(Protocol):
    """What this module reads and calls of ``target.TargetPlanner``."""

    actions: list[Action]
    planned: dict[str, State]
    waiting: list[tuple[str, str]]
    disputes: list[tuple[str, tuple[str, ...]]]
    unknown: list[str]
    after: list[str]
    deferred: list[str]
    threshold_used: int
    limit: int
    batch: frozenset[str]
    objects: tuple[Any, ...]

    @property
    def inp(self) -> Any: ...

    @property
    def t(self) -> Any: ...

    def emit(self, kind: ActionKind, anchor: str, okind: ObjectKind, *, dn: str | None, ts: TargetState | None,
             to: State | None, reasons: list[Reason] | tuple[Reason, ...], attributes: Mapping[str, Any] | None = ...,
             target_id: str | None = ..., members: tuple[str, ...] = ...) -> None: ...

    def keep(self, anchor: str, okind: ObjectKind, dn: str | None, ts: TargetState | None,
             reasons: list[Reason]) -> None: ...

    def take(self, eff: State, trigger: Trigger, anchor: str, okind: ObjectKind, dn: str | None,
             ts: TargetState | None, reasons: list[Reason], attributes: Mapping[str, Any] | None = ...,
             target_id: str | None = ...) -> None: ...

A = ActionKind
__all__ = ["followup", "name_cycle", "name_lookups", "name_paths", "name_taken", "strip_group", "temporary_name"]
MAX_CYCLE = 64  # objects in one rename cycle followed at most (a longer one stays disputed-like: waits)
USER_NAMES = ("userName", "userPrincipalName")  # unique at the target, where the mapping has them


def followup(tp: TargetPlanner) -> set[str]:
    """The anchors of ``tp``'s plan to plan again once it is applied (see the module docstring)."""
    out = {a for a, ref in tp.waiting if tp.planned.get(ref) in PRESENT_PLANNED
           and tp.planned.get(a) in PRESENT_PLANNED}
    changed = {a.anchor for a in tp.actions if a.kind not in (A.NOOP, A.REPORT, A.HOLD)}
    changed.update(tp.after)  # changed by their follow-up (a rename waiting for a name_taken delete)
    out.update(a for a, others in tp.disputes if changed.intersection(others))
    out.update(a for a in tp.unknown if a in changed)
    out.update(tp.after)
    out.update(tp.deferred)  # a group's member change left to the due pass (target.plan_members)
    return out


def name_paths(t: Any, kind: ObjectKind | str) -> tuple[str, ...]:
    """The paths whose value the target keeps unique for ``kind`` at target input ``t``."""
    if str(kind) == "group":
        return (match.GROUP_NAME,) if match.group_names(t.config.kind) else ()
    paths = t.mapping.paths(kind)
    return tuple(p for p in USER_NAMES if p in paths)


def name_lookups(t: Any, kind: ObjectKind, values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(path, value) to look up at ``t`` for an escrow object renamed onto a name (see above)."""
    out = []
    for path in name_paths(t, kind):
        v = values.get(path)
        if isinstance(v, (list, tuple)):
            v = v[0] if v else None
        if v is not None and not isinstance(v, bool) and str(v).strip():
            out.append((path, str(v)))
    return out


def conflicted(ts: TargetState | None) -> bool:
    """An escrow state re-planned at once (``reconcile``: a 409 is not waited for -- its retry is
    due when it failed), the only escrow states whose names are looked up."""
    return (ts is not None and lc.effective_state(ts) == State.ESCROW and ts.next_retry_at is not None
            and ts.since is not None and ts.next_retry_at <= ts.since)


def name_taken(tp: TargetPlanner, anchor: str, kind: ObjectKind, dn: str | None, ts: TargetState,
               diff: Mapping[str, Any], reasons: list[Reason]) -> bool:
    """Plan an escrow object's rename onto a held name (see the module docstring); False: no clash."""
    if lc.effective_state(ts) != State.ESCROW or not ts.target_id:  # the view shows a holder if asked
        return False
    fam = "group" if str(kind) == "group" else "user"
    for path in name_paths(tp.t, kind):
        if path not in diff or (key := match.key(diff[path])) is None:
            continue
        found = [o for o in tp.t.view.objects if o.target_id != ts.target_id and match.family(o.kind) == fam
                 and match.key(o.attributes.get(path)) == key]
        if not found:
            continue
        obj = found[0]
        what = f"{path}={match.first(diff[path])!r}"
        holder = tp.t.view.holders.get((obj.kind, obj.target_id))
        if holder is not None and holder.anchor in tp.batch:  # its own plan comes first: then again
            ring = name_cycle(tp, anchor, path, obj.target_id, holder)
            if ring is not None and anchor == min(ring):  # a swap or rotation of ours: a temporary name
                temp = temporary_name(diff[path], anchor)
                tp.emit(A.UPDATE, anchor, kind, dn=dn, ts=ts, to=State.ESCROW, attributes={path: temp},
                        reasons=reasons + [Reason("converge.name_cycle", f"{what} is held by {holder.anchor}, and "
                                                  f"the renames of {' -> '.join(ring)} each take the next one's name: "
                                                  f"renamed to the temporary {path}={temp!r} first (freeing its own), "
                                                  "to its name once the others have theirs")])
                tp.planned.pop(anchor, None)  # due again at once (escrow); as a member it counts as stored
                tp.after.append(anchor)
                return True
            why = f" (a cycle of renames {' -> '.join(ring)}: {min(ring)} takes a temporary name)" if ring else ""
            tp.keep(anchor, kind, dn, ts, reasons + [Reason(
                "converge.name_taken", f"{what} is held by {holder.anchor}, planned in this plan: planned again "
                                       f"after it{why}")])
            tp.after.append(anchor)
            return True
        ours = (holder is not None and holder.anchor != anchor and len(found) == 1
                and holder.ownership in (Ownership.CREATED, Ownership.ADOPTED))
        if ours and lc.effective_state(holder) == State.SOFT_DELETED and tp.threshold_used + 1 <= tp.limit:
            assert holder is not None
            tp.threshold_used += 1
            tp.take(State.SOFT_DELETED, Trigger.NAME_TAKEN, holder.anchor, holder.kind, None, holder, [Reason(
                "converge.name_taken", f"{what} of soft-deleted target object {obj.target_id} is taken by "
                f"{anchor} (renamed in AD): deleted before its grace period ends, counted by the delete threshold")])
            tp.keep(anchor, kind, dn, ts, reasons + [Reason(
                "converge.name_taken", f"{what} is held by target object {obj.target_id} of soft-deleted "
                f"{holder.anchor}: deleted first, this update follows in the same cycle")])
            tp.after.append(anchor)
            return True
        if holder is None:
            side = "which hybridsync does not own"
        elif ours and lc.effective_state(holder) == State.SOFT_DELETED:
            side = (f"soft-deleted {holder.anchor}'s: deleting it early would exceed the delete threshold "
                    f"({tp.limit}), approve-deletes or wait for its grace period")
        else:
            side = f"held by {holder.anchor} in state {holder.state}"
        tp.emit(A.REPORT, anchor, kind, dn=dn, ts=ts, to=None, reasons=reasons + [Reason(
            "match.disputed", f"{what} is the name of target object {obj.target_id}, {side}: the rename is "
            "disputed, not sent again until that changes")])
        tp.disputes.append((anchor, (holder.anchor if holder is not None else obj.target_id, obj.target_id)))
        return True
    return False


def temporary_name(value: Any, anchor: str) -> str:
    """The temporary unique name of ``anchor`` on its way to ``value`` (a rename cycle): ``value``
    with ``~`` and 8 hex digits of the anchor's SHA-256 -- before the ``@`` of a UPN-like value, so
    the suffix (a verified domain at Entra) stays; ``~`` and hex are valid in a UPN's local part, a
    SCIM ``userName`` and a ``displayName``. Deterministic: a retry after a crash sends the same."""
    text = str(match.first(value))
    tag = "~" + hashlib.sha256(anchor.encode()).hexdigest()[:8]
    local, at, domain = text.rpartition("@")
    return f"{local}{tag}@{domain}" if at and local else text + tag


def name_cycle(tp: TargetPlanner, anchor: str, path: str, held: str, holder: TargetState) -> list[str] | None:
    """The anchors of a cycle of renames through ``anchor`` (``anchor`` first), each of an escrow
    object of ours in this plan whose rename met a 409 (``conflicted``) onto the name the next one
    holds (target object ``held``, the ``holder``), the last onto ``anchor``'s; None: no cycle."""
    objs: dict[str, Any] | None = None
    ring = [anchor]
    ctx = make_context(tp.inp, lambda _dn: None)
    while len(ring) <= MAX_CYCLE:
        if holder.anchor == anchor:
            return ring
        if (holder.anchor in ring or holder.anchor not in tp.batch or not conflicted(holder)
                or holder.ownership not in (Ownership.CREATED, Ownership.ADOPTED)):
            return None
        ring.append(holder.anchor)
        objs = objs if objs is not None else {o.anchor: o for o in tp.objects}
        src = objs.get(holder.anchor)
        if src is None or src.deleted:
            return None
        want = match.key(tp.t.mapping.project(src, ctx).values.get(path))
        if want is None or want == match.key(holder.projection.get(path)):
            return None  # not renamed at all
        fam = match.family(holder.kind)
        found = [o for o in tp.t.view.objects if o.target_id != holder.target_id and match.family(o.kind) == fam
                 and match.key(o.attributes.get(path)) == want]
        nxt = tp.t.view.holders.get((found[0].kind, found[0].target_id)) if len(found) == 1 else None
        if nxt is None:
            return None
        holder, held = nxt, found[0].target_id
    return None


def strip_group(tp: TargetPlanner, eff: State, trigger: Trigger, anchor: str, kind: ObjectKind, dn: str | None,
                ts: TargetState, reasons: list[Reason]) -> None:
    """The soft delete of a group holding members at the target (see the module docstring)."""
    edge = lc.edge(eff, trigger) if eff != State.SOFT_DELETED else None
    to = edge.dest if edge is not None else State.SOFT_DELETED
    tp.emit(A.REMOVE_MEMBERS, anchor, kind, dn=dn, ts=ts, to=to, members=tuple(sorted(ts.members_sent)),
            reasons=[*reasons, *([edge.reason] if edge is not None else []), Reason(
                "lifecycle.group_soft_delete", f"a soft-deleted group keeps no members: "
                                               f"{len(ts.members_sent)} removed at the target")])

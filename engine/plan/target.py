"""The planner's work for one target: lifecycle triggers, matching, safety. Pure.

``TargetPlanner`` is run by ``planner.plan`` once per target with the objects already
deduplicated, sorted and scope-decided; attribute diffs are in ``plan.diff``, group member
deltas in ``plan.members``, the objects that leave (disables, soft deletes, deletes, the delete
threshold) in ``plan.removal``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hybridsync.engine.plan import lifecycle as lc
from hybridsync.engine.core.states import GONE, LIVE, PRESENT_PLANNED, PRESENT_STORED, UNOWNED
from hybridsync.engine.plan.lifecycle import State, Trigger
from hybridsync.engine.mapping.projection import is_reference_path
from hybridsync.engine.plan.match import (ADOPT, CREATE, DISPUTED, NO_MATCH, RECREATE, MatchResult, TargetIndex,
                                     group_names, resolve_conflicts)
from hybridsync.engine.plan.diff import attribute_diff, changed_reason, counted_reason, disabled_in_ad
from hybridsync.engine.plan.inputs import PlanInput, TargetInput, make_context
from hybridsync.engine.plan import converge, holds, removal
from hybridsync.engine.plan.members import defers_members, desired_members, stored_present, unread_members
from hybridsync.engine.plan.required import missing_required
from hybridsync.engine.core.dn import normalize_dn
from hybridsync.engine.plan.scope import ScopeDecision
from hybridsync.engine.core.values import Action, ActionKind, ObjectKind, Ownership, Reason, SourceObject, TargetState

__all__ = ["LIVE", "PRESENT_PLANNED", "PRESENT_STORED", "UNOWNED", "TargetPlanner", "stored_present"]

A = ActionKind
_DIFF_KINDS = (A.UPDATE, A.RESTORE, A.DISABLE)
_DISABLED_IN_AD = Reason("source.userAccountControl", "the account is disabled in AD")
_TAKES_ACCESS = (State.PROVISIONED, State.ESCROW, State.HELD)  # an AD disable from these takes access away
# an object planned as present: (object, its kind, stored state, scope decision)
Present = tuple[SourceObject, ObjectKind, TargetState | None, ScopeDecision]


class TargetPlanner:
    """Mutable scratch space for one target's plan; the outputs are frozen Actions."""

    def __init__(self, inp: PlanInput, t: TargetInput, decisions: Mapping[str, ScopeDecision],
                 objects: tuple[SourceObject, ...], by_guid: Mapping[str, SourceObject]):
        self.inp, self.t, self.cfg = inp, t, t.config
        self.decisions, self.objects, self.by_guid = decisions, objects, by_guid
        self.types = frozenset(self.cfg.object_types)
        self.actions: list[Action] = []
        self.errors: list[Any] = []
        self.planned: dict[str, State] = {}
        self.projections: set[str] = set()  # anchors projected without error in this plan
        self.threshold_used = inp.carry.threshold_used.get(self.cfg.name, 0)
        self.limit = inp.carry.limits.get(self.cfg.name, inp.safety.delete_threshold)
        self.ad_disables: list[removal.Candidate] = []  # AD-originated disables, decided with the threshold
        self.superseded: set[str] = set()  # predecessors whose target object a recreate takes over
        self.reference_gone = False  # set by resolve_reference during one projection
        self.waiting: list[tuple[str, str]] = []  # (object, referenced anchor not provisioned yet)
        self.disputes: list[tuple[str, tuple[str, ...]]] = []  # (disputed anchor, the other sides)
        self.unknown: list[str] = []  # objects whose reference names a DN no stored object has
        self.batch = frozenset(o.anchor for o in objects) | inp.absent  # the anchors this plan decides
        self.after: list[str] = []  # objects to plan again once this plan is applied (converge.name_taken)
        self.deferred: list[str] = []  # groups whose member change waits for the due pass (plan_members)
        self.projecting: str | None = None  # the anchor being projected (for ``waiting``)
        self.reanchored: dict[str, str] = {}  # predecessor anchor -> the anchor that took it over
        self.leaving: frozenset[str] = frozenset()  # live anchors this plan soft-deletes (set by run)
        read = inp.read
        self.gate: str | None = None
        if read.mode == "full" and read.final:
            if not read.complete:
                self.gate = "the full read did not complete"
            elif (read.count is not None and read.last_complete_count
                  and read.count < inp.safety.min_full_read_fraction * read.last_complete_count):
                self.gate = (f"the full read returned {read.count} objects, fewer than "
                             f"{inp.safety.min_full_read_fraction:g} x {read.last_complete_count} of the last complete read")
        self.absence_ok = read.mode == "full" and read.final and read.complete and self.gate is None

    # -- helpers ---------------------------------------------------------------------------
    def state(self, anchor: str) -> TargetState | None:
        return self.t.states.get(anchor)

    def emit(self, kind: ActionKind, anchor: str, okind: ObjectKind, *, dn: str | None, ts: TargetState | None,
             to: State | None, reasons: list[Reason] | tuple[Reason, ...], attributes: Mapping[str, Any] | None = None,
             target_id: str | None = None, members: tuple[str, ...] = ()) -> None:
        from_state = ts.state if ts is not None else State.NEW
        self.actions.append(Action(kind=kind, target=self.cfg.name, anchor=anchor, object_kind=okind,
                                   target_id=target_id if target_id is not None else (ts.target_id if ts else None),
                                   attributes=attributes or {}, members=members, from_state=from_state,
                                   to_state=to if to is not None else from_state,
                                   reasons=tuple(reasons), dn=dn))
        if to is not None and kind != A.REPORT:
            self.planned[anchor] = to

    def keep(self, anchor: str, okind: ObjectKind, dn: str | None, ts: TargetState | None,
             reasons: list[Reason]) -> None:
        """A NOOP that leaves the state as it is: as a member it counts as its stored state says."""
        self.emit(A.NOOP, anchor, okind, dn=dn, ts=ts, to=None, reasons=reasons)

    def take(self, eff: State, trigger: Trigger, anchor: str, okind: ObjectKind, dn: str | None,
             ts: TargetState | None, reasons: list[Reason], attributes: Mapping[str, Any] | None = None,
             target_id: str | None = None) -> None:
        edge = lc.edge(eff, trigger)
        if edge is None:
            self.keep(anchor, okind, dn, ts, reasons + [Reason("lifecycle.noop", f"{eff} --{trigger}--> changes nothing")])
            return
        kind = edge.action or A.NOOP
        reasons = [*reasons, edge.reason]
        if kind in _DIFF_KINDS and not attributes:
            kind = A.NOOP
        self.emit(kind, anchor, okind, dn=dn, ts=ts, to=edge.dest, reasons=reasons, attributes=attributes,
                  target_id=target_id)

    def resolve_reference(self, dn: str) -> str | None:
        try:
            key = normalize_dn(dn)
        except ValueError:
            return None
        anchor = self.inp.refs.anchor_by_dn.get(key)
        if anchor is None:
            self.reference_gone = True  # no such object (deleted): clear the reference
            if self.projecting is not None:  # ... or one a later page of this read brings
                self.unknown.append(self.projecting)
            return None
        ts = self.state(anchor)
        if anchor in self.leaving:
            self.reference_gone = True  # soft-deleted by this very plan: clear the reference
            return None
        if ts is not None and stored_present(ts):
            return ts.target_id
        if ts is not None and lc.effective_state(ts) in GONE:
            self.reference_gone = True  # referenced object left the target: clear the reference
        if self.projecting is not None:
            self.waiting.append((self.projecting, anchor))
        return None  # not provisioned yet: leave the path alone, set it once it exists

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> None:
        present: list[Present] = []
        gone: list[removal.Gone] = []
        clock = self.inp.clock
        seen: set[str] = set()
        state = self.t.states.get
        types = self.types
        gs = self.inp.group_scope
        for obj in self.objects:
            seen.add(obj.anchor)
            ts = state(obj.anchor)
            kind = obj.kind or (ts.kind if ts else None)
            if kind is None:
                continue
            targeted = kind in types  # a StrEnum hashes and compares as its name
            if not targeted and ts is None:
                continue
            if ts is not None and ts.state == State.ESCROW and ts.next_retry_at and ts.next_retry_at > clock:
                self.keep(obj.anchor, kind, obj.dn, ts, [
                    Reason("lifecycle.escrow", f"retry {ts.retry_count} waits until {ts.next_retry_at.isoformat()}")])
                continue
            if obj.deleted:
                if ts is not None:
                    gone.append((obj.anchor, kind, obj.dn, ts, Trigger.TOMBSTONED,
                                 Reason("safety.evidence", "tombstone: the object was deleted in the source")))
                continue
            decision = self.decisions[obj.anchor]
            if not targeted:
                decision = ScopeDecision(False, "target.object_types",
                                         f"{kind} is not among target {self.cfg.name}'s object_types")
            if not decision.in_scope:
                if ts is None:
                    self.emit(A.NOOP, obj.anchor, kind, dn=obj.dn, ts=None, to=State.OUT_OF_SCOPE,
                              reasons=[decision.reason(), Reason("lifecycle.new->out_of_scope", "left_scope")])
                elif (blocked := gs.blocks(decision) if gs is not None else None) is not None:
                    self.emit(A.REPORT, obj.anchor, kind, dn=obj.dn, ts=ts, to=None, reasons=[decision.reason(), Reason(
                        "safety.scope_groups", f"a scoping group is not what the config names: {blocked}; "
                        "no scope-exit disable through scope.groups until it is")])  # shown in explain
                else:
                    gone.append((obj.anchor, kind, obj.dn, ts, Trigger.LEFT_SCOPE, decision.reason()))
                continue
            present.append((obj, kind, ts, decision))
        for anchor in sorted(self.inp.absent):
            ts = self.state(anchor)
            if anchor in seen or ts is None:
                continue
            if not self.absence_ok:
                self.keep(anchor, ts.kind, None, ts, [Reason(
                    "safety.evidence", "absence is evidence only in the final plan of a complete full read"
                    + (f": {self.gate}" if self.gate else ""))])
                continue
            gone.append((anchor, ts.kind, None, ts, Trigger.VANISHED,
                         Reason("safety.evidence", "absent from a complete full read")))
        # leaving in this plan: a re-created object read in the same delta may take their target object over
        self.leaving = frozenset(g[0] for g in gone if lc.effective_state(g[3]) in LIVE
                                 and g[3].ownership != Ownership.FOREIGN and self.gate is None)
        self.plan_present(present)
        removal.plan_gone(self, gone)
        self.plan_members(present)

    def plan_present(self, present: list[Present]) -> None:
        inp = self.inp
        ctx = make_context(inp, self.resolve_reference)
        projected: list[tuple[SourceObject, ObjectKind, TargetState | None, ScopeDecision, State, Mapping[str, Any]]] = []
        index: TargetIndex | None = None
        for obj, kind, ts, decision in present:
            self.reference_gone = False
            self.projecting = obj.anchor
            proj = self.t.mapping.project(obj, ctx)
            errors = proj.errors or missing_required(self.cfg.kind, self.t.mapping, kind, proj.values,
                                                     obj.dn or obj.anchor, creating=lc.effective_state(ts) in UNOWNED)
            if errors:
                for err in errors:
                    self.errors.append((obj, err))
                self.emit(A.REPORT, obj.anchor, kind, dn=obj.dn, ts=ts, to=None, reasons=[
                    decision.reason()] + [Reason(f"mapping.{getattr(e, 'attribute', '') or ''}".rstrip("."), str(e))
                                          for e in errors])
                continue
            values = proj.values
            if self.reference_gone:
                held = (ts.projection if ts is not None and ts.target_id
                        else dict.fromkeys(self.t.mapping.paths(kind), ""))
                stale = [p for p in held if is_reference_path(p) and p not in values and held[p] is not None]
                if stale:
                    values = {**values, **{p: None for p in stale}}
            self.projections.add(obj.anchor)
            eff = lc.effective_state(ts)
            if eff in UNOWNED:  # planned below, once every new object is matched
                if index is None:
                    index = TargetIndex(self.t.view.objects, self.cfg.matching, self.t.view.holders,
                                        group_names=group_names(self.cfg.kind), leaving=self.leaving)
                if index.empty:  # nothing can match nor be disputed: a create, planned now
                    self.plan_unowned(obj, kind, ts, decision, eff, values, NO_MATCH)
                else:
                    projected.append((obj, kind, ts, decision, eff, values))
            else:  # an object the target holds for us: planned now, its projection freed at once
                assert ts is not None  # only an unknown anchor is unowned
                self.plan_owned(obj, kind, ts, decision, eff, values)
        matches: dict[str, MatchResult] = {}
        for obj, kind, ts, _d, eff, values in projected:
            assert index is not None
            matches[obj.anchor] = index.find(obj.anchor, kind, values,
                                             restore_recreated=inp.safety.restore_recreated)
        matches = resolve_conflicts(matches)
        present_anchors = self.projections  # every object projected without error
        for anchor in sorted(a for a, r in matches.items() if r.predecessor is not None):
            res = matches[anchor]
            pred = res.predecessor
            assert pred is not None
            if pred.anchor in present_anchors:
                matches[anchor] = MatchResult(DISPUTED, res.reasons + (Reason(
                    "match.disputed", f"predecessor {pred.anchor} is itself back in scope"),),
                    res.target, others=(pred.anchor,))
            else:
                self.superseded.add(pred.anchor)
                self.reanchored[pred.anchor] = anchor
        for obj, kind, ts, decision, eff, values in projected:
            self.plan_unowned(obj, kind, ts, decision, eff, values, matches[obj.anchor])

    def plan_unowned(self, obj: SourceObject, kind: ObjectKind, ts: TargetState | None, decision: ScopeDecision, eff: State,
                     values: Mapping[str, Any], match: MatchResult) -> None:
        disabled = kind == ObjectKind.USER and disabled_in_ad(obj)
        reasons = [decision.reason()]
        if disabled:
            reasons.append(_DISABLED_IN_AD)
        self.plan_new(obj, kind, ts, eff, values, match, disabled, reasons)

    def plan_owned(self, obj: SourceObject, kind: ObjectKind, ts: TargetState, decision: ScopeDecision, eff: State,
                   values: Mapping[str, Any]) -> None:
        """An object in scope whose target object is ours: update, restore, disable or no-op."""
        disabled = kind == ObjectKind.USER and disabled_in_ad(obj)
        reasons = [decision.reason()]
        if disabled:
            reasons.append(_DISABLED_IN_AD)
        if disabled:
            trigger = Trigger.DISABLED_IN_AD
        elif eff == State.DISABLED:
            trigger = Trigger.ENABLED_IN_AD
        elif eff in (State.SOFT_DELETED, State.HELD):
            trigger = Trigger.RETURNED
        else:
            trigger = Trigger.SEEN_IN_SCOPE
        diff = attribute_diff(values, ts.projection)
        if diff:
            reasons += [changed_reason(p) for p in diff]
            if converge.name_taken(self, obj.anchor, kind, obj.dn, ts, diff, reasons):
                return  # renamed onto a held name: its holder goes first, or it is disputed
        if disabled and eff in _TAKES_ACCESS and diff.get("active") is False:  # takes access away: counted
            if obj.anchor in self.t.approved:
                reasons.append(Reason("safety.approved", "an admin approved this held disable"))
            elif eff == State.HELD:
                self.emit(A.HOLD, obj.anchor, kind, dn=obj.dn, ts=ts, to=State.HELD, reasons=reasons + [
                    Reason("safety.delete_threshold", "still waiting for approve-deletes")])
                return
            else:
                self.ad_disables.append((obj.anchor, kind, obj.dn, ts, trigger, reasons, diff))
                return
        self.take(eff, trigger, obj.anchor, kind, obj.dn, ts, reasons, diff)

    def plan_new(self, obj: SourceObject, kind: ObjectKind, ts: TargetState | None, eff: State, values: Mapping[str, Any],
                 match: MatchResult, disabled: bool, reasons: list[Reason]) -> None:
        reasons = reasons + list(match.reasons)
        if match.outcome == CREATE:
            attrs = {p: values[p] for p in sorted(values) if values[p] is not None}
            reasons.append(counted_reason(kind, len(attrs)))
            self.take(eff, Trigger.DISABLED_IN_AD if disabled else Trigger.SEEN_IN_SCOPE, obj.anchor, kind,
                      obj.dn, ts, reasons, attrs)
            return
        if match.outcome in (ADOPT, RECREATE):
            attrs = dict(sorted(values.items()))
            attrs["externalId"] = obj.anchor
            trig = Trigger.MATCHED if match.outcome == ADOPT else Trigger.RECREATED
            assert match.target is not None  # an adopt names its target object
            tid = match.target.target_id
            if match.outcome == ADOPT and holds.adoption_waits(self.inp.safety, match.reasons):
                if (obj.anchor, tid) not in self.t.adoptions:
                    self.actions.append(holds.pending_adoption(self.cfg.name, obj.anchor, kind, obj.dn, ts, tid,
                                                               attrs, reasons))
                    return
                reasons.append(Reason("safety.adopt_approval", f"an admin approved adopting {tid}"))
            self.take(eff, trig, obj.anchor, kind, obj.dn, ts, reasons, attrs, target_id=match.target.target_id)
            pred = match.predecessor
            if pred is not None:
                self.take(State(pred.state), Trigger.SUPERSEDED, pred.anchor, pred.kind, None, pred, [
                    Reason("match.recreated", f"target object {pred.target_id} now belongs to {obj.anchor}")])
            return
        self.take(eff, Trigger.CONFLICT, obj.anchor, kind, obj.dn, ts, reasons)
        self.disputes.append((obj.anchor, match.others))

    def plan_members(self, present: list[Present]) -> None:
        groups = {obj.anchor for obj, kind, _ts, _d in present if kind == ObjectKind.GROUP}
        if not groups:
            return
        acts = {a.anchor: a for a in self.actions if a.anchor in groups}  # the last action of each group
        defer = defers_members(self.inp)  # a page of a full read with more to come
        for obj, kind, ts, _d in present:
            if kind != ObjectKind.GROUP:
                continue
            act = acts.get(obj.anchor)
            if act is None or act.kind in (A.REPORT, A.HOLD) or self.planned.get(obj.anchor) not in PRESENT_PLANNED:
                continue
            if defer and unread_members(obj, self.by_guid, self.inp.refs):
                self.deferred.append(obj.anchor)  # a later page may bring more: all of them in the due pass
                continue
            if act.kind == A.ADOPT:
                pred = self.t.view.holders.get((act.object_kind, act.target_id or ""))
                sent = pred.members_sent if pred is not None and pred.anchor != obj.anchor else frozenset()
            else:
                sent = ts.members_sent if ts is not None else frozenset()
            if self.reanchored:  # a member re-created this plan is the same target object
                sent = frozenset(self.reanchored.get(m, m) for m in sent)
            want = desired_members(self, obj)
            add, remove = tuple(sorted(want - sent)), tuple(sorted(sent - want))
            target_id = act.target_id
            mode = self.cfg.nested_groups
            if add:
                self.emit(A.ADD_MEMBERS, obj.anchor, kind, dn=obj.dn, ts=ts, to=self.planned[obj.anchor],
                          members=add, target_id=target_id, reasons=[
                              Reason("mapping.members", f"{len(add)} in-scope provisioned members to add (nested_groups={mode})")])
            if remove:
                self.emit(A.REMOVE_MEMBERS, obj.anchor, kind, dn=obj.dn, ts=ts, to=self.planned[obj.anchor],
                          members=remove, target_id=target_id, reasons=[
                              Reason("mapping.members", f"{len(remove)} members no longer in scope, provisioned or "
                                                        f"direct (nested_groups={mode}) to remove")])

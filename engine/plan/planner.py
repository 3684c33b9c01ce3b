"""The pure planner: values in, a plan of frozen actions with reason chains out.

No I/O here: no LDAP, HTTP, SQLite, connectors or store, and nothing is pulled while planning:
the planner reads plain values only. One page is planned in three steps, like a sans-I/O
protocol core:

1. ``needs.questions(inp)`` names the stored facts the plan will read (states, references,
   kinds); the engine answers them from its store in bulk (``needs.answer``) and asks again
   until nothing is missing;
2. ``lookups(inp)`` names the target questions (soft match); the engine answers them in a
   ``TargetView`` per target;
3. ``plan(inp)`` returns the actions and a ``carry`` for the next plan of the cycle.

The engine applies the actions in order and records each outcome with the one outcome rule
(``engine.plan.outcome``).

What the engine must pass (``PlanInput``)
-----------------------------------------
- ``objects``: the objects to evaluate, as *full merged* ``SourceObject`` values (``merge()``
  output; tombstones with ``deleted=True``). Order does not matter; an anchor appearing twice is
  deduplicated deterministically (highest usn wins). Besides the read's objects, include:
  stored objects due for a time-based check (TargetStates in ``soft_deleted`` with
  ``since <= lifecycle.grace_cutoff(clock, soft_delete_days)``, escrow items whose
  ``next_retry_at <= clock``, approved held items) as ``ObjectState.as_source_object()``; objects
  found absent by a complete full read must be stored as deleted so they come back as tombstones.
  When a member's state changes (created, soft-deleted, restored), include the groups holding it
  (``Store.groups_with_member``) in a later plan so their member deltas follow.
- ``absent``: anchors absent from a *complete* full read (only in the last plan of that read).
- ``read``: ``ReadEvidence`` -- the mode, whether the full read completed, this read's object
  count and the last complete read's count. Deletes/disables from absence need a complete,
  not-suspicious full read; a full read whose final plan is incomplete or suspiciously small
  gets no deletes/disables at all.
- ``refs``: ``References`` resolving member and manager references: plain mappings holding the
  answers to ``needs.questions`` (a key answered "not stored" maps to None).
- ``group_scope``: from ``scope.expand_group_scope(...)`` when the source scopes by groups,
  else None. Recompute it when the batch changes a group inside the closure.
- ``targets``: one ``TargetInput`` per target: config, compiled mapping, the ``TargetState`` of
  every involved anchor as ``needs.questions`` asked (the objects, their members, referenced
  objects, the absent ones), a ``TargetView`` answering the ``lookups()`` for anchors the target
  state doesn't know, and the approved held anchors.
- ``carry``: the previous plan's ``Plan.carry`` in the same cycle (the disables/deletes already
  planned per target), so a full read planned page by page shares one threshold.
- ``safety``, ``clock`` (aware datetime) and ``seed`` (for mapping functions).

Paging: plan each page of a full read with ``final=False`` (absence is never evidence there),
then a last plan with ``final=True``, ``absent`` and the WHOLE read's counts. A delta is one
plan; its cost is proportional to the objects in it (and their members), not to the directory.

Rules worth knowing when wiring it:

- ``delete_threshold`` is all-or-nothing per plan: if the carried threshold used plus this plan's
  disables from scope loss / tombstone / absence / AD's disabled flag exceed the limit (``carry.limits``),
  all of this plan's become HOLD
  (creates and updates go on); approved anchors bypass it. Hard DELETEs after
  ``soft_delete_days`` are not counted again (their disable was). Once a plan held disables
  over the threshold, its ``carry`` makes every later plan of the cycle hold too.
- References (``manager``) resolve through ``refs.anchor_by_dn`` to the STORED state of the
  referenced anchor (``needs.questions`` asks for it): a manager created in this
  plan is set by the next plan of that object, which ``Plan.followup()`` asks for (the engine
  plans it again in the same cycle); a reference to a deleted or soft-deleted object is cleared.
- Soft match needs the ``lookups()`` answered; a target object held by another anchor must come
  with its holder in ``TargetView.holders`` (else it is taken for foreign and disputed).
"""

from __future__ import annotations

import json
import operator
from collections import Counter
from collections.abc import Mapping
from typing import Any

from attrs import field, frozen

from hybridsync.engine.core.states import UNOWNED
from hybridsync.engine.core.values import Action, ActionKind, ObjectKind, Reason, frozen_mapping
from hybridsync.engine.plan.inputs import (
    Carry,
    Lookup,
    PlanInput,
    Projector,
    ReadEvidence,
    References,
    TargetInput,
    TargetView,
    compiled_scope,
    dedupe,
    make_context,
)
from hybridsync.engine.plan.lifecycle import State, effective_state
from hybridsync.engine.plan import converge
from hybridsync.engine.plan.match import GROUP_NAME, group_names
from hybridsync.engine.plan.target import TargetPlanner

__all__ = ["Carry", "Lookup", "Plan", "PlanError", "PlanInput", "Projector", "ReadEvidence", "References",
           "TargetInput", "TargetView", "action_from_dict", "compiled_scope", "lookups", "make_context", "plan"]


@frozen
class PlanError:
    """A per-object problem (mapping error, unknown kind): the object is left alone."""

    target: str
    anchor: str
    dn: str | None
    stage: str  # "mapping", "scope", "match"
    message: str
    attribute: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "anchor": self.anchor, "dn": self.dn, "stage": self.stage,
                "attribute": self.attribute, "message": self.message}


@frozen
class Plan:
    """Frozen actions in apply order, per-object errors and a summary.

    Order: creates/adopts/restores/updates (users and contacts before groups), member additions,
    member removals, disables, deletes, then holds/reports/noops. ``Action.members`` holds member
    ANCHORS: the engine resolves them to target ids at apply time (after the creates above).
    NOOP actions whose ``to_state`` differs from ``from_state`` are state changes the engine
    records without calling the target. ``summary``: counts by action kind, ``held``, ``errors``
    and ``threshold_used`` per target. ``carry``: what the next plan of the same cycle needs
    (pass it back as the next page's ``PlanInput.carry``).
    After each outcome the engine stores the state ``engine.plan.outcome`` says (the one outcome
    rule: ``applied_state``, ``failed_state``, ``unapplied_state``). ADD/REMOVE_MEMBERS of a group
    created in the same plan carry ``target_id=None``: use the id the CREATE just stored.
    A recreate (an ADOPT for which ``predecessor(target, anchor)`` names the old anchor): when it
    is applied, the new state takes ``members_sent`` over from the predecessor, and
    ``outcome.reanchored_groups`` replaces the old anchor by the new one in every group's
    ``members_sent`` at that target (it is the same target object) -- before the member actions
    that follow. ``followup()``: anchors to plan again once this plan is applied (a reference to
    an object this plan creates resolves only then): the engine plans them in the same cycle.
    """

    actions: tuple[Action, ...] = ()
    errors: tuple[PlanError, ...] = ()
    summary: Mapping[str, Any] = field(factory=dict, converter=frozen_mapping)
    carry: Carry = Carry()

    def to_jsonl(self) -> str:
        """One JSON object per line: actions, then ``{"error": ...}`` lines, then the summary."""
        lines = [a.to_json() for a in self.actions]
        lines += [json.dumps({"error": e.to_dict()}, sort_keys=True, ensure_ascii=False) for e in self.errors]
        lines.append(json.dumps({"summary": dict(self.summary)}, sort_keys=True, ensure_ascii=False, default=str))
        return "\n".join(lines) + "\n"

    @classmethod
    def from_jsonl(cls, text: str) -> "Plan":
        actions, errors, summary = [], [], {}
        for line in text.splitlines():
            if not line.strip():
                continue
            data = json.loads(line)
            if "summary" in data:
                summary = data["summary"]
            elif "error" in data:
                errors.append(PlanError(**{k: data["error"].get(k) for k in
                                           ("target", "anchor", "dn", "stage", "message", "attribute")}))
            else:
                actions.append(action_from_dict(data))
        return cls(tuple(actions), tuple(errors), summary)

    def followup(self) -> tuple[str, ...]:
        """Anchors to plan again after this plan is applied (see the class docstring)."""
        return tuple(self.summary.get("followup", ()))

    def predecessor(self, target: str, anchor: str) -> str | None:
        """The anchor whose target object ``anchor`` takes over at ``target`` (a recreate), or None."""
        return next((r["old"] for r in self.summary.get("reanchored", ())
                     if r["target"] == target and r["new"] == anchor), None)


def action_from_dict(data: Mapping[str, Any]) -> Action:
    return Action.from_dict(data)  # one inverse of Action.to_dict, in core


_PHASE = {ActionKind.CREATE: 0, ActionKind.ADOPT: 0, ActionKind.RESTORE: 0, ActionKind.UPDATE: 0,
          ActionKind.ADD_MEMBERS: 1, ActionKind.REMOVE_MEMBERS: 2, ActionKind.DISABLE: 3,
          ActionKind.DELETE: 4, ActionKind.HOLD: 5, ActionKind.REPORT: 5, ActionKind.NOOP: 5}
_KIND_ORDER = {ObjectKind.USER: 0, ObjectKind.CONTACT: 1, ObjectKind.GROUP: 2}


def _in_apply_order(actions: list[Action], order: Mapping[str, int]) -> list[Action]:
    """``actions`` sorted by (phase, target, object kind, anchor, action kind).

    Bucketed by the first three (a handful of buckets), then each bucket sorted by kind and,
    stably, by anchor: the actions arrive almost in anchor order, so both sorts are near linear
    and no key tuple is built per action.
    """
    buckets: dict[tuple[int, int, int], list[Action]] = {}
    for a in actions:
        key = (_PHASE[a.kind], order[a.target], _KIND_ORDER[a.object_kind])
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = []
        bucket.append(a)
    out: list[Action] = []
    for key in sorted(buckets):
        bucket = buckets[key]
        bucket.sort(key=_by_kind)
        bucket.sort(key=_by_anchor)
        out.extend(bucket)
    return out


_by_kind = operator.attrgetter("kind")
_by_anchor = operator.attrgetter("anchor")


def lookups(inp: PlanInput) -> tuple[Lookup, ...]:
    """The target lookups ``plan(inp)`` needs answered in ``TargetView`` (pure, cheap).

    For every in-scope object whose anchor the target's state does not know (or knows only as
    deleted/disputed/out_of_scope/escrow-without-id): externalId = anchor, then each matching path
    with its projected value. The engine may instead pass a full listing of the target.
    """
    objects = dedupe(inp.objects)
    scope = compiled_scope(inp.scope)
    out: set[Lookup] = set()
    for t in inp.targets:
        types = frozenset(t.config.object_types)
        ctx = None
        for obj in objects:
            if obj.deleted or obj.kind is None or str(obj.kind) not in types:
                continue
            st = t.states.get(obj.anchor)
            conflict = converge.conflicted(st)
            if effective_state(st) not in UNOWNED and not conflict:
                continue
            if not scope.decide(obj, inp.group_scope).in_scope:
                continue
            if conflict:  # a rename that met a 409: who holds the name (plan.converge)
                ctx = ctx or make_context(inp, lambda _dn: None)
                for path, name in converge.name_lookups(t, obj.kind, t.mapping.project(obj, ctx).values):
                    out.add(Lookup(t.config.name, obj.kind, path, name))
                continue
            out.add(Lookup(t.config.name, obj.kind, "externalId", obj.anchor))
            if ctx is None:
                ctx = make_context(inp, lambda _dn: None)
            values = t.mapping.project(obj, ctx).values
            paths = t.config.matching
            if obj.kind == ObjectKind.GROUP and group_names(t.config.kind):
                paths = (GROUP_NAME,)  # a group is matched by name for a takeover only (match.py 3b)
            for path in paths:
                v = values.get(path)
                if isinstance(v, (list, tuple)):
                    v = v[0] if v else None
                if v is not None and not isinstance(v, bool) and str(v).strip():
                    out.add(Lookup(t.config.name, obj.kind, path, str(v)))
    return tuple(sorted(out, key=lambda x: (x.target, str(x.kind), x.path, x.value)))


def plan(inp: PlanInput) -> Plan:
    """Decide, for every (object, target), what to do and why. Pure and deterministic."""
    if inp.scope.groups and inp.group_scope is None:
        raise ValueError("scope.groups is set but PlanInput.group_scope is None: "
                         "pass scope.expand_group_scope(...) (planning without it would disable everyone)")
    objects = dedupe(inp.objects)
    scope = compiled_scope(inp.scope)
    decisions = {o.anchor: scope.decide(o, inp.group_scope) for o in objects if not o.deleted}
    by_guid = {o.object_guid: o for o in objects}
    actions: list[Action] = []
    errors: list[PlanError] = []
    used: dict[str, int] = {}
    reanchored: list[dict[str, str]] = []
    followup: set[str] = set()
    deferred = 0
    for index, t in enumerate(sorted(inp.targets, key=lambda x: x.config.name)):
        tp = TargetPlanner(inp, t, decisions, objects, by_guid)
        tp.run()
        actions.extend(tp.actions)
        used[t.config.name] = tp.threshold_used
        followup |= converge.followup(tp)
        deferred += len(tp.deferred)
        for old, new in sorted(tp.reanchored.items()):
            reanchored.append({"target": t.config.name, "old": old, "new": new})
        for obj, err in tp.errors:
            errors.append(PlanError(t.config.name, obj.anchor, obj.dn, getattr(err, "stage", "mapping"),
                                    str(err), getattr(err, "attribute", None)))
    order = {t.config.name: i for i, t in enumerate(sorted(inp.targets, key=lambda x: x.config.name))}
    actions = _in_apply_order(actions, order)
    counts = {str(k): n for k, n in Counter(a.kind for a in actions).items()}
    summary = {"counts": counts, "held": counts.get("hold", 0), "errors": len(errors),
               "threshold_used": used, "objects": len(objects), "reanchored": reanchored,
               "followup": sorted(followup), "members_deferred": deferred}
    return Plan(tuple(actions), tuple(errors), summary, _carry(inp, used, actions))


def _carry(inp: PlanInput, used: Mapping[str, int], actions: list[Action]) -> Carry:
    """The threshold used per target, for the next plan of this cycle: tripped once (a disable or
    delete newly held), it holds every later page of the cycle too."""
    out = {**inp.carry.threshold_used, **used}
    for a in actions:  # a newly held disable/delete (a pending adoption has no to_state)
        if a.kind == ActionKind.HOLD and a.to_state == State.HELD and a.from_state != State.HELD:
            tripped = inp.carry.limits.get(a.target, inp.safety.delete_threshold) + 1
            out[a.target] = max(out.get(a.target, 0), tripped)
    return Carry(out, inp.carry.limits)

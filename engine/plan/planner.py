"""The pure planner: values in, a plan of frozen actions with reason chains out.

No I/O here: no LDAP, HTTP, SQLite, connectors or store. The engine gathers a ``PlanInput``,
calls ``plan()``, applies the actions in order, then records each outcome with
``lifecycle.outcome(action.to_state, action.kind, result)``.

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
- ``refs``: ``References`` resolving member/manager/group-scope references. Any ``Mapping``
  works (a lazy store-backed one too): the planner only calls ``.get(key)``.
- ``group_scope``: from ``scope.expand_group_scope(...)`` when the source scopes by groups,
  else None. Recompute it when the batch changes a group inside the closure.
- ``targets``: one ``TargetInput`` per target: config, compiled mapping, the ``TargetState`` of
  every involved anchor (the objects, their members, the absent ones; a lazy Mapping is fine),
  a ``TargetView`` answering the ``lookups()`` for anchors the target state doesn't know, the
  approved held anchors, and the number of disables/deletes already planned this cycle
  (``threshold_used``) so a full read planned page by page shares one threshold.
- ``safety``, ``clock`` (aware datetime) and ``seed`` (for mapping functions).

Paging: plan each page of a full read with ``final=False`` (absence is never evidence there),
then a last plan with ``final=True``, ``absent`` and the WHOLE read's counts. A delta is one
plan; its cost is proportional to the objects in it (and their members), not to the directory.

Rules worth knowing when wiring it:

- ``delete_threshold`` is all-or-nothing per plan: if ``threshold_used`` plus this plan's
  disables from scope loss / tombstone / absence exceed it, all of this plan's become HOLD
  (creates and updates go on); approved anchors bypass it. Hard DELETEs after
  ``soft_delete_days`` are not counted again (their disable was).
- References (``manager``) resolve through ``refs.anchor_by_dn`` to the STORED state of the
  referenced anchor (include those states in ``TargetInput.states``): a manager created in this
  plan is set by the next plan of that object; a reference to a deleted or soft-deleted object
  is cleared.
- Soft match needs the ``lookups()`` answered; a target object held by another anchor must come
  with its holder in ``TargetView.holders`` (else it is taken for foreign and disputed).
"""

from __future__ import annotations

import functools
import json
import operator
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from attrs import field, frozen

from hybridsync.engine.core.config import SafetyConfig, ScopeConfig, TargetConfig
from hybridsync.engine.core.values import (
    Action,
    ActionKind,
    ObjectKind,
    ReadMode,
    SourceObject,
    TargetObject,
    Reason,
    TargetState,
    frozen_mapping,
)
from hybridsync.engine.plan.scope import CompiledScope


class Projector(Protocol):
    """What the planner needs of ``engine.mapping.TargetMapping``."""

    def project(self, obj: SourceObject, ctx: Any) -> Any: ...


@frozen
class ReadEvidence:
    """What the read proves about absence."""

    mode: ReadMode = ReadMode.DELTA
    final: bool = True  # the last plan of this read (full reads planned in pages: only the last)
    complete: bool = False  # the full read finished without error (SourceBatch.complete)
    count: int | None = None  # objects this full read returned (final plan only)
    last_complete_count: int | None = None  # objects the last complete full read returned


@frozen
class References:
    """Lookups the planner uses to resolve references (any Mapping; only ``.get`` is called).

    - ``anchor_by_guid``: objectGUID -> anchor, for every object that may be a member.
    - ``anchor_by_dn``: normalized DN (``scope.normalize_dn``) -> anchor (manager references).
    - ``kind_by_anchor``: anchor -> ObjectKind of stored objects (members not in this batch).
    - ``members_by_guid``: group objectGUID -> direct member objectGUIDs (flatten mode).
    """

    anchor_by_guid: Mapping[str, str] = field(factory=dict)
    anchor_by_dn: Mapping[str, str] = field(factory=dict)
    kind_by_anchor: Mapping[str, ObjectKind] = field(factory=dict)
    members_by_guid: Mapping[str, frozenset[str]] = field(factory=dict)


@frozen
class Lookup:
    """A question for the engine to ask a target before planning: who holds ``path == value``?

    ``path`` is ``externalId`` (value = the anchor) or a matching path of ``TargetConfig.matching``
    (value = the projected value, compared case-insensitively).
    """

    target: str
    kind: ObjectKind
    path: str
    value: str


@frozen
class TargetView:
    """What the engine found at the target for the lookups (or a full listing of it).

    ``objects``: every TargetObject returned by any lookup (attributes flattened to projection
    paths, ``external_id`` set). ``holders``: target_id -> the stored TargetState (any anchor)
    that holds that target id, for each of those objects (``Store.target_state_by_target_id``).
    The view is assumed to contain every candidate for the lookups asked.
    """

    objects: tuple[TargetObject, ...] = ()
    holders: Mapping[str, TargetState] = field(factory=dict)


@frozen
class TargetInput:
    config: TargetConfig
    mapping: Projector
    states: Mapping[str, TargetState] = field(factory=dict)  # anchor -> stored state
    view: TargetView = TargetView()
    approved: frozenset[str] = frozenset()  # anchors whose held disable/delete was approved
    threshold_used: int = 0  # disables/deletes already planned at this target in this cycle


@frozen
class PlanInput:
    source: str
    scope: ScopeConfig
    objects: tuple[SourceObject, ...]
    targets: tuple[TargetInput, ...]
    clock: datetime
    read: ReadEvidence = ReadEvidence()
    absent: frozenset[str] = frozenset()
    refs: References = References()
    group_scope: Any = None  # scope.GroupScope | None
    safety: SafetyConfig = SafetyConfig()
    seed: str | int = ""


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
    and ``threshold_used`` per target (pass it back in the next page's
    ``TargetInput.threshold_used``).
    After an ``ok`` outcome the engine stores ``applied_projection(old, action)`` as
    ``TargetState.projection``, ownership CREATED for CREATE and ADOPTED for ADOPT, and adds/removes
    ``action.members`` to/from ``members_sent``. An action whose ``to_state`` is ``deleted`` (a
    DELETE, or a NOOP when a re-created object took the target object over) releases the target
    id: store ``target_id=None`` and empty ``members_sent``. ADD/REMOVE_MEMBERS of a group created
    in the same plan carry ``target_id=None``: use the id the CREATE just stored.
    A recreate (an ADOPT for which ``predecessor(target, anchor)`` names the old anchor): when it
    is applied, the new state takes ``members_sent`` over from the predecessor, and
    ``reanchor_members`` replaces the old anchor by the new one in every group's ``members_sent``
    at that target (it is the same target object) -- before the member actions that follow.
    """

    actions: tuple[Action, ...] = ()
    errors: tuple[PlanError, ...] = ()
    summary: Mapping[str, Any] = field(factory=dict, converter=frozen_mapping)

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

    def predecessor(self, target: str, anchor: str) -> str | None:
        """The anchor whose target object ``anchor`` takes over at ``target`` (a recreate), or None."""
        return next((r["old"] for r in self.summary.get("reanchored", ())
                     if r["target"] == target and r["new"] == anchor), None)

    def for_target(self, name: str) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.target == name)


def action_from_dict(data: Mapping[str, Any]) -> Action:
    return Action.from_dict(data)  # one inverse of Action.to_dict, in core


def applied_projection(old: Mapping[str, Any], action: Action) -> dict[str, Any]:
    """The ``TargetState.projection`` to store after ``action`` was applied successfully."""
    if action.kind == ActionKind.CREATE:
        return dict(action.attributes)
    if action.kind == ActionKind.ADOPT:
        return {k: v for k, v in action.attributes.items() if k != "externalId"}
    if action.kind in (ActionKind.UPDATE, ActionKind.RESTORE, ActionKind.DISABLE):
        out = dict(old)
        out.update(action.attributes)
        return out
    return dict(old)


def reanchor_members(states: Iterable[TargetState], old: str, new: str) -> list[TargetState]:
    """The group states whose ``members_sent`` named ``old``, now naming ``new`` instead."""
    import attrs as _attrs

    return [_attrs.evolve(s, members_sent=(s.members_sent - {old}) | {new})
            for s in states if old in s.members_sent]


def make_context(inp: "PlanInput", resolve: Callable[[str], str | None]) -> Any:
    """The mapping's ProjectionContext for this plan (clock, seed, reference resolver)."""
    from hybridsync.engine.mapping.projection import ProjectionContext

    return ProjectionContext(clock=inp.clock, seed=str(inp.seed), resolve_reference=resolve)


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


def _dedupe(objects: Iterable[SourceObject]) -> tuple[SourceObject, ...]:
    best: dict[str, SourceObject] = {}
    for obj in objects:
        cur = best.get(obj.anchor)
        if cur is None or _rank(obj) > _rank(cur):
            best[obj.anchor] = obj
    return tuple(best[a] for a in sorted(best))


def _rank(obj: SourceObject) -> tuple:
    return (obj.usn if obj.usn is not None else -1, obj.deleted, obj.dn, sorted(obj.attributes.items()),
            sorted(obj.members or ()))


@functools.lru_cache(maxsize=32)
def compiled_scope(scope: ScopeConfig) -> CompiledScope:
    return CompiledScope(scope)


def lookups(inp: PlanInput) -> tuple[Lookup, ...]:
    """The target lookups ``plan(inp)`` needs answered in ``TargetView`` (pure, cheap).

    For every in-scope object whose anchor the target's state does not know (or knows only as
    deleted/disputed/out_of_scope/escrow-without-id): externalId = anchor, then each matching path
    with its projected value. The engine may instead pass a full listing of the target.
    """
    from hybridsync.engine.plan.lifecycle import effective_state
    from hybridsync.engine.plan.target import UNOWNED

    objects = _dedupe(inp.objects)
    scope = compiled_scope(inp.scope)
    out: set[Lookup] = set()
    for t in inp.targets:
        types = frozenset(t.config.object_types)
        ctx = None
        for obj in objects:
            if obj.deleted or obj.kind is None or str(obj.kind) not in types:
                continue
            if effective_state(t.states.get(obj.anchor)) not in UNOWNED:
                continue
            if not scope.decide(obj, inp.group_scope).in_scope:
                continue
            out.add(Lookup(t.config.name, obj.kind, "externalId", obj.anchor))
            if ctx is None:
                ctx = make_context(inp, lambda _dn: None)
            values = t.mapping.project(obj, ctx).values
            for path in t.config.matching:
                v = values.get(path)
                if isinstance(v, (list, tuple)):
                    v = v[0] if v else None
                if v is not None and not isinstance(v, bool) and str(v).strip():
                    out.add(Lookup(t.config.name, obj.kind, path, str(v)))
    return tuple(sorted(out, key=lambda x: (x.target, str(x.kind), x.path, x.value)))


def plan(inp: PlanInput) -> Plan:
    """Decide, for every (object, target), what to do and why. Pure and deterministic."""
    from hybridsync.engine.plan.target import TargetPlanner

    if inp.scope.groups and inp.group_scope is None:
        raise ValueError("scope.groups is set but PlanInput.group_scope is None: "
                         "pass scope.expand_group_scope(...) (planning without it would disable everyone)")
    objects = _dedupe(inp.objects)
    scope = compiled_scope(inp.scope)
    decisions = {o.anchor: scope.decide(o, inp.group_scope) for o in objects if not o.deleted}
    by_guid = {o.object_guid: o for o in objects}
    actions: list[Action] = []
    errors: list[PlanError] = []
    used: dict[str, int] = {}
    reanchored: list[dict[str, str]] = []
    for index, t in enumerate(sorted(inp.targets, key=lambda x: x.config.name)):
        tp = TargetPlanner(inp, t, decisions, objects, by_guid)
        tp.run()
        actions.extend(tp.actions)
        used[t.config.name] = tp.threshold_used
        for old, new in sorted(tp.reanchored.items()):
            reanchored.append({"target": t.config.name, "old": old, "new": new})
        for obj, err in tp.errors:
            errors.append(PlanError(t.config.name, obj.anchor, obj.dn, getattr(err, "stage", "mapping"),
                                    str(err), getattr(err, "attribute", None)))
    order = {t.config.name: i for i, t in enumerate(sorted(inp.targets, key=lambda x: x.config.name))}
    actions = _in_apply_order(actions, order)
    counts = {str(k): n for k, n in Counter(a.kind for a in actions).items()}
    summary = {"counts": counts, "held": counts.get("hold", 0), "errors": len(errors),
               "threshold_used": used, "objects": len(objects), "reanchored": reanchored}
    return Plan(tuple(actions), tuple(errors), summary)

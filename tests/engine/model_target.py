"""A pure in-memory model of a target plus the engine's bookkeeping, for planner tests.

``ModelTarget.apply(plan)`` does what the engine and a perfect SCIM target would do with a plan:
apply each action, record the outcome through ``lifecycle.outcome`` and keep ``TargetState``
values as the store would. ``Directory`` is a model AD (source objects by anchor) that builds the
``PlanInput`` of a clean full cycle or of a delta.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from hybridsync.engine.plan import lifecycle as lc
from hybridsync.engine.core.config import SafetyConfig, ScopeConfig, TargetConfig
from hybridsync.engine.mapping.projection import compile_mapping
from hybridsync.engine.plan.outcome import applied_state, failed_state, reanchored_groups, unapplied_state
from hybridsync.engine.plan.planner import Plan, PlanInput, ReadEvidence, References, TargetInput, TargetView, plan
from hybridsync.engine.plan.scope import expand_group_scope, normalize_dn
from hybridsync.engine.core.values import (
    ActionKind, ObjectKind, Ownership, ReadMode, SourceObject, TargetObject, TargetState, evolve,
)

A = ActionKind
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


class ModelTarget:
    """Target objects by id, and the store's TargetStates for this target by anchor."""

    def __init__(self, config: TargetConfig):
        self.config = config
        self.mapping = compile_mapping(config)
        self.objects: dict[str, dict[str, Any]] = {}
        self.states: dict[str, TargetState] = {}
        self.approved: set[str] = set()
        self._ids = itertools.count(1)
        self.calls: list[tuple[str, str]] = []  # (action kind, target id) the target saw
        self.keep_out_of_scope = False  # record new -> out_of_scope states too
        self.fail: set[str] = set()  # anchors whose next applied actions fail (escrow)
        self.edges: set[tuple[str, str]] = set()  # (state, apply_ok|apply_failed) taken

    def add_foreign(self, kind: ObjectKind, attributes: Mapping[str, Any], external_id: str | None = None,
                    active: bool = True) -> str:
        tid = f"f{next(self._ids)}"
        self.objects[tid] = {"kind": kind, "externalId": external_id, "attrs": dict(attributes),
                             "active": active, "members": set()}
        return tid

    def view(self) -> TargetView:
        objs = []
        holders = {}
        by_id = {(ts.kind, ts.target_id): ts for ts in self.states.values() if ts.target_id}
        for tid, o in sorted(self.objects.items()):
            objs.append(TargetObject(target_id=tid, kind=o["kind"], external_id=o["externalId"],
                                     attributes=o["attrs"], active=o["active"]))
            if (o["kind"], tid) in by_id:
                holders[(o["kind"], tid)] = by_id[(o["kind"], tid)]
        return TargetView(tuple(objs), holders)

    def target_input(self) -> TargetInput:
        return TargetInput(self.config, self.mapping, dict(self.states), self.view(), frozenset(self.approved))

    def apply(self, p: Plan, clock: datetime) -> None:
        for act in (a for a in p.actions if a.target == self.config.name):
            old = self.states.get(act.anchor)
            if act.anchor in self.fail and act.kind not in (A.NOOP, A.HOLD, A.REPORT):
                self._failed(act, old, clock)
                continue
            tid = act.target_id or (old.target_id if old is not None else None)
            kind = act.kind
            if kind == A.CREATE:
                tid = f"t{next(self._ids)}"
                self.objects[tid] = {"kind": act.object_kind, "externalId": act.anchor, "attrs": {},
                                     "active": True, "members": set()}
            if kind in (A.CREATE, A.ADOPT, A.UPDATE, A.RESTORE, A.DISABLE):
                obj = self.objects[tid]
                for path, value in act.attributes.items():
                    if path == "externalId":
                        obj["externalId"] = value
                    elif value is None:
                        obj["attrs"].pop(path, None)
                    else:
                        obj["attrs"][path] = value
                    if path == "active":
                        obj["active"] = value
                self.calls.append((str(kind), tid))
            elif kind == A.DELETE:
                assert (old.ownership != Ownership.FOREIGN), "deleted a foreign object"
                self.objects.pop(tid, None)
                for o in self.objects.values():
                    o["members"].discard(tid)
                self.calls.append((str(kind), tid))
            elif kind in (A.ADD_MEMBERS, A.REMOVE_MEMBERS):
                ids = {self.states[m].target_id for m in act.members}
                if kind == A.ADD_MEMBERS:
                    self.objects[tid]["members"] |= ids
                else:
                    self.objects[tid]["members"] -= ids
                self.calls.append((str(kind), tid))
            if kind in (A.NOOP, A.HOLD, A.REPORT):
                if old is None and act.to_state == "out_of_scope" and not self.keep_out_of_scope:
                    continue  # the engine need not remember objects never provisioned
                new = unapplied_state(old, act, clock)
            else:
                self.edges.add((act.to_state, "apply_ok"))
                pred_anchor = p.predecessor(self.config.name, act.anchor) if kind == A.ADOPT else None
                pred = self.states[pred_anchor] if pred_anchor is not None else None
                new = applied_state(old, act, clock, target_id=tid, predecessor=pred)
                if pred_anchor is not None:
                    # a recreate becomes the member the groups hold (the same target object)
                    for s in reanchored_groups(self.states.values(), pred_anchor, act.anchor):
                        self.states[s.anchor] = s
            if act.anchor in self.approved and (new.state if new is not None else act.to_state) != "held":
                self.approved.discard(act.anchor)
            if new is not None:
                self.states[act.anchor] = new

    def _failed(self, act, old: TargetState | None, clock: datetime) -> None:
        self.edges.add((act.to_state, "apply_failed"))
        count = old.retry_count if old is not None else 0
        self.states[act.anchor] = failed_state(old, act, clock, why="model failure",
                                               next_retry_at=clock + timedelta(seconds=lc.next_retry_delay(count)))

    # what the target holds, keyed by externalId, in the projection's own terms
    def snapshot(self) -> dict[str, dict[str, Any]]:
        out = {}
        id_to_anchor = {o_id: o["externalId"] for o_id, o in self.objects.items()}
        for tid, o in self.objects.items():
            if o["externalId"] is None or tid.startswith("f") and o["externalId"] is None:
                continue
            out[o["externalId"]] = {"attrs": dict(o["attrs"]), "active": o["active"],
                                    "members": frozenset(id_to_anchor.get(m) for m in o["members"])}
        return out


class Directory:
    """A model AD: current objects by anchor, plus tombstones not yet delivered."""

    def __init__(self, scope: ScopeConfig = ScopeConfig(), safety: SafetyConfig = SafetyConfig()):
        self.objects: dict[str, SourceObject] = {}
        self.tombstones: dict[str, SourceObject] = {}
        self.scope = scope
        self.safety = safety
        self.last_complete: int | None = None

    def put(self, obj: SourceObject) -> None:
        self.objects[obj.anchor] = obj
        self.tombstones.pop(obj.anchor, None)

    def delete(self, anchor: str) -> None:
        obj = self.objects.pop(anchor)
        self.tombstones[anchor] = evolve(obj, deleted=True, members=frozenset())

    def refs(self) -> References:
        objs = list(self.objects.values())
        return References(
            anchor_by_guid={o.object_guid: o.anchor for o in objs},
            anchor_by_dn={normalize_dn(o.dn): o.anchor for o in objs},
            kind_by_anchor={o.anchor: o.kind for o in objs},
            members_by_guid={o.object_guid: frozenset(o.members or ()) for o in objs if o.kind == ObjectKind.GROUP},
        )

    def group_scope(self):
        if not self.scope.groups:
            return None
        objs = self.objects.values()
        return expand_group_scope(self.scope.groups, {normalize_dn(o.dn): o.object_guid for o in objs},
                                  {o.object_guid: o.members or () for o in objs})

    def full_input(self, targets: Iterable[ModelTarget], clock: datetime, *, complete: bool = True,
                   objects: Iterable[SourceObject] | None = None) -> PlanInput:
        targets = list(targets)
        seen = list(self.objects.values()) if objects is None else list(objects)
        known = set().union(*[set(t.states) for t in targets]) if targets else set()
        absent = frozenset(known - {o.anchor for o in seen})
        read = ReadEvidence(ReadMode.FULL, True, complete, len(seen), self.last_complete)
        return PlanInput(source="corp", scope=self.scope, objects=tuple(seen),
                         targets=tuple(t.target_input() for t in targets), clock=clock, read=read,
                         absent=absent, refs=self.refs(), group_scope=self.group_scope(), safety=self.safety)

    def delta_input(self, targets: Iterable[ModelTarget], clock: datetime, anchors: Iterable[str]) -> PlanInput:
        objs = [self.objects.get(a) or self.tombstones[a] for a in anchors]
        return PlanInput(source="corp", scope=self.scope, objects=tuple(objs),
                         targets=tuple(t.target_input() for t in targets), clock=clock,
                         read=ReadEvidence(ReadMode.DELTA), refs=self.refs(), group_scope=self.group_scope(),
                         safety=self.safety)

    def cycle(self, targets: list[ModelTarget], clock: datetime, *, rounds: int = 4) -> list[Plan]:
        """Clean full cycles until nothing changes (a manager created in one round is set in the next)."""
        plans = []
        for _ in range(rounds):
            p = plan(self.full_input(targets, clock))
            plans.append(p)
            for t in targets:
                t.apply(p, clock)
            self.last_complete = len(self.objects)
            if is_quiet(p):
                break
        return plans


def is_quiet(p: Plan) -> bool:
    """Nothing to do: only NOOPs that change no recorded state (new -> out_of_scope is not kept)."""
    return all(a.kind == A.NOOP and (a.from_state == a.to_state or a.to_state == "out_of_scope")
               for a in p.actions)


def user(n: int, *, ou: str = "OU=Staff,DC=lab,DC=test", disabled: bool = False, upn: str | None = None,
         guid: str | None = None, **attrs: str) -> SourceObject:
    g = guid or f"u{n:05d}"
    base = {"userPrincipalName": upn or f"user{n}@lab.test", "givenName": f"G{n}", "sn": f"S{n}",
            "displayName": f"User {n}", "userAccountControl": "514" if disabled else "512"}
    base.update(attrs)
    return SourceObject(anchor=g, object_guid=g, kind=ObjectKind.USER, dn=f"CN=User {n},{ou}", attributes=base)


def group(n: int, members: Iterable[str] = (), *, ou: str = "OU=Staff,DC=lab,DC=test", guid: str | None = None) -> SourceObject:
    g = guid or f"g{n:05d}"
    return SourceObject(anchor=g, object_guid=g, kind=ObjectKind.GROUP, dn=f"CN=Group {n},{ou}",
                        attributes={"cn": f"Group {n}"}, members=frozenset(members))


def later(days: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(days=days, seconds=seconds)

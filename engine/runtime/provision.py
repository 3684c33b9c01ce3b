"""On-demand provisioning of one object (``Engine.provision``): read it now, plan and apply it
like a one-object cycle page, and return every step as a value.

The steps are those ``hybridsync provision`` prints: the read from the source, per target the
scope decision and the match with the rules behind them, the attribute diff and the action, then
the target's response. Scope is honoured unless ``ignore_scope``. The outcome is recorded in the
store like any cycle's, as a cycle of mode ``provision``; the source cursor does not move.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import attrs
from attrs import frozen

from hybridsync.connectors.base import Source, Target
from hybridsync.engine.core.config import Config, ScopeConfig
from hybridsync.engine.core.values import Action, DcIdentity, ReadMode, Refresh, SourceBatch, SourceObject
from hybridsync.engine.plan import planner
from hybridsync.engine.plan.inputs import Projector
from hybridsync.engine.plan.merge import merge, to_state
from hybridsync.engine.runtime.commit import Observation, PageCommit
from hybridsync.engine.runtime.context import CycleSetup
from hybridsync.engine.runtime.cycle import Cycle
from hybridsync.engine.runtime.recording import Recorder
from hybridsync.statestore.protocol import StateStore


PROVISION = "provision"
IGNORE_SCOPE = "provision --ignore-scope"


def provision_batch(obj: SourceObject, *, ignore_scope: bool) -> SourceBatch:
    """The read of one provision as a batch for the recording, so that ``replay`` re-runs the
    provision (scope ignored or not, as the cursor's reason says) with the object as it was read."""
    return SourceBatch(objects=(obj,), cursor=Refresh(IGNORE_SCOPE if ignore_scope else PROVISION),
                       mode=ReadMode.DELTA, dc=DcIdentity(url="", invocation_id=PROVISION))


def _reasons(action: Action, *prefixes: str) -> tuple[str, ...]:
    return tuple(f"{r.rule}{': ' + r.detail if r.detail else ''}"
                 for p in prefixes for r in action.reasons if r.rule.startswith(p))


@frozen
class ProvisionStep:
    """One target's decision for the object, with the reasons behind each part of it."""

    target: str
    action: Action  # the full action (kind, attributes, reason chain)
    scope: tuple[str, ...]  # the scope rules behind it ("scope: in scope" when none was needed)
    match: tuple[str, ...]  # how the target object was matched ("match: known anchor": by the stored state)
    lifecycle: tuple[str, ...]  # the lifecycle and safety rules

    @property
    def kind(self) -> str:
        return str(self.action.kind)

    @property
    def diff(self) -> Mapping[str, Any]:
        """The attributes the action sends (empty when it sends none)."""
        return dict(self.action.attributes or {})

    @classmethod
    def of(cls, action: Action) -> "ProvisionStep":
        return cls(target=action.target, action=action,
                   scope=_reasons(action, "scope") or ("scope: in scope",),
                   match=_reasons(action, "match") or ("match: known anchor",),
                   lifecycle=_reasons(action, "lifecycle", "safety"))


@frozen
class TargetResponse:
    """What the target answered to one applied action."""

    target: str
    action: str  # the action kind
    result: str  # ok | failed | retry | skipped | held | reported | noop
    status: int | None = None  # the HTTP status, when there was a call
    detail: str | None = None


@frozen
class Problem:
    stage: str
    message: str
    anchor: str | None = None
    dn: str | None = None


@frozen
class ProvisionReport:
    """Everything one ``provision`` did, step by step. ``object`` None: no source has ``ref``."""

    ref: str
    source: str | None = None
    object: SourceObject | None = None
    dry_run: bool = False
    steps: tuple[ProvisionStep, ...] = ()
    responses: tuple[TargetResponse, ...] = ()
    problems: tuple[Problem, ...] = ()
    cycle_id: int | None = None  # the store's cycle of mode ``provision`` (None on a dry run)

    @property
    def found(self) -> bool:
        return self.object is not None

    @property
    def failed(self) -> bool:
        return any(r.result in ("failed", "retry") for r in self.responses) or bool(self.problems)

    def exit_code(self) -> int:
        """0 done (or planned); 1 not found, or a target call or a stage failed."""
        return 1 if not self.found or self.failed else 0


def provision_object(ref: str, *, store: StateStore, config: Config, sources: Mapping[str, Source],
                     targets: Mapping[str, Target], mappings: Mapping[str, Projector], clock: Callable[[], datetime],
                     seed: int = 0, ignore_scope: bool = False, dry_run: bool = False,
                     recorder: Recorder | None = None) -> ProvisionReport:
    """Read ``ref`` from the first source that has it, plan and (unless ``dry_run``) apply it.
    With a ``recorder`` the read and every target call are recorded with the provision's cycle."""
    for name, source in sources.items():
        obj = source.read_object(ref)
        if obj is None:
            continue
        if ignore_scope:
            src_cfg = attrs.evolve(config.source(name), scope=ScopeConfig())
            config = attrs.evolve(config, sources=tuple(src_cfg if s.name == name else s for s in config.sources))
        if recorder is not None:
            recorder.enabled = not dry_run
            recorder.batch(name, provision_batch(obj, ignore_scope=ignore_scope))
        return _provision_object(ref, name, obj, store=store, config=config, sources=sources, targets=targets,
                                 mappings=mappings, clock=clock, seed=seed, dry_run=dry_run, recorder=recorder)
    return ProvisionReport(ref=ref, dry_run=dry_run)


def _provision_object(ref: str, name: str, obj: SourceObject, *, store: StateStore, config: Config,
                      sources: Mapping[str, Source], targets: Mapping[str, Target], mappings: Mapping[str, Projector],
                      clock: Callable[[], datetime], seed: int, dry_run: bool,
                      recorder: Recorder | None) -> ProvisionReport:
    stored = store.get_object(name, obj.anchor)
    m = merge(stored, obj)
    cycle = Cycle.start(CycleSetup(store=store, config=config, source_name=name, sources=sources, targets=targets,
                                   mappings=mappings, clock=clock, dry_run=dry_run, seed=seed, recorder=recorder))
    cycle.begin(PROVISION)
    merged = m.obj
    if merged is None:  # nothing to provision: merge refused the object
        cycle.object_problem(obj.anchor, obj.dn, "merge", m.problem or "")
        cycle.finish()
        return ProvisionReport(ref=ref, source=name, object=obj, dry_run=dry_run,
                               problems=_problems(cycle), cycle_id=cycle.state.cycle_id or None)
    state = to_state(name, merged, previous=stored)
    cycle.page.objects[state.anchor] = state
    outcomes = cycle.plan_and_apply((merged,), planner.ReadEvidence(mode=ReadMode.DELTA, final=True), frozenset())
    actions = [o.action for o, _ in outcomes] if outcomes else list(cycle.tally.planned)
    observations: list[Observation] = [(merged, {"changes": list(m.changed), "mode": PROVISION})] if m.changed else []
    cycle.commit(PageCommit(objects=[state], observations=observations), outcomes)
    cycle.finish()
    return ProvisionReport(
        ref=ref, source=name, object=obj, dry_run=dry_run,
        steps=tuple(ProvisionStep.of(a) for a in actions if a.anchor == obj.anchor),
        responses=tuple(TargetResponse(target=o.action.target, action=str(o.action.kind), result=o.result,
                                       status=o.status, detail=o.detail)
                        for o, _ in outcomes if o.action.anchor == obj.anchor),
        problems=_problems(cycle), cycle_id=cycle.state.cycle_id or None)


def _problems(cycle: Cycle) -> tuple[Problem, ...]:
    return tuple(Problem(stage=p["stage"], message=p["message"], anchor=p.get("anchor"), dn=p.get("dn"))
                 for p in cycle.tally.problems)

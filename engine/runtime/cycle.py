"""One reconcile cycle for one source: settle, read, merge, record, plan, apply, commit.

Per page of the read (``SourceBatch``):

1. merge each partial object with its stored state (``plan.merge``); tombstones take kind and
   anchor from the store; a tombstoned member is dropped from every stored member set and the
   groups that held it are re-planned (the member trap: AD does not emit those groups);
2. plan (``runtime.planning``): answer the planner's questions from the store (``plan.needs``),
   its target lookups through ``runtime.targetview``, then ``planner.plan`` over those plain
   values; its ``carry`` (the threshold used) goes into the next page's plan;
3. apply each action through its target (``runtime.apply``): intent journaled first;
4. in ONE transaction (``runtime.commit``): the merged object states, the observations, the
   outcomes and decisions, the journal settlements and the source cursor by compare-and-swap.

The pages are driven by ``runtime.pipeline`` (merge in ``runtime.pages``): in a full read page
N+1 is merged and planned while page N's calls are in flight; its calls start once N's have
answered, and N commits while they are in flight where that is safe (``runtime.pipeline``).

After the read, a time-driven pass plans what is due without a source change: escrow retries,
soft-deleted objects past ``soft_delete_days``, approved held deletes, and groups whose members
changed state in this cycle.

``Cycle`` composes one cycle's values (``context``: ``CycleSetup``, ``CycleState``, ``Tally``,
``PageWrites``) and its collaborators, each typed by what it holds (the ``StateStore``
protocol, the connector protocols): quarantine (``health.TargetHealth``), the planning shell
(``planning.PagePlanner``) and the ``apply.Applier``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs
import structlog
from attrs import frozen

from hybridsync.engine.core.errors import SafetyStop
from hybridsync.engine.core.states import CycleStatus, State
from hybridsync.engine.core.values import (
    ActionKind,
    ReadMode,
    Refresh,
    SourceBatch,
    SourceObject,
)
from hybridsync.engine.plan import lifecycle, planner
from hybridsync.engine.plan.inputs import Carry, References
from hybridsync.engine.runtime import drift, followups, holds, window
from hybridsync.engine.runtime.apply import Applied, Applier
from hybridsync.engine.runtime.commit import PageCommit, commit_page
from hybridsync.engine.runtime.context import CycleSetup, CycleState, PageWrites, Tally
from hybridsync.engine.runtime.dueparts import run_due_parts
from hybridsync.engine.runtime.health import TargetHealth
from hybridsync.engine.runtime.planning import PagePlanner
from hybridsync.engine.runtime.pages import Planned
from hybridsync.engine.runtime.pipeline import run_pages
from hybridsync.engine.runtime.readahead import read_ahead
from hybridsync.engine.runtime.reconcile import CONFLICT_REPLANNED, settle_pending
from hybridsync.statestore.opening import CycleOpening

log = structlog.get_logger("hybridsync.cycle")
A = ActionKind
GRACE_SCAN_EVERY = timedelta(hours=1)
DUE_PART, DUE_MEMBERS = 1000, 5_000  # the due pass plans at most this many objects / group members at once
FOLLOWUP_ROUNDS = 3  # due-pass plans per cycle; follow-ups left after them make RunReport.followup
PLANNED_ANCHORS_BOUND = 10_000  # anchors remembered as planned (only an optimisation: bounded)
GRACE_KEY = "engine.grace_scan_at."  # meta key (+ target): the last scan for soft deletes past their grace


@frozen
class Cycle:
    """One cycle for one source: its values and its collaborators, composed."""

    setup: CycleSetup
    state: CycleState
    tally: Tally
    page: PageWrites
    health: TargetHealth
    planning: PagePlanner
    applier: Applier

    @classmethod
    def start(cls, setup: CycleSetup) -> Cycle:
        """A cycle over ``setup``; the cycle's clock is read here, once."""
        state = CycleState(now=setup.clock())
        tally, page = Tally(), PageWrites()
        health = TargetHealth(store=setup.store, safety=setup.config.safety, cycle=state, dry_run=setup.dry_run)
        planning = PagePlanner(store=setup.store, config=setup.config, source_name=setup.source_name,
                               targets=setup.targets, mappings=setup.mappings, seed=setup.seed, cycle=state,
                               page=page, health=health, dry_run=setup.dry_run)
        applier = Applier(store=setup.store, targets=setup.targets, config=setup.config,
                          source_name=setup.source_name, stop_event=setup.stop_event, cycle=state, page=page,
                          tally=tally, health=health)
        cycle = cls(setup=setup, state=state, tally=tally, page=page, health=health, planning=planning,
                    applier=applier)
        planning.report = cycle.object_problem  # a scoping group gone is reported with the cycle's problems
        return cycle

    # ------------------------------------------------------------------ begin / end
    def settle(self) -> None:
        """Settle the journal's intents that earlier cycles left unsettled."""
        now = self.state.now
        stop = self.setup.stop_event
        counts = settle_pending(self.setup.store, self.setup.targets, lambda: now, self.setup.source_name,
                                wait=stop.wait if stop is not None else time.sleep)
        if counts["settled"] or counts["unreachable"] or counts["waited"]:
            log.info("journal_settled", source=self.setup.source_name, **counts)

    def opening(self, *, begin: bool = False) -> CycleOpening:
        """What this cycle asks the store before it reads, in one call (``StateStore.cycle_opening``;
        PostgreSQL: one round trip): cursor, last complete round, the source's pending intents,
        quarantines, approved holds, due retries, the threshold window's removals (unless the
        window reads them incrementally) and the grace scan's last time per target. ``begin``
        (not in a dry run): the cycle's row is begun by the same call (its mode from the cursor
        answered, as ``run_cycle`` decides it)."""
        setup, now, names = self.setup, self.state.now, list(self.setup.targets)
        since = None if window.reads_incrementally(setup.removals, setup.store) else \
            now - timedelta(seconds=setup.config.safety.delete_threshold_window)
        keys = () if setup.dry_run else [GRACE_KEY + name for name in names] + \
            [followups.opening_key(setup.source_name)]
        begin_at = now if begin and not setup.dry_run else None
        return setup.store.cycle_opening(setup.source_name, names, now, removals_since=since, meta_keys=keys,
                                         begin_cycle_at=begin_at, force_full=bool(setup.full_reason))

    def begin(self, mode: str, opening: CycleOpening | None = None) -> None:
        """Record the cycle's start (unless ``opening`` began it: ``opening(begin=True)``);
        ``opening`` (else read now): what the store answered before."""
        state, store = self.state, self.setup.store
        state.started = time.perf_counter()
        if not self.setup.dry_run and opening is not None and opening.cycle_id is not None:
            state.cycle_id = opening.cycle_id
            if opening.cycle_mode != mode:  # not expected: the cursor decides both, read once
                log.warning("cycle_mode_recorded", cycle_id=state.cycle_id, recorded=opening.cycle_mode, mode=mode)
        elif not self.setup.dry_run:
            state.cycle_id = store.begin_cycle(self.setup.source_name, mode, at=state.now)
        opening = opening if opening is not None else self.opening()
        self.health.begin(self.setup.targets, opening.quarantined)
        win, safety, names = self.setup.removals, self.setup.config.safety, list(self.setup.targets)
        if opening.access_removals is not None:
            counts = {name: opening.access_removals.get(name, 0) for name in names}
        else:  # the window kept across cycles: only the new history rows are read
            assert win is not None
            counts = win.counts(store, safety, names, state.now)
        state.carry = Carry(counts, holds.limits(store, safety, names))
        for name in self.setup.targets:
            state.approved[name] = list(opening.approved.get(name, ()))
            self.page.states[name] = {}

    def source_failed(self, exc: Exception) -> None:
        """The read failed: what was committed stays. A SafetyStop (the watermark moved
        underneath or backwards) ends the cycle ``unsafe_watermark``."""
        state = self.state
        state.status = CycleStatus.UNSAFE_WATERMARK if isinstance(exc, SafetyStop) else CycleStatus.SOURCE_FAILED
        state.source_error = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("source_read_failed", cycle_id=state.cycle_id, source=self.setup.source_name,
                    error=state.source_error)

    def finish(self) -> None:
        state = self.state
        self.applier.close()
        self.health.release_recovered()
        if state.stopped_mid_page and state.status == CycleStatus.OK:
            state.status = CycleStatus.STOPPED
        if self.health.quarantined_now and state.status == CycleStatus.OK:
            state.status = CycleStatus.QUARANTINED
        duration = time.perf_counter() - state.started
        self.tally.timings["total"] = duration
        if not self.setup.dry_run:
            self.setup.store.end_cycle(state.cycle_id, status=state.status, counts=dict(self.tally.counts),
                                       duration_s=duration, at=state.now)
        log.info("cycle", cycle_id=state.cycle_id, source=self.setup.source_name, mode=str(state.mode),
                 status=str(state.status), duration_s=round(duration, 4), dry_run=self.setup.dry_run,
                 failed_targets=self.tally.failed_targets(), **self.tally.counts,
                 **({"members_deferred": self.tally.members_deferred} if self.tally.members_deferred else {}))

    def object_problem(self, anchor: str, dn: str | None, stage: str, message: str) -> None:
        self.tally.problem(self.state.cycle_id, anchor, dn, stage, message)

    # ------------------------------------------------------------------ plan, apply, commit
    def plan_only(self, objects: tuple[SourceObject, ...], evidence: planner.ReadEvidence,
                  absent: frozenset[str], *, refs: References | None = None) -> Planned:
        """The plan of ``objects``; nothing of the cycle changes until it is ``use``d (a plan made
        while the page before is applied may be made again: ``runtime.pipeline``, with the
        source facts ``refs`` of the first plan)."""
        known = self.page.known
        plan, blocked = self.planning.plan(objects, evidence, absent, refs=refs)
        planned = Planned(objects=objects, plan=plan, blocked=blocked, known=self.page.known,
                          found={t: frozenset(ids) for t, ids in self.planning.found.items()},
                          asked=frozenset(self.planning.asked), refs=self.planning.refs)
        self.page.known = known  # the page being applied keeps its own (set again by ``use``)
        return planned

    def use(self, planned: Planned, out: list[Applied]) -> Iterator[None]:
        """Apply ``planned``, its outcomes appended to ``out``; yields while calls are in flight."""
        state, plan = self.state, planned.plan
        state.objects_planned += len(planned.objects)
        for e in plan.errors:
            self.object_problem(e.anchor, e.dn, e.stage, f"target {e.target}: {e.message}")
        state.carry = plan.carry  # the threshold used so far, for the next plan of this cycle
        self.tally.members_deferred += plan.summary.get("members_deferred", 0)  # the due pass sends them
        if len(state.planned_anchors) < PLANNED_ANCHORS_BOUND:
            state.planned_anchors.update(o.anchor for o in planned.objects)
        if self.setup.dry_run:
            self.tally.planned.extend(plan.actions)
            for a in plan.actions:
                self.tally.bump(f"planned_{a.kind}")
            return
        self.page.known = dict(planned.known)
        self.page.predecessors = {(a.target, a.anchor): old for a in plan.actions if a.kind == A.ADOPT
                                  and (old := plan.predecessor(a.target, a.anchor)) is not None}
        yield from self.applier.apply_steps(plan.actions, state.now, planned.blocked, out)
        # planned again in this cycle's due pass: a reference to an object this plan created, and a
        # create the target refused as a duplicate (409: the next plan's match takes over or disputes)
        state.followup_groups.update(plan.followup())
        state.followup_groups.update(o.action.anchor for o, _ in out
                                     if o.action.kind in CONFLICT_REPLANNED and o.status == 409 and o.result != "ok")

    def plan_and_apply(self, objects: tuple[SourceObject, ...], evidence: planner.ReadEvidence,
                       absent: frozenset[str]) -> list[Applied]:
        out: list[Applied] = []
        for _ in self.use(self.plan_only(objects, evidence, absent), out):
            pass
        return out

    def commit(self, unit: PageCommit, outcomes: list[Applied]) -> None:
        commit_page(self.setup, self.state, self.page, unit, outcomes)


def run_cycle(cycle: Cycle) -> None:
    """Run one cycle for ``cycle.setup.source_name``; results accumulate in ``cycle``."""
    setup, state = cycle.setup, cycle.state
    store, src = setup.store, setup.source_name
    opening = cycle.opening(begin=True)  # the cycle's row begun with it (PostgreSQL: one round trip)
    if not setup.dry_run and opening.pending_intents:
        cycle.settle()
        began = opening  # settling wrote target states and the journal: asked again
        opening = attrs.evolve(cycle.opening(), cycle_id=began.cycle_id, cycle_mode=began.cycle_mode)
    if not setup.dry_run:  # groups an interrupted cycle left to plan again: this due pass plans them
        followups.restore(state, src, opening.meta)
    expected = opening.cursor
    cursor = Refresh(setup.full_reason) if setup.full_reason else expected
    full = isinstance(cursor, Refresh)
    state.mode = ReadMode.FULL if full else ReadMode.DELTA
    cycle.begin(str(state.mode), opening)
    round_no = 0
    last_complete = opening.last_complete_round
    if full and not setup.dry_run:
        round_no = store.begin_full_round(src, at=state.now)
    state.expected = expected
    seen: set[str] = set()  # only in dry-run (a real run marks rounds in the store)
    t0 = time.perf_counter()
    try:
        run_pages(cycle, read_ahead(setup.sources[src], cursor, record=False), round_no,
                  last_complete[1] if last_complete else None, seen)
    except Exception as exc:  # the source failed: what was committed stays; retry next cycle
        cycle.source_failed(exc)
    cycle.tally.timings["pages"] = time.perf_counter() - t0
    try:
        if not state.source_error and not setup.stop_requested():
            if not setup.dry_run:  # changes made at the targets on owned objects are put back (drift.py)
                state.followup_groups |= drift.check(store, setup.targets)
            _due_pass(cycle, opening)
    finally:
        cycle.applier.close()
    cycle.finish()


def _due_pass(cycle: Cycle, opening: CycleOpening) -> None:
    """Plan what time, retries, approvals and member state changes make due (no source change).

    The retries due at the cycle's ``now`` were read with the ``opening``: what this cycle's pages
    wrote since concerns the anchors they planned, which are taken out below -- unless more were
    planned than ``planned_anchors`` remembers, then they are read again."""
    setup, state = cycle.setup, cycle.state
    store, now = setup.store, state.now
    fresh = len(state.planned_anchors) >= PLANNED_ANCHORS_BOUND
    anchors: set[str] = set()
    for name in setup.targets:
        for ts in store.due_retries(name, now) if fresh else opening.due_retries.get(name, ()):
            anchors.add(ts.anchor)
        if _grace_scan_due(setup, name, now, opening.meta):  # a table scan: at most hourly (days matter)
            for ts in store.iter_target_states(name, state=str(State.SOFT_DELETED)):
                if lifecycle.grace_expired(ts, now, setup.config.safety.soft_delete_days):
                    anchors.add(ts.anchor)
        for held in state.approved.get(name, ()):
            anchors.add(held.anchor)
    anchors -= state.planned_anchors
    # Groups whose members changed state are re-planned even when a page planned them earlier in
    # this cycle: that page saw only the members provisioned by then (a full sync creates a
    # group's members over many pages), and only this plan sees them all.
    anchors |= state.followup_groups
    for _ in range(FOLLOWUP_ROUNDS):  # a follow-up's plan may ask for one more (bounded; the rest: next cycle)
        if not anchors or setup.stop_requested():
            break
        state.followup_groups.clear()
        state.due_pending = set(anchors)  # stored as pending (followups.py) until the due pass ends
        _due_in_parts(cycle, sorted(anchors))
        anchors = set(state.followup_groups)
    if not setup.dry_run and not setup.stop_requested():  # stopped: what is stored is planned next cycle
        state.due_pending.clear()
        followups.persist_alone(store, setup.source_name, state)  # the ones left to the next cycle, or none


def _due_in_parts(cycle: Cycle, anchors: list[str]) -> None:
    """Plan ``anchors`` in parts of bounded size (objects and group members): after a full sync
    every group is due with all its members, and one plan of them all held every member's state.
    The parts are pipelined (``runtime.dueparts``): part K+1 is loaded and planned while K's
    calls are in flight, and K commits while K+1's first calls are."""
    evidence = planner.ReadEvidence(mode=ReadMode.DELTA, final=True, complete=False)
    stats = run_due_parts(cycle, _due_parts(cycle, anchors), lambda part: _due_objects(cycle, part), evidence)
    if stats.early or stats.replanned:
        log.info("due_pipeline", cycle_id=cycle.state.cycle_id, source=cycle.setup.source_name,
                 parts_early=stats.early, parts_replanned=stats.replanned, parts_committed_behind=stats.behind)


def _due_parts(cycle: Cycle, anchors: list[str]) -> Iterator[list[str]]:
    store, src = cycle.setup.store, cycle.setup.source_name
    part: list[str] = []
    weight = 0
    for a in anchors:
        st = store.get_object(src, a)
        part.append(a)
        weight += 1 + (len(st.members) if st is not None else 0)
        if len(part) >= DUE_PART or weight >= DUE_MEMBERS:
            yield part
            part, weight = [], 0
    if part:
        yield part


def _due_objects(cycle: Cycle, anchors: list[str]) -> tuple[SourceObject, ...]:
    states = cycle.setup.store.get_objects(cycle.setup.source_name, anchors)
    return tuple(cycle.page.objects.get(a, st).as_source_object() for a, st in sorted(states.items()))


def _grace_scan_due(setup: CycleSetup, target: str, now: datetime, meta: Mapping[str, Any]) -> bool:
    """``meta``: the opening's meta values (the last scan's time, read with the cycle's opening)."""
    if setup.dry_run:
        return True
    key = GRACE_KEY + target
    last = meta.get(key)
    if last is not None and now - datetime.fromisoformat(last) < GRACE_SCAN_EVERY:
        return False
    setup.store.meta_set(key, now.isoformat())
    return True


__all__ = ["Cycle", "run_cycle"]

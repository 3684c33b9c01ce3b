"""The pages of a read, pipelined (issue 17): page N+1 is merged and planned while page N's calls
are in flight; once N's calls have all answered, N+1's first calls start and N commits while
they are in flight (when N+1's early plan is kept, or when it is planned again from N's outcomes
in the page writes before N commits: ``_plan_behind``; else it is planned again after N commits).

    read ahead (``readahead``)  ->  merge + plan N+1  ->  apply N  ->  apply N+1 ...
                                    (while N's first    -> commit N (while N+1's first
                                     run is in flight)     run is in flight)

What does not change: the commit unit is the page (its merged states, observations, outcomes,
recorded calls and the watermark in one transaction, in read order: N+1 lands after N commits),
every intent is journaled before its call, and only target calls run off the cycle's thread
(``Applier.apply_steps`` yields while they are in flight; every outcome is handled here). At most ``PAGES_HELD`` pages are merged and
not committed (the one applying, the one planned), plus the read-ahead queue: memory is bounded
by the depth of the pipeline, not by the directory.

N+1's early plan read the store as N left it *before* its outcomes. It is kept only when none of
what it read can have changed since (``_holds``): no target state it was answered (``known``:
its group members, its managers) is one N's outcomes wrote, no target object its lookups found
is one N created or adopted, it asked no target per object where N wrote, no target was
quarantined meanwhile and it loaded no listing while N's creates were under way. Otherwise N+1
is planned again once N's calls have answered -- before N's commit, from the page writes, when
that plan reads nothing of N but what the page writes hold (``_plan_behind``), else after N's
commit, as the sequential loop would have. Since wave 9 the plan made again before N commits is
made sooner when it can be: at the yield of N's last run (N's earlier runs answered, the last --
typically the member PATCHes -- in flight), when N+1 read nothing of what N has still to
answer (``_plan_ahead``); it is used at the boundary only if N's later outcomes wrote nothing it
read (``_ahead_holds``). It changes when the plan is made, not what is journaled, sent or
committed, nor in which order. The plan made again is made from the source facts its
early plan was answered (``Planned.refs``: members' anchors and kinds, managers' DNs; N's objects
were in the page writes already when they were asked, and N's commit writes only those objects
and target states): the plan made again asks the store for target states only. A page is merged early
only in a full read, when it is not the last (absence needs every earlier page committed), holds
no tombstone and no object of N, and scoping groups are off; every other page waits for N.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping

import structlog
from attrs import define, evolve, field

from hybridsync.engine.core.values import Action, CycleProgress, ReadMode, SourceBatch, SourceObject, TargetState
from hybridsync.engine.plan import planner
from hybridsync.engine.plan.outcome import UNAPPLIED
from hybridsync.engine.runtime.apply import Applied
from hybridsync.engine.runtime.pages import Cycle, PageWork, Planned, merge_page
from hybridsync.engine.runtime.readahead import record_batch
from hybridsync.engine.runtime import parts

log = structlog.get_logger("hybridsync.cycle")
OVERLAP = True  # False: every page waits for the one before to commit (the page-by-page loop)
COMMIT_BEHIND = True  # a kept early plan starts its calls before the page before commits
PAGES_HELD = 2  # merged and not committed: the page whose calls are in flight and the one planned
# The process's objects from before the read (modules, config, the engine: ~50k) are frozen while
# the pages run (``gc.freeze``): the read's full collections then scan only what the read made.
# A 20k full sync from Samba spent 1.9 CPU-s in 26 full collections, 1.0 s frozen (2026-12-04).
# A host process that froze objects itself (the gc.freeze-before-fork pattern) is left alone:
# the read then neither freezes nor unfreezes anything.
FREEZE_GC = True
REUSE_REFS = True  # a page planned again keeps the source facts its early plan was answered
PLAN_BEHIND = True  # a page planned again is planned before the page before commits (``_plan_behind``)
# wave 9: ... and, when what it reads is answered already, while the page before's last runs are in
# flight (``_plan_ahead``): only the journal of its first run is left between N's last answer and its calls
PLAN_AHEAD = True


@define
class _InFlight:
    work: PageWork
    steps: Iterator[None]
    out: list[Applied]
    read: int | None  # objects read up to and with this page (the progress report); None: a due part
    actions: tuple[Action, ...] = ()  # the page's planned actions (``_plan_ahead``: which are still to answer)


@define
class _Ahead:
    """Page N+1 planned again at a yield of page N's later runs (wave 9, ``_plan_ahead``)."""

    work: PageWork
    evidence: planner.ReadEvidence
    early: Planned
    plan: Planned | None = None
    tried: bool = False  # planned, or found unable to be (a target asked per object, a listing loaded)
    at: int = 0  # N's outcomes finished when it was planned: the later ones are checked at the boundary
    paused: frozenset[str] = frozenset()
    kinds: dict[str, frozenset[str]] = field(factory=dict)


@define
class Stats:
    """What the pipeline did in one cycle (logged as ``pipeline``)."""

    expected: int | None = None  # objects the last complete read had (the progress report)
    held: int = 0  # pages merged and not committed right now
    max_held: int = 0
    early: int = 0  # pages planned while the page before was applied, the plan kept
    replanned: int = 0  # planned early, planned again once the page before's calls had answered
    behind: int = 0  # of those, planned again before the page before committed (it commits behind)
    ahead: int = 0  # of those, planned while the page before's last runs were in flight (``_plan_ahead``)

    def hold(self, n: int) -> None:
        self.held += n
        self.max_held = max(self.max_held, self.held)


def run_pages(cycle: Cycle, batches: Iterable[SourceBatch], round_no: int, last_count: int | None,
              seen: set[str]) -> Stats:
    """Merge, plan, apply and commit every page of ``batches`` (``read_ahead(record=False)``:
    each batch is recorded for replay here, in the commit unit of its page), pipelined where it
    is safe."""
    setup = cycle.setup
    source = setup.sources[setup.source_name]
    stats = Stats(expected=last_count)
    count = 0
    flight: _InFlight | None = None
    froze = FREEZE_GC and gc.get_freeze_count() == 0  # never unfreeze what the host froze
    if froze:  # the objects alive before the read are not scanned by its collections
        gc.freeze()
    try:
        for batch in batches:
            count += len(batch.objects)
            evidence = planner.ReadEvidence(mode=batch.mode, final=batch.last or batch.mode == ReadMode.DELTA,
                                            complete=batch.complete, count=count if batch.last else None,
                                            last_complete_count=last_count)
            if flight is not None and (_heavy(batch.objects) or not _may_overlap(cycle, flight.work, batch)):
                landed, flight = flight, None
                _land(cycle, landed, stats)
                if _stopping(cycle):
                    break
            if flight is None:  # recorded in its own commit unit (an overlapped page: after N's commit)
                record_batch(source, batch)
            work = merge_page(cycle, batch, evidence, round_no, seen)
            stats.hold(1)
            if setup.dry_run or _heavy(work.merged):  # planned in parts, one after the other (no flight here)
                outcomes = parts.plan_in_parts(cycle.plan_and_apply, lambda: _stopping(cycle), list(work.merged),
                                               evidence, work.absent)
                cycle.commit(work.unit, outcomes)
                stats.hold(-1)
                _progress(cycle, count, stats)
                if _stopping(cycle):
                    break
                continue
            if flight is None:
                planned = cycle.plan_only(tuple(work.merged), evidence, work.absent)
            else:
                paused, kinds = set(cycle.health.paused), _listed(cycle)
                planned = cycle.plan_only(tuple(work.merged), evidence, work.absent)
                loaded = _listed(cycle) != kinds
                landed, flight = flight, None
                ahead = _Ahead(work=work, evidence=evidence, early=planned)
                written = _finish(cycle, landed, ahead)
                kept = not loaded and set(cycle.health.paused) == paused and _holds(planned, written)
                if kept and COMMIT_BEHIND and not _stopping(cycle):
                    stats.early += 1
                    flight = _start_and_commit(cycle, landed, work, planned, count, stats)
                    record_batch(source, batch)  # in N+1's commit unit, as below
                    continue
                again = _ahead_holds(cycle, landed, ahead) if not kept else None
                stats.ahead += again is not None
                if again is None and not kept:
                    again = _plan_behind(cycle, work, evidence, planned, written)
                if again is not None:  # planned again from N's outcomes (page writes): N commits behind it
                    stats.replanned += 1
                    stats.behind += 1
                    flight = _start_and_commit(cycle, landed, work, again, count, stats)
                    record_batch(source, batch)
                    continue
                _commit(cycle, landed, stats, keep=work)
                if _stopping(cycle):  # the page planned is dropped: read again next cycle
                    cycle.page.committed()
                    stats.hold(-1)
                    break
                record_batch(source, batch)
                if kept:
                    stats.early += 1
                else:
                    stats.replanned += 1  # only the target states are asked again
                    planned = cycle.plan_only(tuple(work.merged), evidence, work.absent,
                                              refs=planned.refs if REUSE_REFS else None)
            flight = _launch(cycle, work, planned, count)  # the next page is merged meanwhile
    finally:
        try:
            if flight is not None:  # the last page lands; after a failure, the pages before it commit as one by one
                _land(cycle, flight, stats)
        finally:
            if froze:
                gc.unfreeze()
    if stats.early or stats.replanned:
        log.info("pipeline", cycle_id=cycle.state.cycle_id, source=setup.source_name, pages_early=stats.early,
                 pages_replanned=stats.replanned, pages_committed_behind=stats.behind, pages_planned_ahead=stats.ahead,
                 max_pages_held=stats.max_held)
    return stats


def _heavy(objects: Iterable[SourceObject]) -> bool:
    """A page planned in parts (``parts.PLAN_WEIGHT``): never overlapped."""
    return sum(1 + len(o.members or ()) for o in objects) > parts.PLAN_WEIGHT


def _may_overlap(cycle: Cycle, applying: PageWork, batch: SourceBatch) -> bool:
    """Whether ``batch`` may be merged and planned while ``applying`` is applied."""
    if not OVERLAP or batch.mode != ReadMode.FULL or batch.last or _stopping(cycle):
        return False
    if cycle.setup.config.source(cycle.setup.source_name).scope.groups:
        return False  # the scoping groups' closure is read from the page's writes: one page at a time
    anchors = applying.anchors()
    return not any(o.deleted or o.kind is None or o.anchor in anchors for o in batch.objects)


def _launch(cycle: Cycle, work: PageWork, planned: Planned, read: int | None) -> _InFlight:
    """Start ``planned``'s calls: its first run is in flight when this returns."""
    out: list[Applied] = []
    steps = cycle.use(planned, out)
    next(steps, None)
    return _InFlight(work=work, steps=steps, out=out, read=read, actions=tuple(planned.plan.actions))


def _land(cycle: Cycle, flight: _InFlight, stats: Stats) -> None:
    """Finish ``flight``'s calls and commit it."""
    _finish(cycle, flight)
    _commit(cycle, flight, stats)


def _start_and_commit(cycle: Cycle, landed: _InFlight, work: PageWork, planned: Planned, read: int | None,
                      stats: Stats) -> _InFlight:
    """Start ``planned`` (page N+1, its early plan kept): its first run's intents are journaled
    and its calls put in flight, THEN page N (``landed``, every call finished) commits while they
    are in flight: N's commit is off the critical path. N's commit unit is what it would be in the
    sequential loop: N+1 has finished no outcome before its first yield (``Applier.apply_steps``),
    N+1's recorded calls stay out of it (``Recorder.mark``), N+1's merged states and answers stay
    in the page writes. N+1 commits after N (it lands later). A failed commit of N leaves N+1's
    calls to end in the pool and its intents journaled, unsettled: settled at the next start, as
    after a crash at that point."""
    recorder = cycle.setup.recorder
    upto = recorder.mark() if recorder is not None else None
    out: list[Applied] = []
    steps = cycle.use(planned, out)
    try:
        next(steps, None)  # N+1's first run of calls is in flight
    except BaseException:  # N+1 could not start (nothing of it finished): N commits as it would have
        _commit(cycle, landed, stats)
        raise
    started = _InFlight(work=work, steps=steps, out=out, read=read, actions=tuple(planned.plan.actions))
    try:
        _commit(cycle, landed, stats, keep=work, known=dict(planned.known), calls_upto=upto)
    except BaseException:
        stop = getattr(steps, "close", None)  # a generator: no further run of N+1 starts
        if stop is not None:
            stop()
        raise
    return started


def _plan_behind(cycle: Cycle, work: PageWork, evidence: planner.ReadEvidence, early: Planned,
                 written: dict[str, set[str]]) -> Planned | None:
    """Page N+1 planned again once N's calls have all answered and BEFORE N commits (wave 8),
    from N's outcomes in the page writes (``PageWrites.states``: the planner's target states are
    answered from them first, N's merged objects are there too), so that N+1's first calls start
    and N commits while they are in flight (``_start_and_commit``), as for a kept early plan: the
    commit is off the critical path. Only what a plan reads from the page writes is N's: a plan
    that asked a target per object where N wrote, found a target object N wrote (the store does
    not know yet that it is ours: ``planning._holder_of``), loaded a listing (it would hold N's
    creates, not yet ours in the store) or met a quarantine is dropped (None): N commits first and
    the page is planned again after it, as before."""
    if not (COMMIT_BEHIND and PLAN_BEHIND) or _stopping(cycle):
        return None
    paused, kinds = set(cycle.health.paused), _listed(cycle)
    again = cycle.plan_only(tuple(work.merged), evidence, work.absent, refs=early.refs if REUSE_REFS else None)
    if _listed(cycle) != kinds or set(cycle.health.paused) != paused or _stopping(cycle):
        return None
    for target, wrote in written.items():
        if target in again.asked or wrote.intersection(again.found.get(target, ())):
            return None
    return again


def _plan_ahead(cycle: Cycle, flight: _InFlight, ahead: _Ahead) -> None:
    """At the yield of page N's last run (its earlier runs' outcomes finished, every call of the
    page submitted: ``CycleState.last_run_sent``), plan N+1 again (``_plan_behind``) when its
    early plan read nothing of what N has still to answer (``pending``: the anchors and target
    ids of N's actions without an outcome) and the plan made again reads none of it either. Nothing is journaled or sent here: the plan
    is used at the boundary only if N's outcomes after it wrote nothing it read
    (``_ahead_holds``), else N+1 is planned again there as before."""
    if ahead.tried or not (PLAN_AHEAD and COMMIT_BEHIND and PLAN_BEHIND) or _stopping(cycle):
        return
    if not cycle.state.last_run_sent:  # planned while N's last run flies only: the cycle's thread
        return  # planning meanwhile would hold back the submission of N's next run (traced, wave 9)
    done = Counter((o.action.target, o.action.anchor) for o, _ in flight.out)  # an object may have 2 actions
    pending: dict[str, set[str]] = {}
    for a in flight.actions:  # in plan order, as their outcomes are finished
        if a.kind in UNAPPLIED:  # sent never; what their outcomes write is checked at the boundary
            continue
        if done[a.target, a.anchor] > 0:
            done[a.target, a.anchor] -= 1
        else:
            ids = pending.setdefault(a.target, set())
            ids.add(a.anchor)
            if a.target_id:
                ids.add(a.target_id)
    if not pending or not _holds(ahead.early, pending):
        return  # N's last outcomes are in (the boundary plans it), or it read what N writes yet: wait
    ahead.tried = True
    wrote = _written(cycle, flight.out)
    for target, ids in pending.items():
        wrote.setdefault(target, set()).update(ids)
    paused, kinds = frozenset(cycle.health.paused), _listed(cycle)
    again = _plan_behind(cycle, ahead.work, ahead.evidence, ahead.early, wrote)
    if again is not None and _holds(again, pending):
        ahead.plan, ahead.at, ahead.paused, ahead.kinds = again, len(flight.out), paused, kinds


def _ahead_holds(cycle: Cycle, landed: _InFlight, ahead: _Ahead) -> Planned | None:
    """The plan ``_plan_ahead`` made, if N's outcomes finished after it (and every takeover of
    the page) wrote nothing it read, no listing was loaded and no target quarantined since."""
    if ahead.plan is None or _stopping(cycle) or _listed(cycle) != ahead.kinds or \
            frozenset(cycle.health.paused) != ahead.paused:
        return None
    return ahead.plan if _holds(ahead.plan, _written(cycle, landed.out[ahead.at:])) else None


def _finish(cycle: Cycle, flight: _InFlight, ahead: _Ahead | None = None) -> dict[str, set[str]]:
    """Finish ``flight``'s calls (nothing committed); at each yield of its later runs, ``ahead``
    (the next page) may be planned again (``_plan_ahead``). Returns, per target, the anchors and
    target ids the page's outcomes wrote."""
    for _ in flight.steps:
        if ahead is not None:
            _plan_ahead(cycle, flight, ahead)
    return _written(cycle, flight.out)


def _written(cycle: Cycle, outcomes: Iterable[Applied]) -> dict[str, set[str]]:
    """Per target, the anchors and target ids ``outcomes`` wrote, and every takeover of the page."""
    page = cycle.page
    written: dict[str, set[str]] = {}
    for outcome, _ in outcomes:
        if outcome.state is not None:
            ids = written.setdefault(outcome.action.target, set())
            ids.add(outcome.action.anchor)
            if outcome.state.target_id:
                ids.add(outcome.state.target_id)
    for target, anchor in page.reanchored:
        written.setdefault(target, set()).add(anchor)
    return written


def _commit(cycle: Cycle, flight: _InFlight, stats: Stats, keep: PageWork | None = None,
            known: dict[str, Mapping[str, TargetState | None]] | None = None, calls_upto: int | None = None) -> None:
    """Commit ``flight`` (its calls finished); ``keep``'s merged states (the next page, merged
    meanwhile) stay in the page writes, and ``known`` (the answers of the next page's plan, when it
    is applying already)."""
    page = cycle.page
    kept = {a: page.objects[a] for a in keep.anchors() if a in page.objects} if keep is not None else {}
    unit = flight.work.unit if calls_upto is None else evolve(flight.work.unit, calls_upto=calls_upto)
    cycle.commit(unit, flight.out)
    page.objects.update(kept)
    if known is not None:
        page.known = known
    stats.hold(-1)
    if flight.read is not None:
        _progress(cycle, flight.read, stats)


def _holds(planned: Planned, written: dict[str, set[str]]) -> bool:
    """Whether an early plan read nothing the page before wrote (see the module docstring). Anchors
    and target ids are told apart by where they are looked for, so one set per target serves."""
    for target, wrote in written.items():
        if target in planned.asked:
            return False
        if wrote.intersection(planned.known.get(target, {})) or wrote.intersection(planned.found.get(target, ())):
            return False
    return True


def _listed(cycle: Cycle) -> dict[str, frozenset[str]]:
    return {name: frozenset(str(k) for k in listing.kinds) for name, listing in cycle.planning.listings.items()}


def _stopping(cycle: Cycle) -> bool:
    return cycle.state.stopped_mid_page or cycle.setup.stop_requested()


def _progress(cycle: Cycle, read: int, stats: Stats) -> None:
    setup, state = cycle.setup, cycle.state
    if setup.progress is not None:
        setup.progress(CycleProgress(mode=str(state.mode), read=read, planned=state.objects_planned,
                                     applied=cycle.health.calls_made(), expected=stats.expected))


__all__ = ["PAGES_HELD", "Stats", "run_pages"]

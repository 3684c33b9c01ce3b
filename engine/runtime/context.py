"""The values one cycle works with: what it was given, where it stands, what it reports, and
the writes of the page in progress.

``CycleSetup`` is what the host hands a cycle (store, config, connectors, options; frozen).
``CycleState`` is where the cycle stands (its id, its one clock reading, its status, what the
last plan carries into the next); ``Tally`` accumulates the ``RunReport``; ``PageWrites`` holds
what the page in progress wrote and has not committed yet. None of them does I/O: the
collaborators that do (``health.TargetHealth``, ``planning.PagePlanner``, ``apply.Applier``,
``commit``) are composed by ``cycle.Cycle``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import attrs
import structlog
from attrs import define, frozen

from hybridsync.connectors.base import Source, Target
from hybridsync.engine.core.config import Config
from hybridsync.engine.core.states import CycleStatus
from hybridsync.engine.core.values import (
    Action,
    Cursor,
    CycleProgress,
    ObjectState,
    ReadMode,
    TargetState,
)
from hybridsync.engine.plan.inputs import Carry, Projector
from hybridsync.engine.runtime.lag import Lag
from hybridsync.engine.runtime.recording import Recorder
from hybridsync.engine.runtime.window import RemovalWindow
from hybridsync.statestore.protocol import StateStore
from hybridsync.statestore.records import HeldRecord

log = structlog.get_logger("hybridsync.cycle")

# (anchor, target, action kind, result, detail, dn): one reported object outcome
OutcomeRow = tuple[str, str, str, str, "str | None", "str | None"]


@frozen
class CycleSetup:
    """What a cycle is given: the store, the config, the connectors and the options."""

    store: StateStore
    config: Config
    source_name: str
    sources: Mapping[str, Source]
    targets: Mapping[str, Target]
    mappings: Mapping[str, Projector]
    clock: Callable[[], datetime]
    dry_run: bool = False
    full_reason: str | None = None
    stop_event: threading.Event | None = None
    seed: int = 0
    progress: Callable[[CycleProgress], None] | None = None  # called after each page
    recorder: Recorder | None = None  # flushed inside each commit unit
    removals: RemovalWindow | None = None  # the delete threshold's window, kept across cycles

    def stop_requested(self) -> bool:
        return self.stop_event is not None and self.stop_event.is_set()


@define
class CycleState:
    """Where one cycle stands. ``now`` is the cycle's clock, read once: every decision of a cycle
    is made at one time, and a replay at that time reproduces it."""

    now: datetime
    cycle_id: int = 0
    mode: ReadMode | None = None
    expected: Cursor | None = None  # the stored cursor the next commit compares against
    started: float = 0.0
    status: CycleStatus = CycleStatus.OK
    source_error: str | None = None
    stopped_mid_page: bool = False
    # the page applying has every run submitted, its last in flight (``Applier.apply_steps``):
    # the pipeline may plan the next page again meanwhile (``pipeline._plan_ahead``, wave 9)
    last_run_sent: bool = False
    carry: Carry = Carry()  # from the last plan, into the next (the threshold used)
    approved: dict[str, list[HeldRecord]] = attrs.Factory(dict)  # target -> approved holds
    followup_groups: set[str] = attrs.Factory(set)  # groups whose members changed state
    due_pending: set[str] = attrs.Factory(set)  # the groups of the due pass under way (followups.py)
    followup_written: frozenset[str] = frozenset()  # the pending set as last stored (followups.py)
    planned_anchors: set[str] = attrs.Factory(set)  # planned this cycle (bounded; an optimisation)
    objects_planned: int = 0
    # the page commit units done (``commit.commit_page``) and the keys the last one wrote (object
    # anchors, (target, anchor) pairs): a page's read-time member hints (``PageCommit.had_members``)
    # hold only for keys no unit wrote since that read
    commits: int = 0
    last_written: frozenset[Any] = frozenset()


SAMPLE = 1000  # outcomes (and, apart, outcomes not done) and problems a report keeps per cycle
UNDONE = frozenset({"skipped", "failed", "retry"})


@define
class Tally:
    """What the cycle reports (``RunReport``): counts, a bounded sample of outcomes and problems
    (memory does not grow with the directory), what each target did, the dry run's plan."""

    counts: dict[str, int] = attrs.Factory(dict)
    outcomes: list[OutcomeRow] = attrs.Factory(list)  # a sample: the first SAMPLE done, SAMPLE undone
    outcome_counts: dict[tuple[str, str, str], int] = attrs.Factory(dict)  # (target, action, result) -> n
    done_targets: set[str] = attrs.Factory(set)  # targets with at least one action done
    undone_why: dict[str, str] = attrs.Factory(dict)  # target -> the first reason an action was not done
    problems: list[dict[str, Any]] = attrs.Factory(list)  # a sample; ``problem_count`` counts all
    problem_count: int = 0
    planned: list[Action] = attrs.Factory(list)  # dry run / plan: the actions
    timings: dict[str, float] = attrs.Factory(dict)
    held: int = 0
    members_deferred: int = 0  # groups whose member change a page left to the due pass (plan.members)
    lag: Lag = Lag()  # AD whenChanged -> applied, for the changes delta reads carried (runtime.lag)
    _sampled: list[int] = attrs.Factory(lambda: [0, 0])  # done, undone kept in ``outcomes``

    def bump(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def outcome(self, row: OutcomeRow) -> None:
        """Count one (non-noop) object outcome; keep it in the sample while there is room."""
        target, action, result = row[1], row[2], str(row[3])
        key = (target, action, result)
        self.outcome_counts[key] = self.outcome_counts.get(key, 0) + 1
        undone = result in UNDONE
        if result == "ok":
            self.done_targets.add(target)
        elif undone and target not in self.undone_why:
            self.undone_why[target] = str(row[4] or result)
        if self._sampled[undone] < SAMPLE:
            self._sampled[undone] += 1
            self.outcomes.append(row)

    def failed_targets(self) -> dict[str, str]:
        """target -> why, for every target with planned actions none of which was done."""
        return {t: w for t, w in self.undone_why.items() if t not in self.done_targets}

    def problem(self, cycle_id: int, anchor: str, dn: str | None, stage: str, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < SAMPLE:
            self.problems.append({"anchor": anchor, "dn": dn, "stage": stage, "message": message})
        self.bump("errors")
        log.warning("object_problem", cycle_id=cycle_id, anchor=anchor, dn=dn, stage=stage, message=message)


@define
class PageWrites:
    """What the page in progress wrote and has not committed: read before the store's."""

    objects: dict[str, ObjectState] = attrs.Factory(dict)  # anchor -> merged ObjectState
    states: dict[str, dict[str, TargetState]] = attrs.Factory(dict)  # target -> anchor -> state
    known: dict[str, Mapping[str, TargetState | None]] = attrs.Factory(dict)  # answered for the plan
    reanchored: dict[tuple[str, str], TargetState] = attrs.Factory(dict)  # (target, group) re-anchored
    predecessors: dict[tuple[str, str], str] = attrs.Factory(dict)  # (target, new anchor) -> old (recreates)
    unused_intents: list[int] = attrs.Factory(list)  # journaled, then not called (stop, quarantine)
    changed: dict[str, float] = attrs.Factory(dict)  # anchor -> whenChanged its delta read (runtime.lag)

    def state(self, store: StateStore, target: str, anchor: str) -> TargetState | None:
        """The newest state of (target, anchor): written in this page, else the one answered for
        this page's plan, else the store's (the apply half asks this; the planner never does)."""
        written = self.states[target]
        if anchor in written:
            return written[anchor]
        known = self.known.get(target)
        if known is not None and anchor in known:
            return known[anchor]
        return store.get_target_state(target, anchor)

    def object(self, store: StateStore, source: str, anchor: str) -> ObjectState | None:
        return self.objects.get(anchor) or store.get_object(source, anchor)

    def committed(self) -> None:
        """The store holds the page now: forget what was written and answered for it."""
        self.objects.clear()
        self.known = {}
        self.reanchored.clear()
        self.unused_intents.clear()
        self.changed.clear()
        for written in self.states.values():
            written.clear()

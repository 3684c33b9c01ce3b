"""What one ``Engine.run_once`` reports: ``RunReport`` (counts, outcome counts per target,
action and result, a bounded sample of per-object outcomes and problems, statuses) built from
the cycles' ``Tally`` by ``_report``. Memory does not grow with the directory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from attrs import astuple, field, frozen

from hybridsync.engine.runtime.lag import Lag
from hybridsync.engine.runtime.verdict import exit_code, failed_targets

if TYPE_CHECKING:
    from hybridsync.engine.runtime.cycle import Cycle


@frozen
class ObjectOutcome:
    anchor: str
    target: str
    action: str
    result: str  # ok | failed | retry | skipped | held | reported
    detail: str | None = None
    dn: str | None = None


@frozen
class RunReport:
    """What one ``run_once`` did: per source cycle ids, counts, durations, and the outcomes --
    counted per (target, action, result) in ``outcome_counts``, with a bounded sample of the
    objects themselves in ``outcomes`` (the first 1,000 done and the first 1,000 not done per
    cycle: a 100k-object sync does not keep 100k values). ``problems`` is a sample too;
    ``problem_count`` counts them all. A report built from ``outcomes`` alone derives the rest."""

    cycle_ids: tuple[int, ...] = ()
    counts: Mapping[str, int] = field(factory=dict)
    outcomes: tuple[ObjectOutcome, ...] = ()
    problems: tuple[Mapping[str, Any], ...] = ()
    durations: Mapping[str, float] = field(factory=dict)
    status: Mapping[str, str] = field(factory=dict)  # source -> ok | source_failed | quarantined | ...
    quarantined: tuple[str, ...] = ()
    held: int = 0
    planned: tuple[Any, ...] = ()  # dry-run: the actions that would be applied
    source_errors: Mapping[str, str] = field(factory=dict)
    outcome_counts: Mapping[tuple[str, str, str], int] | None = None  # (target, action, result) -> n
    undone_targets: Mapping[str, str] | None = None  # failed_targets, counted over every outcome
    problem_count: int | None = None
    followup: bool = False  # a cycle left work only another cycle can do: run_forever runs it at once
    members_deferred: int = 0  # groups whose member change a page of a full read left to the due pass
    lag: Lag = Lag()  # AD whenChanged -> applied, for the changes delta reads carried (runtime.lag)

    @property
    def cycle_id(self) -> int | None:
        return self.cycle_ids[-1] if self.cycle_ids else None

    @property
    def tallied(self) -> Mapping[tuple[str, str, str], int]:
        """(target, action, result) -> how many, over every outcome (not only the sample)."""
        if self.outcome_counts is not None:
            return self.outcome_counts
        out: dict[tuple[str, str, str], int] = {}
        for o in self.outcomes:
            out[(o.target, o.action, o.result)] = out.get((o.target, o.action, o.result), 0) + 1
        return out

    @property
    def failed(self) -> int:
        problems = self.problem_count if self.problem_count is not None else len(self.problems)
        return sum(n for (_t, _a, r), n in self.tallied.items() if r in ("failed", "retry")) + problems

    @property
    def failed_targets(self) -> dict[str, str]:
        """target -> why, for each target none of whose planned actions was done (verdict.py)."""
        if self.undone_targets is not None:
            return dict(self.undone_targets)
        return failed_targets(astuple(o) for o in self.outcomes)

    def exit_code(self) -> int:
        """0 every planned action done; 1 some objects failed or were left undone (or a source
        could not be read); 3 stopped by a safety rule (quarantine, held delete, unsafe watermark).
        A cycle in which a target failed as a whole is never 0 (docs/interface.md)."""
        rows = [("", t, a, r, None) for (t, a, r) in self.tallied]
        return exit_code(outcomes=rows, quarantined=self.quarantined,
                         held=self.held, status=self.status, failed=self.failed, source_errors=self.source_errors)


def _report(cycles: list[Cycle]) -> RunReport:
    counts: dict[str, int] = {}
    outcomes: list[ObjectOutcome] = []
    tallied: dict[tuple[str, str, str], int] = {}
    problems: list[Mapping[str, Any]] = []
    planned: list[Any] = []
    durations: dict[str, float] = {}
    status: dict[str, str] = {}
    errors: dict[str, str] = {}
    quarantined: list[str] = []
    done: set[str] = set()
    undone: dict[str, str] = {}
    held = problem_count = deferred = 0
    lag = Lag()
    for c in cycles:
        src, state, tally = c.setup.source_name, c.state, c.tally
        for k, v in tally.counts.items():
            counts[k] = counts.get(k, 0) + v
        for key, n in tally.outcome_counts.items():
            tallied[key] = tallied.get(key, 0) + n
        outcomes.extend(ObjectOutcome(*o) for o in tally.outcomes)
        done |= tally.done_targets
        for t, why in tally.undone_why.items():
            undone.setdefault(t, why)
        problems.extend(tally.problems)
        problem_count += tally.problem_count
        planned.extend(tally.planned)
        durations[src] = tally.timings.get("total", 0.0)
        status[src] = state.status
        if state.source_error:
            errors[src] = state.source_error
        quarantined.extend(q for q in [*c.health.quarantined_now, *c.health.paused] if q not in quarantined)
        held += tally.held
        deferred += tally.members_deferred
        lag += tally.lag
    return RunReport(cycle_ids=tuple(c.state.cycle_id for c in cycles if c.state.cycle_id), counts=counts,
                     outcomes=tuple(outcomes), problems=tuple(problems), durations=durations, status=status,
                     quarantined=tuple(quarantined), held=held, planned=tuple(planned), source_errors=errors,
                     outcome_counts=tallied, undone_targets={t: w for t, w in undone.items() if t not in done},
                     problem_count=problem_count,
                     followup=bool(cycles) and bool(cycles[-1].state.followup_groups), lag=lag,
                     members_deferred=deferred)

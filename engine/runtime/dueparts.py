"""The due pass's parts, pipelined (wave 8). After a full sync every group is due with all its
members (its members were created by later pages), planned in parts of bounded size
(``cycle.DUE_PART``, ``cycle.DUE_MEMBERS``). One after the other, each part was loaded, planned,
applied and committed before the next was loaded: nothing in flight to the target meanwhile.

Here part K+1 is loaded and planned while part K's first calls are in flight; once K's calls
have all answered, K+1's first run is journaled and put in flight, THEN K commits
(``pipeline._start_and_commit``, as for the pages of a read). K+1's early plan is kept only when
it read nothing K wrote (``pipeline._holds``: a nested group whose member group K changed, a
target asked per object); else it is planned again from K's outcomes in the page writes before
K commits (``pipeline._plan_behind``), else after K's commit, as the sequential loop would.

What does not change: every intent is journaled before its call, one commit unit per part (its
outcomes, decisions and journal settlements; the due pass moves no cursor), K+1 commits after K,
and nothing of K+1 is in K's unit (it finishes no outcome before its first yield; its recorded
calls are cut at the recorder's mark). A crash in K's commit leaves K's and K+1's intents
journaled, unsettled: settled at the next start, as after any crash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from hybridsync.engine.core.values import SourceObject
from hybridsync.engine.plan import planner
from hybridsync.engine.runtime.commit import PageCommit
from hybridsync.engine.runtime.pages import Cycle, PageWork, Planned
from hybridsync.engine.runtime.pipeline import (
    REUSE_REFS,
    Stats,
    _commit,
    _finish,
    _holds,
    _InFlight,
    _land,
    _launch,
    _listed,
    _plan_behind,
    _start_and_commit,
    _stopping,
)

OVERLAP = True  # False: each part is planned, applied and committed before the next is loaded
NOTHING_ABSENT: frozenset[str] = frozenset()


def run_due_parts(cycle: Cycle, parts: Iterable[list[str]],
                  load: Callable[[list[str]], tuple[SourceObject, ...]], evidence: planner.ReadEvidence) -> Stats:
    """Plan, apply and commit each part of ``parts`` (anchors; ``load`` makes their objects),
    part K+1 loaded and planned while K's calls are in flight (see the module docstring)."""
    stats = Stats()
    if cycle.setup.dry_run or not OVERLAP:
        for anchors in parts:
            if _stopping(cycle):
                break
            cycle.commit(PageCommit(), cycle.plan_and_apply(load(anchors), evidence, NOTHING_ABSENT))
        return stats
    flight: _InFlight | None = None
    try:
        for anchors in parts:
            if _stopping(cycle):
                break
            work = PageWork(batch=None, evidence=evidence, merged=list(load(anchors)), absent=NOTHING_ABSENT,
                            unit=PageCommit())
            stats.hold(1)
            planned: Planned | None
            if flight is None:
                planned = cycle.plan_only(tuple(work.merged), evidence, NOTHING_ABSENT)
            else:
                paused, kinds = set(cycle.health.paused), _listed(cycle)
                early = cycle.plan_only(tuple(work.merged), evidence, NOTHING_ABSENT)
                loaded = _listed(cycle) != kinds
                landed, flight = flight, None
                written = _finish(cycle, landed)
                kept = not loaded and set(cycle.health.paused) == paused and _holds(early, written)
                planned = early if kept else _plan_behind(cycle, work, evidence, early, written)
                if planned is not None and not _stopping(cycle):
                    if kept:
                        stats.early += 1
                    else:
                        stats.replanned += 1
                        stats.behind += 1
                    flight = _start_and_commit(cycle, landed, work, planned, None, stats)
                    continue
                _commit(cycle, landed, stats)  # K commits first, K+1 is planned after it
                if _stopping(cycle):
                    stats.hold(-1)
                    break
                stats.replanned += 1
                planned = cycle.plan_only(tuple(work.merged), evidence, NOTHING_ABSENT,
                                          refs=early.refs if REUSE_REFS else None)
            flight = _launch(cycle, work, planned, None)  # the next part is loaded and planned meanwhile
    finally:
        if flight is not None:  # the last part lands; after a failure, the parts before it commit as one by one
            _land(cycle, flight, stats)
    return stats


__all__ = ["OVERLAP", "run_due_parts"]

"""Planning a page in parts: a page of large groups asks about every member's state at once
(each member's state is an input of its group's plan), so it is planned in parts of at most
``PLAN_WEIGHT`` objects + members, as consecutive pages of one read, and committed as one unit."""

from __future__ import annotations

from collections.abc import Callable

from hybridsync.engine.core.values import ReadMode, SourceObject
from hybridsync.engine.plan import planner
from hybridsync.engine.runtime.apply import Applied

PlanAndApply = Callable[[tuple[SourceObject, ...], planner.ReadEvidence, frozenset[str]], list[Applied]]
PLAN_WEIGHT = 5_000  # objects + group members planned at once (a page of large groups is split)


def plan_in_parts(plan_and_apply: PlanAndApply, stopped: Callable[[], bool], objects: list[SourceObject], evidence: planner.ReadEvidence,
                   absent: frozenset[str]) -> list[Applied]:
    """Plan and apply a page; a page of large groups in parts of at most ``PLAN_WEIGHT`` objects
    + members (each member's state is an input of its group's plan: a page of the directory's
    groups asked about every object at once). The parts are planned as consecutive pages of one
    read -- only the last is the read's final plan, with the absent objects -- and their outcomes
    are committed together: the commit unit is still the page."""
    weight = sum(1 + len(o.members or ()) for o in objects)
    if weight <= PLAN_WEIGHT:
        return plan_and_apply(tuple(objects), evidence, absent)
    objects.sort(key=lambda o: o.anchor in absent)  # the absent ones in the final part
    parts: list[list[SourceObject]] = [[]]
    w = 0
    for o in objects:
        if w >= PLAN_WEIGHT and not (o.anchor in absent and parts[-1] and parts[-1][-1].anchor in absent):
            parts.append([])
            w = 0
        parts[-1].append(o)
        w += 1 + len(o.members or ())
    early = evidence if evidence.mode == ReadMode.DELTA else \
        planner.ReadEvidence(mode=evidence.mode, final=False, complete=False,
                             last_complete_count=evidence.last_complete_count)
    out: list[Applied] = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        out += plan_and_apply(tuple(part), evidence if last else early, absent if last else frozenset())
        if stopped():
            break
    return out


__all__ = ["PLAN_WEIGHT", "plan_in_parts"]

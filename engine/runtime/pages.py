"""A page of the read, merged: steps 1 of ``runtime.cycle`` (merge each partial object with
its stored state, the member trap, the absent objects of a complete full read), giving the
``PageWork`` whose plan, apply and commit follow (``cycle`` one after another, ``pipeline``
overlapped with the next page's merge and plan)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from attrs import frozen

from hybridsync.engine.core.values import ObjectState, ReadMode, SourceBatch, SourceObject, TargetState
from hybridsync.engine.plan import planner
from hybridsync.engine.plan.inputs import References
from hybridsync.engine.plan.merge import merge, to_state
from hybridsync.engine.runtime import evidence as absence
from hybridsync.engine.runtime import reports
from hybridsync.engine.runtime.apply import Applied
from hybridsync.engine.runtime.commit import Observation, PageCommit
from hybridsync.engine.runtime.context import CycleSetup, CycleState, PageWrites
from hybridsync.engine.runtime.health import TargetHealth
from hybridsync.engine.runtime.lag import generalized_time
from hybridsync.engine.runtime.planning import PagePlanner

Hints = dict[Any, bool]  # anchor, or (target, anchor) -> members stored (this cycle's read)


class Cycle(Protocol):
    """What a page's merge and the pipeline use of ``cycle.Cycle`` (no import cycle)."""

    @property
    def setup(self) -> CycleSetup: ...
    @property
    def state(self) -> CycleState: ...
    @property
    def page(self) -> PageWrites: ...
    @property
    def health(self) -> TargetHealth: ...
    @property
    def planning(self) -> PagePlanner: ...

    def object_problem(self, anchor: str, dn: str | None, stage: str, message: str) -> None: ...

    def plan_only(self, objects: tuple[SourceObject, ...], evidence: planner.ReadEvidence,
                  absent: frozenset[str], *, refs: References | None = None) -> Planned: ...

    def use(self, planned: Planned, out: list[Applied]) -> Iterator[None]: ...

    def plan_and_apply(self, objects: tuple[SourceObject, ...], evidence: planner.ReadEvidence,
                       absent: frozenset[str]) -> list[Applied]: ...

    def commit(self, unit: PageCommit, outcomes: list[Applied]) -> None: ...


@frozen
class PageWork:
    """A merged page: its objects to plan, the absent ones (a complete full read's last page)
    and what its commit unit holds besides the outcomes."""

    batch: SourceBatch | None  # None: a part of the due pass (``runtime.dueparts``)
    evidence: planner.ReadEvidence
    merged: list[SourceObject]
    absent: frozenset[str]
    unit: PageCommit

    def anchors(self) -> frozenset[str]:
        return frozenset(o.anchor for o in self.merged) | frozenset(st.anchor for st in self.unit.objects)


@frozen
class Planned:
    """A page's plan, not applied yet, and what it read that the page before may change: the
    target states it was answered (``known``), the target ids its lookups found (``found``) and
    the targets it asked per object (``asked``)."""

    objects: tuple[SourceObject, ...]
    plan: planner.Plan
    blocked: Mapping[str, str]
    known: Mapping[str, Mapping[str, TargetState | None]]
    found: Mapping[str, frozenset[str]]
    asked: frozenset[str]
    refs: References = References()  # the source facts it was answered (kept by a plan made again)


def _stored_for(cycle: Cycle, objs: Iterable[SourceObject]) -> tuple[dict[str, ObjectState], Hints, Hints]:
    """The stored objects of the page, read with their target states (``StateStore.read_page``:
    PostgreSQL, one round trip), which the page's plan takes (``PagePlanner.prefetched``); and
    from the same read, per anchor and per (target, anchor), whether members are stored
    (``PageCommit.had_members``)."""
    setup, page = cycle.setup, cycle.page
    store, src = setup.store, setup.source_name
    objs = list(objs)
    anchors = [o.anchor for o in objs]
    read = store.read_page(src, anchors, list(setup.targets))
    found = read.objects
    cycle.planning.prefetched = (frozenset(anchors), read.target_states)
    for o in objs:
        if o.anchor not in found and (o.deleted or o.kind is None):
            st = store.object_by_guid(src, o.object_guid)
            if st is not None:
                found[o.anchor] = st
    for a, st in list(found.items()):
        if st.anchor in page.objects:
            found[a] = page.objects[st.anchor]
    return found, *_had_members(objs, found, read.target_states)


def _had_members(objs: list[SourceObject], found: Mapping[str, ObjectState],
                 states: Mapping[str, Mapping[str, TargetState]]) -> tuple[Hints, Hints]:
    """Whether each object of the page, and each of its target states, has members stored, by
    this cycle's read of the page (``StateStore.put_object``'s ``had_members``). The read is the
    store as of now with this cycle's uncommitted pages laid over it (``_stored_for``), and the
    pages commit in read order before this one; the source's objects and their target states
    are written by its leader only (a fenced lease: a former leader's commits are refused), and
    the member trap only removes rows -- so what the page commits finds what was read here. An
    anchor whose read came from another anchor (found by objectGUID) is left unknown."""
    objects: Hints = {}
    for o in objs:
        st = found.get(o.anchor)
        if st is None or st.anchor == o.anchor:  # not stored: no member rows (they go with the object)
            objects[o.anchor] = bool(st is not None and st.members)
    targets: Hints = {(t, o.anchor): bool((ts := by.get(o.anchor)) is not None and ts.members_sent)
                      for t, by in states.items() for o in objs}
    return objects, targets


def merge_page(cycle: Cycle, batch: SourceBatch, evidence: planner.ReadEvidence, round_no: int,
               seen: set[str]) -> PageWork:
    """Merge a page with the store (this cycle's uncommitted pages first) and put its merged
    states in ``cycle.page``: what is left to do is its plan, its apply and its commit."""
    setup, page = cycle.setup, cycle.page
    src, now = setup.source_name, cycle.state.now
    batch = absence.screen(batch)  # bad text (a lone surrogate) is a per-object error
    for err in batch.errors:
        cycle.object_problem(err.object_guid or err.dn, err.dn, "source", str(err))
    read_at = cycle.state.commits  # the hints below hold for what no later unit writes (``commit._hints``)
    stored, had_members, had_sent = _stored_for(cycle, batch.objects)
    merged: dict[str, SourceObject] = {}
    to_store: list[ObjectState] = []
    observations: list[Observation] = []
    tombstoned_guids: list[str] = []
    for seen_obj in batch.objects:
        prev = stored.get(seen_obj.anchor)
        m = merge(prev, seen_obj)
        if m.obj is None:
            if not seen_obj.deleted:
                cycle.object_problem(seen_obj.anchor, seen_obj.dn, "merge", m.problem or "")
            continue
        obj = m.obj
        merged[obj.anchor] = obj
        if batch.mode == ReadMode.DELTA and (at := generalized_time(seen_obj.first("whenChanged"))) is not None:
            page.changed[obj.anchor] = at  # the lag metric: this delta's whenChanged, never a stored one
        if obj.deleted:
            tombstoned_guids.append(obj.object_guid)
        deleted_at = (prev.deleted_at if prev is not None and prev.deleted else now) if obj.deleted else None
        to_store.append(to_state(src, obj, round_no=round_no or 0, previous=prev, deleted_at=deleted_at))
        if m.changed and (prev is None or not (prev.deleted and obj.deleted)):
            observations.append((obj, {"changes": list(m.changed), "mode": str(batch.mode)}))
    # the member trap: a deleted member leaves every stored group, and those groups are re-planned
    _drop_members(setup, page, tombstoned_guids, merged, to_store)
    reports.drop_deleted_managers(setup.store, src, [stored[a] for a, o in merged.items() if o.deleted and a in stored],
                                  merged, to_store, page.objects, batch.objects)  # the manager trap (runtime.reports)
    errored = absence.errored_anchors(setup.store, src, batch.errors)  # seen, never absent
    if batch.mode == ReadMode.FULL:  # a real run marks rounds in the store: only UNNAMED matters here
        if setup.dry_run:
            seen.update(o.anchor for o in batch.objects)
            seen.update(errored)
        elif absence.UNNAMED in errored:
            seen.add(absence.UNNAMED)
    absent: frozenset[str] = frozenset()
    if batch.mode == ReadMode.FULL and batch.last and batch.complete and absence.UNNAMED not in seen:
        absent = _absent(setup, round_no, seen, {o.anchor for o in batch.objects} | set(errored))
        suspicious = (evidence.last_complete_count and (evidence.count or 0) <
                      setup.config.safety.min_full_read_fraction * evidence.last_complete_count)
        if absent and not suspicious:
            absent = _confirmed(cycle, absent)
        for st in setup.store.get_objects(src, sorted(absent)).values():
            tomb = SourceObject(anchor=st.anchor, object_guid=st.object_guid, kind=st.kind, dn=st.dn,
                                attributes=st.attributes, members=frozenset(), usn=st.usn, deleted=True)
            merged[st.anchor] = tomb
            if not suspicious:
                to_store.append(to_state(src, tomb, previous=st, deleted_at=now))
                observations.append((tomb, {"changes": ["vanished"], "mode": "full"}))
        if not suspicious:
            _drop_members(setup, page, [merged[a].object_guid for a in absent if a in merged], merged, to_store)
            reports.drop_deleted_managers(setup.store, src, setup.store.get_objects(src, sorted(absent)).values(),
                                          merged, to_store, page.objects, batch.objects)
    for st in to_store:
        page.objects[st.anchor] = st
    seen_anchors = ([o.anchor for o in batch.objects] + [a for a in errored if a != absence.UNNAMED]
                    if batch.mode == ReadMode.FULL else [])
    unit = PageCommit(batch=batch, objects=to_store, observations=observations, round_no=round_no,
                      seen_anchors=seen_anchors, trapped=tombstoned_guids,
                      complete_count=evidence.count if (batch.last and batch.complete) else None,
                      had_members=had_members, had_sent=had_sent, read_at=read_at)
    return PageWork(batch=batch, evidence=evidence, merged=list(merged.values()), absent=absent, unit=unit)


def _drop_members(setup: CycleSetup, page: PageWrites, guids: list[str], merged: dict[str, SourceObject],
                  to_store: list[ObjectState]) -> set[str]:
    """Drop each tombstoned member from the groups that hold it (merged here, stored or written
    this page); returns the groups touched."""
    store, src = setup.store, setup.source_name
    touched: set[str] = set()
    for guid in guids:
        for group_anchor in store.groups_with_member(src, guid):
            if group_anchor in merged and merged[group_anchor].deleted:
                continue  # the group is itself tombstoned in this batch: never resurrect it
            st = page.object(store, src, group_anchor)
            if st is None or guid not in st.members:
                continue
            if group_anchor in merged and not merged[group_anchor].deleted:
                g = merged[group_anchor]
                members = frozenset(g.members or ()) - {guid}
                merged[group_anchor] = SourceObject(anchor=g.anchor, object_guid=g.object_guid, kind=g.kind,
                                                    dn=g.dn, attributes=g.attributes, members=members, usn=g.usn)
                to_store[:] = [s for s in to_store if s.anchor != group_anchor]
                to_store.append(to_state(src, merged[group_anchor], previous=st))
            else:
                new = ObjectState(source=st.source, anchor=st.anchor, object_guid=st.object_guid, kind=st.kind,
                                  dn=st.dn, attributes=st.attributes, members=st.members - {guid}, usn=st.usn,
                                  deleted=st.deleted, deleted_at=st.deleted_at, last_seen_round=st.last_seen_round)
                to_store.append(new)
                page.objects[new.anchor] = new
                if not st.deleted:
                    merged[group_anchor] = new.as_source_object()
            touched.add(group_anchor)
    return touched


def _confirmed(cycle: Cycle, absent: frozenset[str]) -> frozenset[str]:
    """The absent anchors the source confirms gone by a lookup by objectGUID; the others are
    reported and left alone (``runtime.evidence``)."""
    setup = cycle.setup
    base = next(s.base_dn for s in setup.config.sources if s.name == setup.source_name)
    states = list(setup.store.get_objects(setup.source_name, sorted(absent)).values())
    confirmed, left = absence.confirm_absent(setup.sources[setup.source_name], base, states)
    for st, why in left:
        cycle.object_problem(st.anchor, st.dn, "absence", why)
    return frozenset(confirmed)


def _absent(setup: CycleSetup, round_no: int, seen: set[str], this_page: set[str]) -> frozenset[str]:
    store, src = setup.store, setup.source_name
    if setup.dry_run:
        stored = {s.anchor for s in store.iter_objects(src, include_deleted=False)}
        return frozenset(stored - seen)
    return frozenset(a for a in store.anchors_not_seen_since(src, round_no) if a not in this_page)


__all__ = ["Cycle", "PageWork", "Planned", "merge_page"]

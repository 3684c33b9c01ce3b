"""One reconcile cycle for one source: settle, read, merge, record, plan, apply, commit.

Per page of the read (``SourceBatch``):

1. merge each partial object with its stored state (``engine.merge``); tombstones take kind and
   anchor from the store; a tombstoned member is dropped from every stored member set and the
   groups that held it are re-planned (the member trap: AD does not emit those groups);
2. plan: answer the planner's questions from the store (``plan.needs``), its target lookups
   through ``runtime.targetview``, then ``planner.plan`` over those plain values; its ``carry``
   (the threshold used) goes into the next page's plan;
3. apply each action through its target (``engine.reconcile``): intent journaled first;
4. in ONE transaction: the merged object states, the observations, the outcomes and decisions,
   the journal settlements and the source cursor by compare-and-swap.

After the read, a time-driven pass plans what is due without a source change: escrow retries,
soft-deleted objects past ``soft_delete_days``, approved held deletes, and groups whose members
changed state in this cycle.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import structlog

from hybridsync.engine.plan import lifecycle, planner
from hybridsync.engine.runtime import evidence as absence
from hybridsync.engine.runtime.context import CycleContext
from hybridsync.engine.plan.merge import merge, to_state
from hybridsync.engine.core.values import (
    CycleProgress,
    ObjectState,
    ReadMode,
    Refresh,
    SourceBatch,
    SourceObject,
)

log = structlog.get_logger("hybridsync.cycle")


def run_cycle(ctx: CycleContext) -> None:
    """Run one cycle for ``ctx.source_name``; results accumulate in ``ctx``."""
    store, src = ctx.store, ctx.source_name
    if not ctx.dry_run:
        ctx.settle()
    expected = store.get_cursor(src)
    cursor = Refresh(ctx.full_reason) if ctx.full_reason else expected
    full = isinstance(cursor, Refresh)
    ctx.mode = ReadMode.FULL if full else ReadMode.DELTA
    ctx.begin(str(ctx.mode))
    round_no = 0
    last_complete = store.last_complete_round(src)
    if full and not ctx.dry_run:
        round_no = store.begin_full_round(src, at=ctx.now())
    ctx.expected = expected
    count = 0
    seen: set[str] = set()  # only in dry-run (a real run marks rounds in the store)
    source = ctx.sources[src]
    try:
        for batch in source.read(cursor):
            count += len(batch.objects)
            evidence = planner.ReadEvidence(mode=batch.mode, final=batch.last or batch.mode == ReadMode.DELTA,
                                            complete=batch.complete, count=count if batch.last else None,
                                            last_complete_count=last_complete[1] if last_complete else None)
            _page(ctx, batch, evidence, round_no, seen)
            if ctx.progress is not None:
                ctx.progress(CycleProgress(mode=str(batch.mode), read=count, planned=ctx.objects_planned,
                                           applied=ctx.calls_made(), expected=last_complete[1] if last_complete else None))
            if ctx.stop_requested():
                break
    except Exception as exc:  # the source failed: what was committed stays; retry next cycle
        ctx.source_failed(exc)
    if not ctx.source_error and not ctx.stop_requested():
        _due_pass(ctx)
    ctx.finish()


def _stored_for(ctx: CycleContext, objs: Iterable[SourceObject]) -> dict[str, ObjectState]:
    objs = list(objs)
    found = ctx.store.get_objects(ctx.source_name, [o.anchor for o in objs])
    for o in objs:
        if o.anchor not in found and (o.deleted or o.kind is None):
            st = ctx.store.object_by_guid(ctx.source_name, o.object_guid)
            if st is not None:
                found[o.anchor] = st
    for a, st in list(found.items()):
        if st.anchor in ctx.objects_overlay:
            found[a] = ctx.objects_overlay[st.anchor]
    return found


def _page(ctx: CycleContext, batch: SourceBatch, evidence: planner.ReadEvidence, round_no: int,
          seen: set[str]) -> None:
    t0 = time.perf_counter()
    src, now = ctx.source_name, ctx.now()
    batch = absence.screen(batch)  # bad text (a lone surrogate) is a per-object error
    for err in batch.errors:
        ctx.object_problem(err.object_guid or err.dn, err.dn, "source", str(err))
    stored = _stored_for(ctx, batch.objects)
    merged: dict[str, SourceObject] = {}
    to_store: list[ObjectState] = []
    observations: list[tuple[SourceObject, dict[str, Any]]] = []
    tombstoned_guids: list[str] = []
    for seen_obj in batch.objects:
        prev = stored.get(seen_obj.anchor)
        m = merge(prev, seen_obj)
        if m.obj is None:
            if not seen_obj.deleted:
                ctx.object_problem(seen_obj.anchor, seen_obj.dn, "merge", m.problem or "")
            continue
        obj = m.obj
        merged[obj.anchor] = obj
        if obj.deleted:
            tombstoned_guids.append(obj.object_guid)
        deleted_at = (prev.deleted_at if prev is not None and prev.deleted else now) if obj.deleted else None
        to_store.append(to_state(src, obj, round_no=round_no or 0, previous=prev, deleted_at=deleted_at))
        if m.changed and (prev is None or not (prev.deleted and obj.deleted)):
            observations.append((obj, {"changes": list(m.changed), "mode": str(batch.mode)}))
    # the member trap: a deleted member leaves every stored group, and those groups are re-planned
    trapped = _drop_members(ctx, tombstoned_guids, merged, to_store)
    errored = absence.errored_anchors(ctx.store, src, batch.errors)  # seen, never absent
    if batch.mode == ReadMode.FULL:
        seen.update(o.anchor for o in batch.objects)
        seen.update(errored)
    absent: frozenset[str] = frozenset()
    if batch.mode == ReadMode.FULL and batch.last and batch.complete and absence.UNNAMED not in seen:
        absent = _absent(ctx, round_no, seen, {o.anchor for o in batch.objects} | set(errored))
        suspicious = (evidence.last_complete_count and (evidence.count or 0) <
                      ctx.config.safety.min_full_read_fraction * evidence.last_complete_count)
        if absent and not suspicious:
            absent = _confirmed(ctx, absent)
        for st in ctx.store.get_objects(src, sorted(absent)).values():
            tomb = SourceObject(anchor=st.anchor, object_guid=st.object_guid, kind=st.kind, dn=st.dn,
                                attributes=st.attributes, members=frozenset(), usn=st.usn, deleted=True)
            merged[st.anchor] = tomb
            if not suspicious:
                to_store.append(to_state(src, tomb, previous=st, deleted_at=now))
                observations.append((tomb, {"changes": ["vanished"], "mode": "full"}))
        if not suspicious:
            trapped |= _drop_members(ctx, [merged[a].object_guid for a in absent if a in merged], merged, to_store)
    for st in to_store:
        ctx.objects_overlay[st.anchor] = st
    objects = tuple(merged.values())
    actions_outcomes = ctx.plan_and_apply(objects, evidence, absent)
    ctx.commit(batch=batch, objects=to_store, observations=observations, outcomes=actions_outcomes,
               round_no=round_no, seen_anchors=([o.anchor for o in batch.objects] + [a for a in errored if a != absence.UNNAMED]
                             if batch.mode == ReadMode.FULL else []),
               trapped=tombstoned_guids, complete_count=evidence.count if (batch.last and batch.complete) else None)
    ctx.timings["pages"] = ctx.timings.get("pages", 0.0) + (time.perf_counter() - t0)
    del trapped


def _drop_members(ctx: CycleContext, guids: list[str], merged: dict[str, SourceObject],
                  to_store: list[ObjectState]) -> set[str]:
    touched: set[str] = set()
    for guid in guids:
        for group_anchor in ctx.store.groups_with_member(ctx.source_name, guid):
            st = ctx.objects_overlay.get(group_anchor) or ctx.store.get_object(ctx.source_name, group_anchor)
            if st is None or guid not in st.members:
                continue
            if group_anchor in merged and not merged[group_anchor].deleted:
                g = merged[group_anchor]
                members = frozenset(g.members or ()) - {guid}
                merged[group_anchor] = SourceObject(anchor=g.anchor, object_guid=g.object_guid, kind=g.kind,
                                                    dn=g.dn, attributes=g.attributes, members=members, usn=g.usn)
                to_store[:] = [s for s in to_store if s.anchor != group_anchor]
                to_store.append(to_state(ctx.source_name, merged[group_anchor], previous=st))
            else:
                new = ObjectState(source=st.source, anchor=st.anchor, object_guid=st.object_guid, kind=st.kind,
                                  dn=st.dn, attributes=st.attributes, members=st.members - {guid}, usn=st.usn,
                                  deleted=st.deleted, deleted_at=st.deleted_at, last_seen_round=st.last_seen_round)
                to_store.append(new)
                ctx.objects_overlay[new.anchor] = new
                if not st.deleted:
                    merged[group_anchor] = new.as_source_object()
            touched.add(group_anchor)
    return touched


def _confirmed(ctx: CycleContext, absent: frozenset[str]) -> frozenset[str]:
    """The absent anchors the source confirms gone by a lookup by objectGUID; the others are
    reported and left alone (``runtime.evidence``)."""
    base = next(s.base_dn for s in ctx.config.sources if s.name == ctx.source_name)
    states = list(ctx.store.get_objects(ctx.source_name, sorted(absent)).values())
    confirmed, left = absence.confirm_absent(ctx.sources[ctx.source_name], base, states)
    for st, why in left:
        ctx.object_problem(st.anchor, st.dn, "absence", why)
    return frozenset(confirmed)


def _absent(ctx: CycleContext, round_no: int, seen: set[str], this_page: set[str]) -> frozenset[str]:
    if ctx.dry_run:
        stored = {s.anchor for s in ctx.store.iter_objects(ctx.source_name, include_deleted=False)}
        return frozenset(stored - seen)
    return frozenset(a for a in ctx.store.anchors_not_seen_since(ctx.source_name, round_no) if a not in this_page)


def _due_pass(ctx: CycleContext) -> None:
    """Plan what time, retries, approvals and member state changes make due (no source change)."""
    now = ctx.now()
    anchors: set[str] = set()
    for name in ctx.targets:
        for ts in ctx.store.due_retries(name, now):
            anchors.add(ts.anchor)
        if _grace_scan_due(ctx, name, now):  # a table scan: at most hourly (soft_delete_days is in days)
            for ts in ctx.store.iter_target_states(name, state=str(lifecycle.State.SOFT_DELETED)):
                if lifecycle.grace_expired(ts, now, ctx.config.safety.soft_delete_days):
                    anchors.add(ts.anchor)
        for held in ctx.approved.get(name, ()):
            anchors.add(held.anchor)
    anchors -= ctx.planned_anchors_since_followup
    # Groups whose members changed state are re-planned even when a page planned them earlier in
    # this cycle: that page saw only the members provisioned by then (a full sync creates a
    # group's members over many pages), and only this plan sees them all.
    anchors |= ctx.followup_groups
    if not anchors:
        return
    ctx.followup_groups.clear()
    states = ctx.store.get_objects(ctx.source_name, sorted(anchors))
    objects = tuple(ctx.objects_overlay.get(a, st).as_source_object() for a, st in sorted(states.items()))
    evidence = planner.ReadEvidence(mode=ReadMode.DELTA, final=True, complete=False)
    outcomes = ctx.plan_and_apply(objects, evidence, frozenset())
    ctx.commit(batch=None, objects=[], observations=[], outcomes=outcomes, round_no=0, seen_anchors=[],
               trapped=[], complete_count=None)


GRACE_SCAN_EVERY = timedelta(hours=1)


def _grace_scan_due(ctx: CycleContext, target: str, now: datetime) -> bool:
    if ctx.dry_run:
        return True
    key = f"engine.grace_scan_at.{target}"
    last = ctx.store.meta_get(key)
    if last is not None and now - datetime.fromisoformat(last) < GRACE_SCAN_EVERY:
        return False
    ctx.store.meta_set(key, now.isoformat())
    return True


__all__ = ["run_cycle"]

"""A page's commit unit: in ONE state-store transaction the merged ObjectStates, the
observations, the outcomes and decisions, the held and released deletes, the journal
settlements, the recording, and the source cursor by compare-and-swap.

``advance_watermark`` raises a ``SafetyStop`` when the cursor moved underneath or backwards:
nothing of the page commits, and the cycle ends ``unsafe_watermark``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import attrs
from attrs import frozen

from hybridsync.engine.core.states import OutcomeResult
from hybridsync.engine.core.values import ActionKind, Cursor, ObjectState, SourceBatch, SourceObject, TargetState
from hybridsync.engine.runtime import followups, holds
from hybridsync.engine.runtime.apply import Applied
from hybridsync.engine.runtime.context import CycleSetup, CycleState, PageWrites

A = ActionKind
Observation = tuple[SourceObject, Mapping[str, Any]]  # an object and what changed


@frozen
class PageCommit:
    """What one page commits besides its outcomes (empty for the due pass and a provision)."""

    batch: SourceBatch | None = None  # its cursor is advanced (None: the cursor does not move)
    objects: Sequence[ObjectState] = ()
    observations: Sequence[Observation] = ()
    round_no: int = 0
    seen_anchors: Sequence[str] = ()
    trapped: Sequence[str] = ()  # tombstoned members' objectGUIDs: dropped from every stored group
    complete_count: int | None = None  # the full read is complete with this many objects
    calls_upto: int | None = None  # the recorder's calls of this unit (``Recorder.mark``); None: all
    # whether members were stored, by this cycle's read of the page (``pages._had_members``): per
    # anchor, and per (target, anchor); passed to the store for the first write of each in the unit
    had_members: Mapping[str, bool] = attrs.field(factory=dict)
    had_sent: Mapping[tuple[str, str], bool] = attrs.field(factory=dict)
    read_at: int = -1  # ``CycleState.commits`` when that read was made


def _hints(cycle: CycleState, unit: PageCommit) -> tuple[dict[Any, bool], dict[Any, bool]]:
    """The unit's read-time hints still true now: none if more than one unit committed since the
    read (a page is read at most one commit ahead: ``pipeline.PAGES_HELD``), without the keys the
    one unit committed since then wrote (page N's outcomes may write a state page N+1 read)."""
    since = cycle.commits - unit.read_at
    if unit.read_at < 0 or since not in (0, 1):
        return {}, {}
    stale = cycle.last_written if since == 1 else frozenset()
    return ({a: h for a, h in unit.had_members.items() if a not in stale},
            {k: h for k, h in unit.had_sent.items() if k not in stale})


def commit_page(setup: CycleSetup, cycle: CycleState, page: PageWrites, unit: PageCommit,
                outcomes: Sequence[Applied]) -> None:
    if setup.dry_run:
        return
    store, src, now = setup.store, setup.source_name, cycle.now
    objects_hint, sent_hint = _hints(cycle, unit)
    written: set[Any] = set()

    def put_state(state: TargetState) -> None:  # the read's hint for the first write of the pair only
        written.add((state.target, state.anchor))
        store.put_target_state(state, had_members=sent_hint.pop((state.target, state.anchor), None))

    with store.atomic():
        for st in unit.objects:
            written.add(st.anchor)
            store.put_object(st, at=now, had_members=objects_hint.pop(st.anchor, None))
        for guid in unit.trapped:
            store.remove_member_everywhere(src, guid)
        for obj, change in unit.observations:
            store.record_observation(cycle.cycle_id, src, obj.anchor, obj.dn, obj.kind, dict(change), at=now)
        if unit.round_no and unit.seen_anchors:
            store.mark_seen(src, unit.seen_anchors, unit.round_no)
        for outcome, _intent in outcomes:
            a = outcome.action
            if outcome.state is not None:
                put_state(outcome.state)
            if outcome.result != OutcomeResult.NOOP or outcome.state is not None:
                store.record_decision(cycle.cycle_id, a, result=outcome.result, status=outcome.status,
                                      detail=outcome.detail, at=now)
        holds.record_holds(store, outcomes, at=now,  # holds stored, approved or moot ones released
                           gone=[st.anchor for st in unit.objects if st.deleted])
        # re-anchored groups last, as their newest state: an outcome above may predate the re-anchoring
        for t, a_ in page.reanchored:
            put_state(page.states[t].get(a_) or page.reanchored[(t, a_)])
        # the outcomes are recorded above: their intents are settled by deleting them
        store.journal_done([i for _, i in outcomes if i is not None] + page.unused_intents)
        followups.persist(store, src, cycle)  # with the outcomes that made (or settled) them
        if setup.recorder is not None:
            setup.recorder.flush(store, cycle.cycle_id, at=now, upto=unit.calls_upto)
        batch = unit.batch
        if batch is not None and not cycle.stopped_mid_page:
            expected = cast(Cursor, cycle.expected)  # read before the first page
            store.advance_watermark(src, batch.dc.invocation_id, expected, batch.cursor)
            cycle.expected = batch.cursor
            if unit.complete_count is not None:
                store.complete_full_round(src, unit.round_no, unit.complete_count, at=now)
    cycle.commits, cycle.last_written = cycle.commits + 1, frozenset(written)
    page.committed()

"""Applying a plan: ``Applier``, composed of the state store, the targets and the cycle's values.

Runs of independent actions go to a target concurrently (up to its ``max_in_flight``, every
call of a run submitted at once; a run's creates in chunks of ``create_many`` where the target
offers it: SCIM Bulk, one outcome per action all the same), every intent of a run journaled in one commit before any of its
calls; ``apply_steps`` yields while a run's calls are in flight (``runtime.pipeline`` plans the
next page meanwhile); each result becomes a new
TargetState (``reconcile.state_after``); failures count towards quarantine
(``health.TargetHealth``); a member whose state changed puts its groups on the cycle's
follow-up list.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta

import attrs
import structlog
from attrs import define, frozen

from hybridsync.connectors.base import Done, Result, Target
from hybridsync.engine.core.config import Config
from hybridsync.engine.core.states import OutcomeResult, State
from hybridsync.engine.core.values import Action, ActionKind, ObjectKind, ObjectState, Ownership, TargetState
from hybridsync.engine.plan.outcome import UNAPPLIED, reanchored_groups
from hybridsync.engine.runtime import reports
from hybridsync.engine.runtime.context import CycleState, PageWrites, Tally
from hybridsync.engine.runtime.health import TargetHealth
from hybridsync.engine.runtime.reconcile import (
    APPLIED,
    Outcome,
    bulk_size,
    call_target,
    call_target_many,
    deferred_outcome,
    state_after,
    unapplied_outcome,
)
from hybridsync.statestore.protocol import StateStore

log = structlog.get_logger("hybridsync.cycle")
A = ActionKind
RUN = 256  # object actions journaled in one commit before their calls
BULK_ROUNDS = 4  # a run of bulk creates: up to max_in_flight x bulk_size x this
# ADD_MEMBERS of distinct groups too (a due pass adds the members of every group created before
# them: one PATCH at a time was seconds per 100 groups); a removal may switch the connector's
# removal style on a refusal (scim target.py), so removals stay one at a time.
PARALLEL = frozenset({A.CREATE, A.ADOPT, A.UPDATE, A.DISABLE, A.RESTORE, A.DELETE, A.ADD_MEMBERS})
Applied = tuple[Outcome, "int | None"]  # an outcome and the journal intent it settles


def _run_key(action: Action) -> tuple[str, ActionKind, ObjectKind | None]:
    """Actions of one run share this. Creates of every object kind share a run (a page's users
    and groups in the same SCIM Bulk rounds, no wait between them): a create depends on no other
    create, and what does (member adds, a manager set by a follow-up) comes later in the plan."""
    return action.target, action.kind, None if action.kind == A.CREATE else action.object_kind


@define
class _Prepared:
    action: Action
    prev: TargetState | None
    outcome: Outcome | None = None  # decided without a target call
    members: list[tuple[ObjectKind, str]] | None = None
    sent: frozenset[str] = frozenset()
    intent_id: int | None = None


@frozen
class Applier:
    """Applies a page's actions to the targets and keeps the page's new states in ``page``."""

    store: StateStore
    targets: Mapping[str, Target]
    config: Config
    source_name: str
    stop_event: threading.Event | None
    cycle: CycleState
    page: PageWrites
    tally: Tally
    health: TargetHealth
    member_changes: list[str] = attrs.Factory(list)  # objectGUIDs whose groups follow (one query a run)
    presence_changes: list[ObjectState] = attrs.Factory(list)  # users whose reports follow (runtime.reports)
    name_changes: set[str] = attrs.Factory(set)  # targets where an object of ours freed a name (disputes follow)
    _pools: dict[int, ThreadPoolExecutor] = attrs.Factory(dict)  # width -> the cycle's pool (``close``)

    def close(self) -> None:
        """End the cycle's apply threads (idempotent): no thread outlives the cycle."""
        while self._pools:
            _, pool = self._pools.popitem()
            pool.shutdown(wait=True)

    def _pool(self, width: int) -> ThreadPoolExecutor:
        pool = self._pools.get(width)
        if pool is None:
            pool = self._pools[width] = ThreadPoolExecutor(max_workers=width, thread_name_prefix="hybridsync-apply")
        return pool

    def state(self, target: str, anchor: str) -> TargetState | None:
        return self.page.state(self.store, target, anchor)

    def _stop_requested(self) -> bool:
        return self.stop_event is not None and self.stop_event.is_set()

    def apply_all(self, actions: Sequence[Action], now: datetime, blocked: Mapping[str, str]) -> list[Applied]:
        """Apply in plan order (``apply_steps`` run to its end)."""
        out: list[Applied] = []
        for _ in self.apply_steps(actions, now, blocked, out):
            pass
        return out

    def apply_steps(self, actions: Sequence[Action], now: datetime, blocked: Mapping[str, str],
                    out: list[Applied]) -> Iterator[None]:
        """Apply in plan order, appending to ``out``; yields whenever a run's calls are in flight
        (the caller may plan the next page meanwhile: nothing of the engine but the target calls
        runs in the pool, every outcome is handled in the caller's thread). Before its first yield
        it finishes no outcome and sets no stop flag (only intents are journaled): the pipeline
        may commit the page before while this page's first calls are in flight. Runs of independent
        object actions (same target and kind; one object kind, except creates: ``_run_key``) have
        all their intents journaled in ONE commit before any call of the run; then they go to the
        target concurrently (up to its ``max_in_flight``, each call submitted at once: no barrier
        between steps) or one by one."""
        i, started = 0, False  # nothing of the page changes before the first yield (runtime.pipeline)
        self.cycle.last_run_sent = False
        while i < len(actions):
            if self._stop_requested():
                if not started:
                    started = True
                    yield
                self.cycle.stopped_mid_page = True
                break
            first = actions[i]
            width = max(1, self.config.target(first.target).max_in_flight) if first.kind in PARALLEL else 1
            j = i + 1
            key = _run_key(first)
            bulk = self._bulk(first)  # creates a target takes in one call (SCIM Bulk): 0 = none
            # bulk: a run of 4 rounds of chunks, so that the pool keeps the target busy between
            # them (a run's end waits for its last chunk; P2 wave 7)
            limit = max(RUN, width * 8, width * bulk * BULK_ROUNDS) if first.kind in PARALLEL else 1
            anchors = {first.anchor}  # one action per object in a run (two of a group stay in order)
            while j < len(actions) and j - i < limit and actions[j].anchor not in anchors and \
                    _run_key(actions[j]) == key:
                anchors.add(actions[j].anchor)
                j += 1
            prepared = [self._prepare(a, now, blocked.get(a.target)) for a in actions[i:j]]
            calls = [p for p in prepared if p.outcome is None]
            if calls:
                # journaled at the wall clock (not the cycle's): settle_pending measures call_grace by it
                ids = self.store.journal_intents(self.cycle.cycle_id, [p.action for p in calls])
                for p, intent_id in zip(calls, ids):
                    p.intent_id = intent_id
            if width > 1 and len(calls) > 1:
                # at its yield nothing of the page is left to send (what follows is recorded only)
                self.cycle.last_run_sent = all(a.kind in UNAPPLIED for a in actions[j:])
                held = yield from self._run_ahead(prepared, width, bulk, out)
                self._run_steps(held, width, bulk, now, out)
            else:
                if not started:  # no call in flight: a pause before any outcome is finished
                    yield
                self._run_steps(prepared, width, bulk, now, out)
            started = True
            if self.cycle.stopped_mid_page:
                break
            i = j
        if self.member_changes:  # their groups, in one store query (not one per member)
            guids, self.member_changes[:] = list(self.member_changes), []
            self.cycle.followup_groups.update(self.store.groups_with_members(self.source_name, guids))
        if self.presence_changes:  # their reports: a few indexed queries and one pass over the page
            managers, self.presence_changes[:] = list(self.presence_changes), []
            self.cycle.followup_groups.update(reports.reports_of(self.store, self.source_name, managers,
                                                                 self.page.objects))
        if self.name_changes:  # the disputed states of those targets (few, by the state index) plan again
            for target in sorted(self.name_changes):
                self.cycle.followup_groups.update(ts.anchor for ts in self.store.iter_target_states(
                    target, state=str(State.DISPUTED)))
                self.cycle.followup_groups.update(a for a, ts in self.page.states[target].items()
                                                  if ts is not None and ts.state == State.DISPUTED)
            self.name_changes.clear()

    def _run_ahead(self, prepared: list[_Prepared], width: int, bulk: int,
                   out: list[Applied]) -> Generator[None, None, list[_Prepared]]:
        """Submit every call of a run at once (``width`` in flight), yield, then finish them in
        order. A call that does not answer ``Done`` (a failure, a 409, a 429) stops the run's
        calls not yet started, as does a stop or a quarantine: those are returned, untouched, for
        ``_run_steps`` to decide one step at a time (at most ``width - 1`` more calls than before
        reach a failing target). Creates a target takes in bulk go a chunk per call."""
        trouble = threading.Event()

        def call(group: list[_Prepared]) -> list[Result] | None:
            if trouble.is_set() or self._stop_requested() or group[0].action.target in self.health.paused:
                return None  # held back: decided by _run_steps
            results = self._call_group(group)
            if not all(isinstance(r, Done) for r in results):
                trouble.set()
            return results

        pool = self._pool(width)
        slots: dict[int, tuple[Future[list[Result] | None], int]] = {}
        for group in self._groups([p for p in prepared if p.outcome is None and p.intent_id is not None],
                                  width, bulk):
            future = pool.submit(call, group)
            slots.update((id(p), (future, k)) for k, p in enumerate(group))
        yield
        held: list[_Prepared] = []
        for p in prepared:
            if id(p) in slots:
                future, k = slots[id(p)]
                results = future.result()
                if results is None:
                    held.append(p)
                else:
                    out.append(self._finish(p, results[k]))
            elif p.outcome is not None:
                out.append(self._finish(p, None))
        return held

    def _run_steps(self, prepared: list[_Prepared], width: int, bulk: int, now: datetime,
                   out: list[Applied]) -> None:
        """Call a run's journaled actions a step at a time: a stop or a quarantine is checked
        before each step (``width`` * 8 calls in flight, or one; ``width`` bulk chunks)."""
        step = max(width * 8 if width > 1 else 1, width * bulk)
        for k in range(0, len(prepared), step):
            part = prepared[k:k + step]
            for p in part:
                if p.outcome is not None or p.intent_id is None:
                    continue
                if self._stop_requested():  # finish the objects in flight only
                    self.cycle.stopped_mid_page = True
                elif p.action.target in self.health.paused:  # quarantined mid-run
                    until, why = self.health.paused[p.action.target]
                    p.outcome = deferred_outcome(p.prev, p.action, now, until, why)
                else:
                    continue
                self.page.unused_intents.append(p.intent_id)
                p.intent_id = None
            if self.cycle.stopped_mid_page:
                part = [p for p in part if p.outcome is not None or p.intent_id is not None]
            groups = self._groups([p for p in part if p.outcome is None], width, bulk)
            if len(groups) > 1 and width > 1:
                results = list(self._pool(width).map(self._call_group, groups))
            else:
                results = [self._call_group(g) for g in groups]
            answers = {id(p): r for g, rs in zip(groups, results) for p, r in zip(g, rs)}
            for p in part:
                out.append(self._finish(p, answers.get(id(p))))
            if self.cycle.stopped_mid_page:
                self.page.unused_intents.extend(p.intent_id for p in prepared[k + step:] if p.intent_id is not None)
                break

    def _call(self, p: _Prepared) -> Result:
        return call_target(self.targets[p.action.target], p.action, p.members)

    def _bulk(self, action: Action) -> int:
        """The creates per call ``action``'s target takes (``create_many``); 0 for anything else."""
        if action.kind != A.CREATE or action.target in self.health.paused or action.target not in self.targets:
            return 0
        return bulk_size(self.targets[action.target])

    def _groups(self, todo: list[_Prepared], width: int, bulk: int) -> list[list[_Prepared]]:
        """One call per action, or chunks of creates (at most ``bulk``, spread over ``width``)."""
        if bulk < 2 or len(todo) < 2:
            return [[p] for p in todo]
        width = max(1, width)
        size = min(bulk, max(2, -(-len(todo) // width)))
        chunks = -(-len(todo) // size)
        if chunks > width and chunks % width:  # whole rounds of equal chunks: no round ends half-used
            chunks += width - chunks % width  # (1,000 creates at 4 x 100: 12 of 84, not 10 of 100)
            size = max(2, -(-len(todo) // chunks))
        return [todo[k:k + size] for k in range(0, len(todo), size)]

    def _call_group(self, group: list[_Prepared]) -> list[Result]:
        if len(group) == 1:
            return [self._call(group[0])]
        return call_target_many(self.targets[group[0].action.target], [p.action for p in group])

    def _prepare(self, action: Action, now: datetime, lookup_failed: str | None) -> _Prepared:
        prev = self.state(action.target, action.anchor)
        if action.target_id is None and prev is not None and prev.target_id and action.kind != A.CREATE:
            action = attrs.evolve(action, target_id=prev.target_id)  # created earlier in this plan
        if action.kind not in APPLIED:
            return _Prepared(action, prev, outcome=unapplied_outcome(prev, action, now))
        if action.target in self.health.paused:
            until, why = self.health.paused[action.target]
            return _Prepared(action, prev, outcome=deferred_outcome(prev, action, now, until, why))
        if lookup_failed and action.kind in (A.CREATE, A.ADOPT):
            return _Prepared(action, prev, outcome=deferred_outcome(prev, action, now, now + timedelta(seconds=30),
                                                                    f"target lookup failed: {lookup_failed}"))
        members: list[tuple[ObjectKind, str]] | None = None
        sent: frozenset[str] = frozenset()
        if action.kind in (A.ADD_MEMBERS, A.REMOVE_MEMBERS) and not action.target_id:
            return _Prepared(action, prev, outcome=Outcome(action, OutcomeResult.NOOP, None,
                                                           detail="the group has no target id yet"))
        if action.kind in (A.ADD_MEMBERS, A.REMOVE_MEMBERS):
            members = []
            got: set[str] = set()
            for m in action.members:
                ms = self.state(action.target, m)
                if ms is not None and ms.target_id:
                    members.append((ms.kind, ms.target_id))
                    got.add(m)
            sent = frozenset(got)
            if not members:
                return _Prepared(action, prev, outcome=Outcome(action, OutcomeResult.NOOP, None,
                                                               detail="no member resolvable to a target id yet"))
        return _Prepared(action, prev, members=members, sent=sent)  # journaled with its run

    def _finish(self, p: _Prepared, result: Result | None) -> Applied:
        action, prev = p.action, p.prev
        outcome = p.outcome
        if outcome is None:
            assert result is not None  # an action without an outcome was called
            outcome = state_after(prev, action, result, self.cycle.now, member_ids_sent=p.sent)
            self.health.count(action.target, outcome)
            old = self.page.predecessors.get((action.target, action.anchor)) if action.kind == A.ADOPT else None
            if old is not None and outcome.result == OutcomeResult.OK and outcome.state is not None:
                outcome = attrs.evolve(outcome, state=self._take_over(action.target, old, outcome.state))
        if outcome.state is not None:
            self.page.states[action.target][action.anchor] = outcome.state
            self._note_member_change(prev, outcome.state)
            if _frees_name(prev, outcome.state):
                self.name_changes.add(action.target)
        if action.kind == A.HOLD:
            self.tally.held += 1
        self.tally.bump(str(outcome.result) if outcome.result != OutcomeResult.OK else str(action.kind))
        if outcome.result != OutcomeResult.NOOP:
            self.tally.outcome((action.anchor, action.target, str(action.kind), outcome.result, outcome.detail,
                                action.dn))
            if outcome.result == OutcomeResult.OK and (at := self.page.changed.get(action.anchor)) is not None:
                self.tally.lag = self.tally.lag.since(at)  # AD whenChanged -> applied (runtime.lag)
            log.info("object_outcome", cycle_id=self.cycle.cycle_id, anchor=action.anchor, target=action.target,
                     dn=action.dn, action=str(action.kind), result=outcome.result, status=outcome.status,
                     detail=outcome.detail)
        return outcome, p.intent_id

    def _take_over(self, target: str, old: str, new: TargetState) -> TargetState:
        """A recreate adopted its predecessor's target object: it takes the predecessor's member
        list over, and becomes the member the groups hold (before this plan's member actions)."""
        pred = self.state(target, old)
        self.name_changes.add(target)  # re-anchored: a dispute against the predecessor plans again
        if pred is not None:
            new = attrs.evolve(new, members_sent=pred.members_sent)
        overlay = self.page.states[target]
        holders = {a for a, s in overlay.items() if s is not None and old in s.members_sent}
        holders.update(self.store.target_groups_with_member(target, old))
        groups = [s for a in sorted(holders) if (s := self.state(target, a)) is not None]
        for g in reanchored_groups(groups, old, new.anchor):
            overlay[g.anchor] = g
            self.page.reanchored[(target, g.anchor)] = g
        log.info("recreate_took_over", cycle_id=self.cycle.cycle_id, target=target, old=old, new=new.anchor,
                 groups=len(groups))
        return new

    def _note_member_change(self, prev: TargetState | None, new: TargetState) -> None:
        """A member created/restored/disabled/deleted: its groups' member deltas follow."""
        if (prev.state if prev else None) == new.state and (prev.target_id if prev else None) == new.target_id:
            return
        source = self.source_name
        st = self.page.object(self.store, source, new.anchor)
        if st is not None:
            self.member_changes.append(st.object_guid)  # resolved at the end of apply_all
            if st.kind is ObjectKind.USER and reports.presence_changed(prev, new):
                self.presence_changes.append(st)  # its reports follow (resolved at the end of apply_all)


NAME_KEYS = ("userName", "userPrincipalName")  # the names a target may keep unique (a group's: displayName)
_GONE = frozenset({State.SOFT_DELETED, State.DELETED})


def _frees_name(prev: TargetState | None, new: TargetState) -> bool:
    """A target object of ours renamed, soft-deleted, deleted or re-anchored (issue 20): a source
    object disputed against it (``plan.match``: its name was held) may now be planned otherwise.
    A dispute records no other side, so the engine re-plans its target's disputed states."""
    if prev is None or not prev.target_id or prev.ownership not in (Ownership.CREATED, Ownership.ADOPTED):
        return False
    if new.state in _GONE and prev.state not in _GONE:
        return True
    if new.target_id != prev.target_id:
        return True
    keys = ("displayName",) if new.kind == ObjectKind.GROUP else NAME_KEYS
    return any(prev.projection.get(k) != new.projection.get(k) for k in keys)

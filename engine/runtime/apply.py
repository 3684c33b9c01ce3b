"""Applying a plan: the apply half of ``CycleContext`` (kept apart to keep modules small).

Runs of independent actions go to a target concurrently (up to its ``max_in_flight``), every
intent of a run journaled in one commit before any of its calls; each result becomes a new
TargetState (``reconcile.state_after``); failures count towards quarantine; a member whose state
changed puts its groups on the cycle's follow-up list.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs
import structlog

from hybridsync.engine.plan import lifecycle
from hybridsync.engine.plan.outcome import reanchored_groups
from hybridsync.engine.runtime.reconcile import (
    APPLIED,
    Outcome,
    call_target,
    deferred_outcome,
    state_after,
    unapplied_outcome,
)
from hybridsync.engine.core.values import Action, ActionKind, TargetState

log = structlog.get_logger("hybridsync.cycle")
A = ActionKind
FAR = timedelta(days=3650)
MAX_REPORTED_OUTCOMES = 10_000  # per cycle, in the RunReport (bounded memory); counts cover all


@attrs.define
class _Prepared:
    action: Action
    prev: TargetState | None
    outcome: Outcome | None = None  # decided without a target call
    members: list | None = None
    sent: frozenset = frozenset()
    intent_id: int | None = None


RUN = 256  # object actions journaled in one commit before their calls
PARALLEL = frozenset({A.CREATE, A.ADOPT, A.UPDATE, A.DISABLE, A.RESTORE, A.DELETE})


class ApplyMixin:
    """The apply half of ``CycleContext``; it uses the context's fields."""

    # ------------------------------------------------------------------ applying
    def _bump(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def _quarantine(self, name: str, why: str, *, auth: bool) -> None:
        if name in self.paused and name in self.quarantined_now:
            return
        now = self.now()
        prior = next((q for q in self.store.quarantined() if q.target == name), None)
        delay = lifecycle.next_retry_delay(prior.count if prior else 0, base=60.0, cap=3600.0)
        until = now + timedelta(seconds=delay)
        if not self.dry_run:
            self.store.quarantine(name, why[:300], until, at=now)
        self.paused[name] = (until, f"target quarantined: {why[:200]}")
        self.quarantined_now.append(name)
        if auth:
            self.counters[name].auth_failure = why
        log.warning("target_quarantined", cycle_id=self.cycle_id, target=name, until=until.isoformat(), why=why[:200])

    def _apply_all(self, actions: tuple[Action, ...], now: datetime,
                   blocked: Mapping[str, str]) -> list[tuple[Outcome, int | None]]:
        """Apply in plan order. Runs of independent object actions (same target, kind, object
        kind) have all their intents journaled in ONE commit before any call of the run; then they
        go to the target concurrently (up to its ``max_in_flight``) or one by one."""
        out: list[tuple[Outcome, int | None]] = []
        pool: ThreadPoolExecutor | None = None
        try:
            i = 0
            while i < len(actions):
                if self.stop_requested():
                    self.stopped_mid_page = True
                    break
                first = actions[i]
                width = max(1, self.config.target(first.target).max_in_flight) if first.kind in PARALLEL else 1
                j = i + 1
                key = (first.target, first.kind, first.object_kind)
                limit = max(RUN, width * 8) if first.kind in PARALLEL else 1
                while j < len(actions) and j - i < limit and \
                        (actions[j].target, actions[j].kind, actions[j].object_kind) == key:
                    j += 1
                prepared = [self._prepare(a, now, blocked.get(a.target)) for a in actions[i:j]]
                calls = [p for p in prepared if p.outcome is None]
                if calls:
                    ids = self.store.journal_intents(self.cycle_id, [p.action for p in calls], at=now)
                    for p, intent_id in zip(calls, ids):
                        p.intent_id = intent_id
                step = width * 8 if width > 1 else 1  # stop and quarantine are checked between steps
                for k in range(0, len(prepared), step):
                    part = prepared[k:k + step]
                    for p in part:
                        if p.outcome is not None or p.intent_id is None:
                            continue
                        if self.stop_requested():  # finish the objects in flight only
                            self.stopped_mid_page = True
                        elif p.action.target in self.paused:  # quarantined mid-run
                            until, why = self.paused[p.action.target]
                            p.outcome = deferred_outcome(p.prev, p.action, now, until, why)
                        else:
                            continue
                        self.unused_intents.append(p.intent_id)
                        p.intent_id = None
                    if self.stopped_mid_page:
                        part = [p for p in part if p.outcome is not None or p.intent_id is not None]
                    todo = [p for p in part if p.outcome is None]
                    if len(todo) > 1:
                        if pool is None:
                            pool = ThreadPoolExecutor(max_workers=width, thread_name_prefix="hybridsync-apply")
                        answers = dict(zip((id(p) for p in todo), pool.map(self._call, todo)))
                    else:
                        answers = {id(p): self._call(p) for p in todo}
                    for p in part:
                        out.append(self._finish(p, answers.get(id(p))))
                    if self.stopped_mid_page:
                        self.unused_intents.extend(p.intent_id for p in prepared[k + step:] if p.intent_id is not None)
                        break
                if self.stopped_mid_page:
                    break
                i = j
        finally:
            if pool is not None:
                pool.shutdown(wait=True)  # no thread outlives the page
        return out

    def _call(self, p: "_Prepared") -> Any:
        return call_target(self.targets[p.action.target], p.action, p.members)

    def _prepare(self, action: Action, now: datetime, lookup_failed: str | None) -> "_Prepared":
        prev = self._state(action.target, action.anchor)
        if action.target_id is None and prev is not None and prev.target_id and action.kind != A.CREATE:
            action = attrs.evolve(action, target_id=prev.target_id)  # created earlier in this plan
        if action.kind not in APPLIED:
            return _Prepared(action, prev, outcome=unapplied_outcome(prev, action, now))
        if action.target in self.paused:
            until, why = self.paused[action.target]
            return _Prepared(action, prev, outcome=deferred_outcome(prev, action, now, until, why))
        if lookup_failed and action.kind in (A.CREATE, A.ADOPT):
            return _Prepared(action, prev, outcome=deferred_outcome(prev, action, now, now + timedelta(seconds=30),
                                                                    f"target lookup failed: {lookup_failed}"))
        members, sent = None, frozenset()
        if action.kind in (A.ADD_MEMBERS, A.REMOVE_MEMBERS) and not action.target_id:
            return _Prepared(action, prev, outcome=Outcome(action, "noop", None,
                                                           detail="the group has no target id yet"))
        if action.kind in (A.ADD_MEMBERS, A.REMOVE_MEMBERS):
            members, got = [], set()
            for m in action.members:
                ms = self._state(action.target, m)
                if ms is not None and ms.target_id:
                    members.append((ms.kind, ms.target_id))
                    got.add(m)
            sent = frozenset(got)
            if not members:
                return _Prepared(action, prev, outcome=Outcome(action, "noop", None,
                                                               detail="no member resolvable to a target id yet"))
        return _Prepared(action, prev, members=members, sent=sent)  # journaled with its run

    def _finish(self, p: "_Prepared", result: Any) -> tuple[Outcome, int | None]:
        action, prev = p.action, p.prev
        outcome = p.outcome
        if outcome is None:
            outcome = state_after(prev, action, result, self.now(), member_ids_sent=p.sent)
            self._count(action.target, outcome)
            old = self.predecessors.get((action.target, action.anchor)) if action.kind == A.ADOPT else None
            if old is not None and outcome.result == "ok" and outcome.state is not None:
                outcome = attrs.evolve(outcome, state=self._take_over(action.target, old, outcome.state))
        if outcome.state is not None:
            self.state_overlay[action.target][action.anchor] = outcome.state
            self._note_member_change(prev, outcome.state)
        if action.kind == A.HOLD:
            self.held_now += 1
        self._bump(outcome.result if outcome.result != "ok" else str(action.kind))
        if outcome.result != "noop" and len(self.outcomes) < MAX_REPORTED_OUTCOMES:
            self.outcomes.append((action.anchor, action.target, str(action.kind), outcome.result, outcome.detail,
                                  action.dn))
            log.info("object_outcome", cycle_id=self.cycle_id, anchor=action.anchor, target=action.target,
                     dn=action.dn, action=str(action.kind), result=outcome.result, status=outcome.status,
                     detail=outcome.detail)
        return outcome, p.intent_id

    def _take_over(self, target: str, old: str, new: TargetState) -> TargetState:
        """A recreate adopted its predecessor's target object: it takes the predecessor's member
        list over, and becomes the member the groups hold (before this plan's member actions)."""
        pred = self._state(target, old)
        if pred is not None:
            new = attrs.evolve(new, members_sent=pred.members_sent)
        overlay = self.state_overlay[target]
        holders = {a for a, s in overlay.items() if s is not None and old in s.members_sent}
        holders.update(self.store.target_groups_with_member(target, old))
        groups = [s for a in sorted(holders) if (s := self._state(target, a)) is not None]
        for g in reanchored_groups(groups, old, new.anchor):
            overlay[g.anchor] = g
            self.reanchored[(target, g.anchor)] = g
        log.info("recreate_took_over", cycle_id=self.cycle_id, target=target, old=old, new=new.anchor,
                 groups=len(groups))
        return new

    def _count(self, name: str, outcome: Outcome) -> None:
        c = self.counters[name]
        c.ops += 1
        if outcome.result != "ok":
            c.failures += 1
        safety = self.config.safety
        if outcome.target_level:
            self._quarantine(name, outcome.detail or "authentication refused", auth=True)
        elif (c.ops >= safety.quarantine_min_operations and c.failures > safety.quarantine_failure_ratio * c.ops
              and name not in self.paused):
            self._quarantine(name, f"{c.failures} of {c.ops} operations failed in this cycle", auth=False)

    def _note_member_change(self, prev: TargetState | None, new: TargetState) -> None:
        """A member created/restored/disabled/deleted: its groups' member deltas follow."""
        if (prev.state if prev else None) == new.state and (prev.target_id if prev else None) == new.target_id:
            return
        st = self.objects_overlay.get(new.anchor) or self.store.get_object(self.source_name, new.anchor)
        if st is not None:
            self.followup_groups.update(self.store.groups_with_member(self.source_name, st.object_guid))

"""The apply layer: journal the intent, call the target, turn the answer into a new TargetState.

Crash safety rests on three rules:

1. the intent is committed to the journal *before* the target call (``Store.journal_intents``:
   a run of independent actions in one commit, before any call of the run);
2. the outcome (new TargetState + decision record + journal settlement, which deletes the
   settled row: the decision is in history) is committed later in
   the same transaction as the source cursor that covers it (see ``engine.cycle``);
3. the next run settles pending intents first: a create that may have landed is looked up by
   anchor and recorded, so it is never created twice. A create not found while the dead
   process's call may still be in flight (journaled less than the target's ``call_grace``
   ago: a request the server received but had not finished when its caller died) is looked
   up again once that time has passed, before anything is planned. Other operations are idempotent
   (replace, disable, add/remove member, delete with 404 = done) and are simply re-planned,
   because the cursor that covers them did not advance.

Targets never raise for a remote refusal; a connector that does raise is treated as a
retriable failure of that one object.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from attrs import frozen

from hybridsync.connectors.base import Done, Result, RetryAfter, Target, Terminal
from hybridsync.engine.core.redact import redact
from hybridsync.engine.mapping.writeonly import reveal, revealed_values
from hybridsync.engine.runtime.recording import mask_sent
from hybridsync.engine.plan import lifecycle
from hybridsync.engine.plan import outcome as outcome_rule
from hybridsync.engine.runtime import orphans
from hybridsync.statestore.convert import utcnow
from hybridsync.engine.core.values import (
    Action,
    ActionKind,
    ObjectKind,
    TargetState,
)

log = structlog.get_logger("hybridsync.reconcile")

A = ActionKind
CONFLICT_REPLANNED = (A.CREATE, A.UPDATE, A.RESTORE, A.DISABLE)  # a 409 is planned again at once
APPLIED = (A.CREATE, A.ADOPT, A.UPDATE, A.DISABLE, A.RESTORE, A.DELETE, A.ADD_MEMBERS, A.REMOVE_MEMBERS)


@frozen
class Outcome:
    """What happened to one action: the new state to store and how to report it."""

    action: Action
    result: str  # "ok" | "failed" | "retry" | "skipped" | "held" | "reported" | "noop"
    state: TargetState | None  # the TargetState to store (None: leave the stored one)
    status: int | None = None
    detail: str | None = None
    target_level: bool = False  # the failure is the whole target's (auth): quarantine it
    applied: bool = False  # a target call was made


def call_target(target: Target, action: Action, member_ids: list[tuple[ObjectKind, str]] | None) -> Result:
    """Make the one target call an action stands for. An answer quoting a write-only value the
    call sent (an error echoing the request) has it masked before anything records it."""
    sent: list[str] = []
    result = _call_target(target, action, member_ids, sent)
    return mask_sent(result, sent) if sent else result


def bulk_size(target: Target) -> int:
    """How many creates ``target`` takes in one ``create_many`` call (0: none; optional)."""
    size = getattr(target, "bulk_size", None)
    if not callable(size) or not callable(getattr(target, "create_many", None)):
        return 0
    try:
        return max(0, int(size()))
    except Exception as exc:  # a connector bug: creates go one by one
        log.warning("bulk_size_failed", target=getattr(target, "name", None), error=str(exc)[:200])
        return 0


def call_target_many(target: Target, actions: Sequence[Action]) -> list[Result]:
    """The CREATE calls of ``actions`` as one ``create_many`` call: one result per action, in
    order, each masked as ``call_target`` masks one."""
    sent: list[str] = []
    try:
        items = []
        for action in actions:
            attributes = reveal(action.attributes, generated=True)
            sent.extend(revealed_values(attributes))
            items.append((action.object_kind, action.anchor, attributes))
        results = list(target.create_many(items))  # type: ignore[attr-defined]  # optional capability
        if len(results) != len(items):
            raise ValueError(f"create_many answered {len(results)} results for {len(items)} creates")
    except Exception as exc:  # a connector bug or transport error: these objects only
        results = [RetryAfter(0.0, redact(f"{type(exc).__name__}: {exc}", sent)[:500])] * len(actions)
    return [mask_sent(r, sent) if sent else r for r in results]


def _call_target(target: Target, action: Action, member_ids: list[tuple[ObjectKind, str]] | None,
                 sent: list[str]) -> Result:
    k, kind, tid = action.kind, action.object_kind, action.target_id
    try:
        # write-only values computed now, never stored; an adopt never resets a generated one
        attributes = reveal(action.attributes, generated=k != A.ADOPT)
        sent.extend(revealed_values(attributes))
        if k == A.CREATE:
            return target.create(kind, action.anchor, attributes)
        if tid is None:  # every other call names the target's object
            return Terminal(f"{k} {kind} {action.anchor}: no target id is known for it")
        if k == A.ADOPT:
            return target.update(kind, tid, attributes, anchor=action.anchor)
        if k == A.UPDATE:
            return target.update(kind, tid, attributes)
        if k in (A.DISABLE, A.RESTORE):
            # other attributes that changed with it go first, then the flip of `active`
            changes = {n: v for n, v in attributes.items() if n != "active"}
            if changes:
                first = target.update(kind, tid, changes)
                if not isinstance(first, Done):
                    return first
            return target.disable(kind, tid) if k == A.DISABLE else target.restore(kind, tid)
        if k == A.DELETE:
            return target.delete(kind, tid)
        if k == A.ADD_MEMBERS:
            return target.add_members(tid, member_ids or [])
        if k == A.REMOVE_MEMBERS:
            return target.remove_members(tid, member_ids or [])
    except Exception as exc:  # a connector bug or transport error: this object only
        return RetryAfter(0.0, redact(f"{type(exc).__name__}: {exc}", sent)[:500])
    raise ValueError(f"action {k} is not applied through a target")


def state_after(
    prev: TargetState | None,
    action: Action,
    result: Result,
    now: datetime,
    *,
    member_ids_sent: frozenset[str] = frozenset(),
    retry_at: datetime | None = None,
) -> Outcome:
    """The Outcome of an applied action, from the previous state and the target's answer
    (the states themselves follow the one outcome rule, ``engine.plan.outcome``)."""
    status = getattr(result, "status", None)
    gone = isinstance(result, Terminal) and result.gone
    if isinstance(result, Done) or (gone and action.kind == A.DELETE):
        state = outcome_rule.applied_state(prev, action, now,
                                           target_id=result.target_id if isinstance(result, Done) else None,
                                           members_sent=member_ids_sent)
        return Outcome(action, "ok", state, status=status, applied=True)

    why = getattr(result, "why", str(result))
    if isinstance(result, Terminal) and result.detail:
        why = f"{why}: {result.detail}"
    why = redact(why)  # history and last_error are records: no secret in any spelling
    retry_after = result.seconds if isinstance(result, RetryAfter) else None
    if status == 409 and action.kind in CONFLICT_REPLANNED and not (prev is not None and prev.retry_count):
        # a duplicate (create) or a name another object holds (a rename): waiting won't help, the
        # next plan resolves it -- a match, or plan.converge.name_taken (a takeover of the name or
        # a dispute); planned again in this cycle (``cycle``)
        retry_at = retry_at or now
    delay = lifecycle.next_retry_delay(prev.retry_count if prev else 0, retry_after)
    state = outcome_rule.failed_state(prev, action, now, why=why, next_retry_at=retry_at or (now + timedelta(seconds=delay)),
                                      gone=gone)
    target_level = isinstance(result, Terminal) and result.target_level
    kind = "retry" if isinstance(result, RetryAfter) else "failed"
    return Outcome(action, kind, state, status=status, detail=why[:500], target_level=target_level, applied=True)


def unapplied_outcome(prev: TargetState | None, action: Action, now: datetime) -> Outcome:
    """NOOP / HOLD / REPORT: record the state the planner chose, call nothing."""
    result = {A.HOLD: "held", A.REPORT: "reported"}.get(action.kind, "noop")
    return Outcome(action, result, outcome_rule.unapplied_state(prev, action, now))


def deferred_outcome(prev: TargetState | None, action: Action, now: datetime, until: datetime,
                     why: str) -> Outcome:
    """The target is quarantined: the action waits in escrow until the quarantine ends."""
    out = state_after(prev, action, RetryAfter(max(0.0, (until - now).total_seconds()), why), now, retry_at=until)
    st = out.state
    if st is not None and prev is not None:  # not the object's failure: keep its retry count
        st = TargetState(anchor=st.anchor, target=st.target, kind=st.kind, state=st.state,
                         target_id=st.target_id, ownership=st.ownership, projection=st.projection,
                         members_sent=st.members_sent, since=st.since, retry_count=prev.retry_count,
                         next_retry_at=until, last_error=why)
    return Outcome(action, "skipped", st, detail=why, applied=False)


def settle_pending(store: Any, targets: Mapping[str, Any], now: Callable[[], datetime],
                   source: str | None = None, *, wait: Callable[[float], bool | None] = time.sleep,
                   clock: Callable[[], datetime] = utcnow) -> dict[str, int]:
    """Settle the journal left by an interrupted run, before anything new is planned.

    ``source``: settle only the intents of that source's cycles (and those of no known cycle):
    another process may lead another source and be making those calls right now.

    A create or adopt may have landed: look the anchor up; found -> record it as provisioned with
    that target id (never create it twice). Everything else is idempotent and is re-planned
    because the cursor did not advance: settle it as ``unknown``.

    A create NOT found may still be in flight: the dead process's request may sit in the
    target's queue (a takeover after a kill -9 comes within a second). While its intent is
    younger than the target's ``call_grace`` (seconds, by ``clock``: the wall clock the journal
    is written with), this waits (``wait(seconds)``; a true answer means stop: the intents stay
    pending) and looks it up once more.
    """
    counts = {"settled": 0, "found": 0, "unreachable": 0, "waited": 0}
    doubtful: list[tuple[Any, Any, float]] = []  # (intent, target, seconds still in doubt)
    for intent in store.pending_intents():
        if source is not None and intent.cycle_id is not None and store.cycle_source(intent.cycle_id) not in (None, source):
            continue  # another source's: its leader settles it
        action = intent.action
        target = targets.get(action.target)
        if target is None:
            store.journal_done([intent.id])  # no such target any more
            continue
        if action.kind in (A.ADD_MEMBERS, A.REMOVE_MEMBERS) and action.target_id:
            # Whether it landed is unknown, and members_sent (the planner's memory of the group)
            # was not updated: send it again now (adding or removing a member is idempotent), so
            # the group and members_sent agree whatever happened before the kill.
            if _resend_member_change(store, target, intent, now):
                counts["settled"] += 1
            else:
                counts["unreachable"] += 1
            continue
        if action.kind not in (A.CREATE, A.ADOPT):
            store.journal_done([intent.id])  # idempotent: re-planned, the cursor did not advance
            counts["settled"] += 1
            continue
        left = _in_doubt(intent, target, clock) if action.kind == A.CREATE else 0.0
        if _settle_lookup(store, target, intent, now, counts, last=left <= 0):
            continue
        doubtful.append((intent, target, left))
    if doubtful:
        longest = max(left for _, _, left in doubtful)
        log.info("journal_settle_waiting", source=source, creates=len(doubtful), seconds=round(longest, 2))
        counts["waited"] = len(doubtful)
        if wait(longest):
            return counts  # stopping: they stay pending for the next start
        for intent, target, _ in doubtful:
            _settle_lookup(store, target, intent, now, counts, last=True)
    return counts


def _in_doubt(intent: Any, target: Any, clock: Callable[[], datetime]) -> float:
    """Seconds the intent's create may still land: ``call_grace`` after it was journaled
    (never more than ``call_grace``, whatever the writer's clock said)."""
    grace = float(getattr(target, "call_grace", 0.0) or 0.0)
    if grace <= 0 or intent.created_at is None:
        return 0.0
    created: datetime = intent.created_at
    return min(grace, grace - (clock() - created).total_seconds())


def _settle_lookup(store: Any, target: Any, intent: Any, now: Callable[[], datetime], counts: dict[str, int],
                   *, last: bool) -> bool:
    """Look a create/adopt intent's anchor up and settle it: found -> recorded as provisioned;
    not found -> settled as never landed, unless ``last`` is false (False: still in doubt)."""
    action = intent.action
    res = target.lookup_by_anchor(action.object_kind, action.anchor)
    if not isinstance(res, Done):
        counts["unreachable"] += 1
        log.warning("journal_settle_deferred", target=action.target, anchor=action.anchor,
                    why=getattr(res, "why", ""))
        return True
    if not res.found and not last:
        return False
    prev = store.get_target_state(action.target, action.anchor)
    with store.atomic():
        if res.found:
            found = res.found[0]
            outcome = state_after(prev, action, Done(target_id=found.target_id), now())
            store.put_target_state(outcome.state)
            orphans.remember_settled_create(store, intent, now())  # its page's object states were lost
            store.record_decision(intent.cycle_id, action, result="ok", detail="settled after restart: found by anchor",
                                  at=now())
            counts["found"] += 1
        store.journal_done([intent.id])  # settled: the decision (if it landed) is in history
    counts["settled"] += 1
    return True


def _resend_member_change(store: Any, target: Any, intent: Any, now: Callable[[], datetime]) -> bool:
    """Re-send an interrupted ADD/REMOVE_MEMBERS and record it; False when the target failed."""
    action = intent.action
    states = store.get_target_states(action.target, list(action.members))
    members = [(ms.kind, ms.target_id) for m in action.members if (ms := states.get(m)) is not None and ms.target_id]
    sent = frozenset(m for m in action.members if (ms := states.get(m)) is not None and ms.target_id)
    if members:
        res = call_target(target, action, members)
        if not isinstance(res, Done):
            log.warning("journal_settle_deferred", target=action.target, anchor=action.anchor,
                        why=getattr(res, "why", ""))
            return False
    else:
        res = Done(target_id=action.target_id)
    prev = store.get_target_state(action.target, action.anchor)
    with store.atomic():
        if prev is not None:
            outcome = state_after(prev, action, res, now(), member_ids_sent=sent)
            store.put_target_state(outcome.state)
            store.record_decision(intent.cycle_id, action, result="ok",
                                  detail="settled after restart: member change sent again", at=now())
        store.journal_done([intent.id])
    return True

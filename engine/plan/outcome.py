"""The outcome rule: what a target holds, and what the store records, after an action. Pure.

One rule, used by the engine (``runtime.reconcile``), by replay (which runs the engine) and by the
planner tests' model target. It follows what a target connector really sends
(``connectors/scim/prepare.py``):

- CREATE posts the projection with ``None`` values left out (``nest``) and ``externalId`` = the
  anchor: the target holds exactly the non-null attributes sent.
- ADOPT patches ``externalId`` = anchor plus every projected path: ``replace`` for a value,
  ``remove`` for ``None``. The target object was not ours before, so what an earlier state of the
  anchor recorded (a deleted object's projection) says nothing about it: the projection is
  *replaced* by the non-null attributes sent. Paths the projection left out (IgnoreFlowIfNullOrEmpty,
  a reference not resolvable yet) are not claimed: the next plan sets them once they are known.
- UPDATE, RESTORE and DISABLE patch exactly their attributes: the stored projection with those
  attributes applied, a ``None`` removing the path (the target holds no value; for diffing,
  an absent path and a ``None`` are the same).
- DELETE (and a NOOP to ``deleted``: a recreate took the target object over) releases the target
  object: no target id, no members, an empty projection.
- NOOP, HOLD and REPORT send nothing: the projection is unchanged.
- An UPDATE planned to ``escrow`` (the temporary name of a rename cycle, ``plan.converge``) stays
  in escrow when it succeeds, due at once (``next_retry_at`` = ``since``): the stored state itself
  asks for the next step, so a crash between the steps loses nothing.

``externalId`` is the anchor, bookkeeping rather than a mapped path: never part of a projection.
Members: CREATE and ADOPT start from none (a recreate takes its predecessor's list over), ADD
adds the members actually sent (resolvable to a target id), REMOVE removes the action's members.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs

from hybridsync.engine.core.values import Action, ActionKind, Ownership, TargetState
from hybridsync.engine.plan import lifecycle
from hybridsync.engine.plan.lifecycle import State

A = ActionKind
EXTERNAL_ID = "externalId"
UNAPPLIED = frozenset({A.NOOP, A.HOLD, A.REPORT})

__all__ = ["applied_state", "failed_state", "projection_after", "reanchored_groups", "unapplied_state"]


def projection_after(old: Mapping[str, Any], action: Action) -> dict[str, Any]:
    """The projection the target holds after ``action`` succeeded, from the one held before."""
    kind = action.kind
    if kind in (A.CREATE, A.ADOPT):
        return {k: v for k, v in action.attributes.items() if v is not None and k != EXTERNAL_ID}
    if kind == A.DELETE or action.to_state == State.DELETED:
        return {}
    out = dict(old)
    if kind in UNAPPLIED:
        return out
    for name, value in action.attributes.items():
        if value is None:
            out.pop(name, None)
        elif name != EXTERNAL_ID:
            out[name] = value
    return out


def _base(prev: TargetState | None, action: Action) -> TargetState:
    return prev or TargetState(anchor=action.anchor, target=action.target, kind=action.object_kind,
                               state=str(State.NEW))


def applied_state(prev: TargetState | None, action: Action, now: datetime, *, target_id: str | None = None,
                  members_sent: frozenset[str] | None = None,
                  predecessor: TargetState | None = None) -> TargetState:
    """The state to record after the target applied ``action`` successfully.

    ``target_id``: the id the target answered with (a create's new id), else the action's or the
    stored one is kept. ``members_sent``: for ADD_MEMBERS, the member anchors actually sent
    (default: all of ``action.members``). ``predecessor``: for the ADOPT of a recreate, the old
    anchor's state, whose member list the new state takes over.
    """
    base = _base(prev, action)
    to_state = action.to_state or (prev.state if prev else str(State.PROVISIONED))
    new_state = lifecycle.outcome(to_state, action.kind, lifecycle.Result.OK)
    kind = action.kind
    members = base.members_sent
    ownership = base.ownership
    if kind == A.CREATE:
        members, ownership = frozenset(), Ownership.CREATED
    elif kind == A.ADOPT:
        members, ownership = frozenset(), Ownership.ADOPTED
        if predecessor is not None:
            members = predecessor.members_sent
    elif kind == A.ADD_MEMBERS:
        members = members | (frozenset(action.members) if members_sent is None else members_sent)
    elif kind == A.REMOVE_MEMBERS:
        members = members - frozenset(action.members)
    tid = target_id or action.target_id or base.target_id
    if new_state == State.DELETED:  # the target object is gone (or taken over): release it
        tid, members = None, frozenset()
    since = now if new_state != base.state or base.since is None else base.since
    due = since if new_state == State.ESCROW else None  # a step of a rename cycle: planned again at once
    return TargetState(
        anchor=action.anchor, target=action.target, kind=action.object_kind, state=new_state,
        target_id=tid, ownership=ownership, projection=projection_after(base.projection, action),
        members_sent=members, since=since, retry_count=base.retry_count if due else 0, next_retry_at=due)


def failed_state(prev: TargetState | None, action: Action, now: datetime, *, why: str, next_retry_at: datetime,
                 gone: bool = False) -> TargetState:
    """The state to record after the target refused ``action`` (retriable or not): escrow, with
    the stored projection and members (nothing changed at the target). A CREATE, or an object the
    target says is gone, keeps no target id."""
    base = _base(prev, action)
    to_state = action.to_state or (prev.state if prev else str(State.PROVISIONED))
    target_id = None if gone or action.kind == A.CREATE else base.target_id
    return TargetState(
        anchor=action.anchor, target=action.target, kind=action.object_kind,
        state=lifecycle.outcome(to_state, action.kind, lifecycle.Result.FAILED),
        target_id=target_id, ownership=base.ownership, projection=base.projection,
        members_sent=base.members_sent, since=base.since if base.state == State.ESCROW else now,
        retry_count=base.retry_count + 1, next_retry_at=next_retry_at, last_error=why[:500])


def unapplied_state(prev: TargetState | None, action: Action, now: datetime) -> TargetState | None:
    """NOOP / HOLD / REPORT: the state the planner chose, recorded without a target call; None
    when there is nothing new to record."""
    if action.to_state is None or (prev is not None and prev.state == action.to_state
                                   and (action.target_id or None) in (None, prev.target_id)):
        return None
    base = _base(prev, action)
    gone = action.to_state == State.DELETED  # e.g. superseded by a recreate: the id is released
    return TargetState(
        anchor=action.anchor, target=action.target, kind=action.object_kind, state=action.to_state,
        target_id=None if gone else (action.target_id or base.target_id), ownership=base.ownership,
        projection=projection_after(base.projection, action),
        members_sent=frozenset() if gone else base.members_sent,
        since=now if action.to_state != base.state else base.since,
        retry_count=0 if action.kind == A.NOOP else base.retry_count)


def reanchored_groups(states: Iterable[TargetState], old: str, new: str) -> list[TargetState]:
    """A recreate took ``old``'s target object over as ``new``: the group states whose
    ``members_sent`` named ``old``, now naming ``new`` (it is the same target object)."""
    return [attrs.evolve(s, members_sent=(s.members_sent - {old}) | {new})
            for s in states if old in s.members_sent]

"""The closed vocabularies of hybridsync, as ``StrEnum``s: the lifecycle ``State`` of an
(object, target) pair and its groups, what applying one action came to (``OutcomeResult``)
and how a cycle ended (``CycleStatus``).

A ``StrEnum`` member *is* its text (``State.HELD == "held"``, ``str(State.HELD) == "held"``,
``json.dumps`` writes ``"held"``), so the store's columns, recordings and logs hold exactly the
text they held before, and code that still compares with plain strings keeps working.

The lifecycle's table (which trigger moves which state where) is the planner's
(``engine/plan/lifecycle.py``); the groups below are the only definitions of "unowned",
"live", "gone" ... that the planner's modules share.
"""

from __future__ import annotations

import enum


class State(enum.StrEnum):
    """The lifecycle state of one (object, target) pair, as ``TargetState.state`` stores it."""

    NEW = "new"
    PENDING_CREATE = "pending_create"
    PROVISIONED = "provisioned"
    DISABLED = "disabled"
    SOFT_DELETED = "soft_deleted"
    DELETED = "deleted"
    DISPUTED = "disputed"
    ESCROW = "escrow"
    HELD = "held"
    OUT_OF_SCOPE = "out_of_scope"


# No live target object of ours: a create or an adoption may start here (lifecycle TABLE order).
UNOWNED: tuple[State, ...] = (State.NEW, State.OUT_OF_SCOPE, State.DELETED, State.DISPUTED)
# Ours and live at the target: leaving scope, a tombstone or vanishing soft-deletes it.
LIVE: tuple[State, ...] = (State.PROVISIONED, State.DISABLED, State.ESCROW)
# Gone from the target's point of view (no longer provisioned by us).
GONE: frozenset[State] = frozenset({State.SOFT_DELETED, State.DELETED, State.OUT_OF_SCOPE})
# The object exists and is ours at the target (a member candidate): after this plan ...
PRESENT_PLANNED: frozenset[State] = frozenset({State.PENDING_CREATE, State.PROVISIONED, State.DISABLED, State.HELD})
# ... and as stored before it.
PRESENT_STORED: frozenset[State] = frozenset({State.PROVISIONED, State.DISABLED, State.HELD, State.ESCROW})
# A recreated object may take over the target object another anchor holds in these states.
TAKEOVER: frozenset[State] = frozenset({State.SOFT_DELETED, State.DISABLED, State.HELD})


def as_state(value: str | State) -> State:
    """A stored state name -> ``State`` (a ``State`` is returned as it is)."""
    return value if type(value) is State else State(value)


def as_optional_state(value: str | State | None) -> State | None:
    return None if value is None else as_state(value)


class OutcomeResult(enum.StrEnum):
    """What applying (or deliberately not applying) one action came to."""

    OK = "ok"  # the target did it
    FAILED = "failed"  # the target refused it as it is: escrow
    RETRY = "retry"  # the target asked to try again later
    SKIPPED = "skipped"  # not tried: the target is quarantined
    HELD = "held"  # a delete/disable held by a safety rule
    REPORTED = "reported"  # disputed or failed in planning: reported, nothing applied
    NOOP = "noop"  # nothing to do


class CycleStatus(enum.StrEnum):
    """How one cycle ended (the ``cycles.status`` column)."""

    OK = "ok"
    SOURCE_FAILED = "source_failed"  # the source read failed: what was committed stays
    UNSAFE_WATERMARK = "unsafe_watermark"  # a SafetyStop: the watermark moved underneath or back
    STOPPED = "stopped"  # asked to stop mid-page
    QUARANTINED = "quarantined"  # a target was quarantined during the cycle

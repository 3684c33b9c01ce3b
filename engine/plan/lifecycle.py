"""The lifecycle of one (object, target) pair: one table, one module.

States and triggers are ``StrEnum``s; the table below is the single source of truth. The planner
looks edges up in ``EDGES`` (a dict derived from ``TABLE``); ``build_machine`` builds the same
table as a ``transitions`` machine (``auto_transitions=False``) and the state is persisted by
name (``TargetState.state``) and rebuilt from it. ``docs/lifecycle.md`` is generated from
``TABLE`` by ``mermaid()`` (a test fails when it is stale).

Planning edges carry the action the planner emits; ``apply_ok`` / ``apply_failed`` edges are
taken by the engine through ``outcome()`` after the target answered.

========================  ==========================================  ===============  ==========
trigger                   from                                        to               action
========================  ==========================================  ===============  ==========
seen_in_scope             new, out_of_scope, deleted, disputed        pending_create   create
disabled_in_ad            new, out_of_scope, deleted, disputed        disabled         create
matched                   new, out_of_scope, deleted, disputed        provisioned      adopt
recreated                 new, out_of_scope, deleted, disputed        provisioned      adopt
conflict                  new, out_of_scope, deleted, disputed        disputed         report
left_scope                new                                         out_of_scope     noop
seen_in_scope             provisioned, escrow                         provisioned      update
enabled_in_ad             disabled                                    provisioned      restore
disabled_in_ad            provisioned, escrow                         disabled         disable
disabled_in_ad            disabled                                    disabled         update
left_scope                provisioned, disabled, escrow               soft_deleted     disable
tombstoned                provisioned, disabled, escrow               soft_deleted     disable
vanished                  provisioned, disabled, escrow               soft_deleted     disable
over_threshold            provisioned, disabled, escrow               held             hold
left_scope                held                                        held             hold
tombstoned                held                                        held             hold
vanished                  held                                        held             hold
approved                  held                                        soft_deleted     disable
returned                  soft_deleted, held                          provisioned      restore
disabled_in_ad            soft_deleted, held                          disabled         update
grace_expired             soft_deleted                                deleted          delete
superseded                soft_deleted, disabled, held,               deleted          noop
                          provisioned, escrow
name_taken                soft_deleted                                deleted          delete
apply_ok                  pending_create                              provisioned      -
apply_failed              pending_create, provisioned, disabled,      escrow           -
                          soft_deleted, deleted
========================  ==========================================  ===============  ==========

Rules around the table (each is a reason in the plan):

- ``new`` is the state of an anchor the target's state does not know (no ``TargetState``).
- ``effective_state``: ``escrow`` or ``pending_create`` without a target id is planned as ``new``
  (the create never landed; match again), ``pending_create`` with a target id as ``provisioned``.
- Pairs listed in ``IGNORED`` are declared no-ops (late or duplicate triggers): a NOOP action,
  state unchanged. Any other pair missing from the table is a bug (``LifecycleError``).
- Diff-carrying actions (update, restore, disable) whose attribute diff is empty become NOOP
  actions that still carry ``to_state``: the engine records the new state without calling the
  target.
- ``outcome(action.to_state, action.kind, result)``: ``ok`` takes the ``apply_ok`` edge if the
  table has one, else keeps the state; ``failed`` takes ``apply_failed`` (to ``escrow``).
- A group has no ``active`` flag: an edge to ``soft_deleted`` (``left_scope``, ``tombstoned``,
  ``vanished``, ``approved``) of a group holding members at the target is ONE
  ``remove_members`` action (every member sent) carrying that ``to_state`` -- access goes at
  once, counted by the delete threshold like a user's disable (over it: ``hold``, members kept);
  a failure leaves it in ``escrow`` to retry. ``grace_expired`` deletes the group; ``returned``
  restores it and its member delta adds the members back.
- ``name_taken``: a live object renamed in AD onto the unique name (``userName``; a group's
  ``displayName`` where group names are unique) still held by a soft-deleted target object of
  ours met a 409. The soft-deleted object is deleted before its grace period ends (counted by the
  delete threshold) and the rename follows in the same cycle (``plan.converge``). Over the
  threshold, or a holder that is not a soft-deleted object of ours: the rename is *disputed*, a
  report naming the holder, not sent again until that changes.
- ``recreated`` (``match.recreated``): a new anchor takes over the target object of an owned
  predecessor in ``soft_deleted``, ``disabled`` or ``held`` -- or one leaving in the same plan
  (its tombstone, scope exit or absence read with the new object: ``superseded`` from
  ``provisioned``/``escrow``, so no disable is sent first). Groups the target does not know are
  matched by ``displayName`` for this takeover only: any other holder is ``conflict``
  (``disputed``, naming both), never an adoption by name.
- A mapping that yields no value for an attribute the target requires (``plan.required``) is a
  per-object error naming the attribute and the expression: a ``report``, state unchanged.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Any, cast

from attrs import field, frozen

from hybridsync.engine.core.states import LIVE, UNOWNED
from hybridsync.engine.core.states import State as State  # defined in core (TargetState.state is one); re-exported
from hybridsync.engine.core.values import ActionKind, Reason, TargetState


class Trigger(enum.StrEnum):
    SEEN_IN_SCOPE = "seen_in_scope"
    DISABLED_IN_AD = "disabled_in_ad"
    ENABLED_IN_AD = "enabled_in_ad"
    MATCHED = "matched"
    RECREATED = "recreated"
    CONFLICT = "conflict"
    LEFT_SCOPE = "left_scope"
    TOMBSTONED = "tombstoned"
    VANISHED = "vanished"
    OVER_THRESHOLD = "over_threshold"
    APPROVED = "approved"
    RETURNED = "returned"
    GRACE_EXPIRED = "grace_expired"
    SUPERSEDED = "superseded"
    NAME_TAKEN = "name_taken"
    APPLY_OK = "apply_ok"
    APPLY_FAILED = "apply_failed"


class Result(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"


S, T, A = State, Trigger, ActionKind

# (trigger, sources, dest, action or None for apply edges): the whole lifecycle.
TABLE: tuple[tuple[Trigger, tuple[State, ...], State, ActionKind | None], ...] = (
    (T.SEEN_IN_SCOPE, UNOWNED, S.PENDING_CREATE, A.CREATE),
    (T.DISABLED_IN_AD, UNOWNED, S.DISABLED, A.CREATE),
    (T.MATCHED, UNOWNED, S.PROVISIONED, A.ADOPT),
    (T.RECREATED, UNOWNED, S.PROVISIONED, A.ADOPT),
    (T.CONFLICT, UNOWNED, S.DISPUTED, A.REPORT),
    (T.LEFT_SCOPE, (S.NEW,), S.OUT_OF_SCOPE, A.NOOP),
    (T.SEEN_IN_SCOPE, (S.PROVISIONED, S.ESCROW), S.PROVISIONED, A.UPDATE),
    (T.ENABLED_IN_AD, (S.DISABLED,), S.PROVISIONED, A.RESTORE),
    (T.DISABLED_IN_AD, (S.PROVISIONED, S.ESCROW), S.DISABLED, A.DISABLE),
    (T.DISABLED_IN_AD, (S.DISABLED,), S.DISABLED, A.UPDATE),
    (T.LEFT_SCOPE, LIVE, S.SOFT_DELETED, A.DISABLE),
    (T.TOMBSTONED, LIVE, S.SOFT_DELETED, A.DISABLE),
    (T.VANISHED, LIVE, S.SOFT_DELETED, A.DISABLE),
    (T.OVER_THRESHOLD, LIVE, S.HELD, A.HOLD),
    (T.LEFT_SCOPE, (S.HELD,), S.HELD, A.HOLD),
    (T.TOMBSTONED, (S.HELD,), S.HELD, A.HOLD),
    (T.VANISHED, (S.HELD,), S.HELD, A.HOLD),
    (T.APPROVED, (S.HELD,), S.SOFT_DELETED, A.DISABLE),
    (T.RETURNED, (S.SOFT_DELETED, S.HELD), S.PROVISIONED, A.RESTORE),
    (T.DISABLED_IN_AD, (S.SOFT_DELETED, S.HELD), S.DISABLED, A.UPDATE),
    (T.GRACE_EXPIRED, (S.SOFT_DELETED,), S.DELETED, A.DELETE),
    (T.SUPERSEDED, (S.SOFT_DELETED, S.DISABLED, S.HELD, S.PROVISIONED, S.ESCROW), S.DELETED, A.NOOP),
    (T.NAME_TAKEN, (S.SOFT_DELETED,), S.DELETED, A.DELETE),
    (T.APPLY_OK, (S.PENDING_CREATE,), S.PROVISIONED, None),
    (T.APPLY_FAILED, (S.PENDING_CREATE, S.PROVISIONED, S.DISABLED, S.SOFT_DELETED, S.DELETED),
     S.ESCROW, None),
)

# Declared no-ops: (state, trigger) pairs that change nothing (late or duplicate observations).
IGNORED: frozenset[tuple[State, Trigger]] = frozenset(
    [(s, t) for s in (S.NEW, S.OUT_OF_SCOPE, S.DELETED) for t in (T.TOMBSTONED, T.VANISHED)]
    + [(s, T.LEFT_SCOPE) for s in (S.OUT_OF_SCOPE, S.DELETED, S.SOFT_DELETED, S.DISPUTED)]
    + [(S.SOFT_DELETED, t) for t in (T.TOMBSTONED, T.VANISHED)]
    + [(S.DISPUTED, t) for t in (T.TOMBSTONED, T.VANISHED)]
    + [(s, T.APPLY_OK) for s in State if s != S.PENDING_CREATE]
)


class LifecycleError(Exception):
    """A (state, trigger) pair that is neither a table edge nor a declared no-op."""


@frozen
class Edge:
    trigger: Trigger
    source: State
    dest: State
    action: ActionKind | None
    # the reason chain's link for taking this edge, made once (every plan shares it)
    reason: Reason = field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "reason", Reason(self.rule, str(self.trigger)))

    @property
    def rule(self) -> str:
        return f"lifecycle.{self.source}->{self.dest}"


def _edges() -> dict[tuple[State, Trigger], Edge]:
    out: dict[tuple[State, Trigger], Edge] = {}
    for trigger, sources, dest, action in TABLE:
        for source in sources:
            key = (source, trigger)
            if key in out:
                raise LifecycleError(f"table has two edges for {source} --{trigger}-->")
            out[key] = Edge(trigger, source, dest, action)
    return out


EDGES: dict[tuple[State, Trigger], Edge] = _edges()


def edge(state: State | str, trigger: Trigger) -> Edge | None:
    """The edge for ``state --trigger-->``; None for a declared no-op; LifecycleError otherwise."""
    found = EDGES.get(cast("tuple[State, Trigger]", (state, trigger)))  # a StrEnum hashes as its name
    if found is not None:
        return found
    if (state, trigger) in IGNORED:
        return None
    raise LifecycleError(f"no lifecycle edge for {State(state)} --{trigger}-->")


_STATES = {str(s): s for s in State}


def effective_state(ts: TargetState | None) -> State:
    """The state the planner plans from (see the module docstring)."""
    if ts is None:
        return S.NEW
    st = _STATES[ts.state]
    if st in (S.ESCROW, S.PENDING_CREATE) and not ts.target_id:
        return S.NEW
    if st == S.PENDING_CREATE:
        return S.PROVISIONED
    return st


def outcome(state_name: str, action_kind: ActionKind | str, result: Result | str) -> str:
    """The state to record after the engine applied an action.

    ``state_name`` is the action's ``to_state``; ``result`` is ``"ok"`` or ``"failed"`` (a
    retriable failure, a RetryAfter, or a terminal failure: all go to escrow, the engine sets
    ``next_retry_at`` with ``next_retry_delay``). Actions that are never applied (NOOP, HOLD,
    REPORT) keep ``state_name`` whatever ``result`` says.
    """
    kind = ActionKind(action_kind)
    st = State(state_name)
    if kind in (A.NOOP, A.HOLD, A.REPORT):
        return str(st)
    trig = T.APPLY_OK if Result(result) == Result.OK else T.APPLY_FAILED
    found = EDGES.get((st, trig))
    if found is not None:
        return str(found.dest)
    if (st, trig) in IGNORED:
        return str(st)
    raise LifecycleError(f"no lifecycle edge for {st} --{trig}--> after {kind}")


def next_retry_delay(retry_count: int, retry_after: float | None = None, *,
                     base: float = 5.0, cap: float = 3600.0) -> float:
    """Seconds to wait before retry number ``retry_count + 1`` of an object in escrow.

    A target's ``RetryAfter(seconds)`` is honoured exactly; otherwise exponential
    (``base * 2**retry_count``), capped at ``cap``. Deterministic (no jitter): plans replay.
    """
    if retry_after is not None:
        return max(0.0, float(retry_after))
    if retry_count < 0:
        retry_count = 0
    if retry_count >= 63:
        return cap
    return float(min(cap, base * (2 ** retry_count)))


def grace_cutoff(clock: datetime, soft_delete_days: float) -> datetime:
    """Objects soft-deleted at or before this instant are due for DELETE at ``clock``."""
    return clock - timedelta(days=soft_delete_days)


def grace_expired(ts: TargetState, clock: datetime, soft_delete_days: float) -> bool:
    return ts.since is not None and ts.since <= grace_cutoff(clock, soft_delete_days)


# --------------------------------------------------------------------------------------------
# The same table as a `transitions` machine, and as a diagram
# --------------------------------------------------------------------------------------------


def machine_transitions() -> list[dict[str, object]]:
    """``TABLE`` (plus the declared no-ops as internal transitions) in ``transitions`` form."""
    out: list[dict[str, object]] = [
        {"trigger": str(trigger), "source": [str(s) for s in sources], "dest": str(dest)}
        for trigger, sources, dest, _action in TABLE
    ]
    for state, trigger in sorted(IGNORED):
        out.append({"trigger": str(trigger), "source": str(state), "dest": None})
    return out


class Pair:
    """A minimal model for a ``transitions`` machine: one (object, target) pair's state name."""

    def __init__(self, state: str):
        self.state = state


def build_machine(model: object | None = None, initial: str = "new") -> Any:  # a transitions.Machine
    """A ``transitions.Machine`` for ``TABLE`` (``auto_transitions=False``), rebuilt from a
    persisted state name. Pass ``model=None`` for a shared machine and ``add_model`` later."""
    from transitions import Machine

    return Machine(model=model, states=[str(s) for s in State], transitions=machine_transitions(),
                   initial=initial, auto_transitions=False, send_event=False)


def mermaid() -> str:
    """The Mermaid state diagram of ``TABLE``."""
    lines = ["stateDiagram-v2", "    [*] --> new"]
    for trigger, sources, dest, action in TABLE:
        label = str(trigger) if action is None else f"{trigger} / {action}"
        for source in sources:
            lines.append(f"    {source} --> {dest}: {label}")
    return "\n".join(lines) + "\n"


def render_doc() -> str:
    """The whole of ``docs/lifecycle.md`` (generated: ``python -m hybridsync.engine.plan.lifecycle``)."""
    rows = ["| trigger | from | to | action |", "|---|---|---|---|"]
    for trigger, sources, dest, action in TABLE:
        rows.append(f"| `{trigger}` | {', '.join(f'`{s}`' for s in sources)} | `{dest}` | {action or '-'} |")
    ignored = sorted(f"`{s}` + `{t}`" for s, t in IGNORED)
    return (
        "# Lifecycle of an (object, target) pair\n\n"
        "<!-- generated from engine/plan/lifecycle.py TABLE by `python -m hybridsync.engine.plan.lifecycle`; "
        "do not edit (tests/engine/test_lifecycle.py fails when stale) -->\n\n"
        + (__doc__ or "").split("Rules around the table", 1)[1].split("\n", 1)[1].strip() + "\n\n"
        "```mermaid\n" + mermaid() + "```\n\n" + "\n".join(rows) + "\n\n"
        "Declared no-ops (state unchanged): " + ", ".join(ignored) + ".\n"
    )


if __name__ == "__main__":  # pragma: no cover - regenerates the docs
    import sys

    sys.stdout.write(render_doc())

"""The groups a cycle still has to plan again (``CycleState.followup_groups``: a group whose
members were created or changed state after its own plan, a manager's reports, a 409 to plan
again), kept in the state store as well as in memory.

A full sync creates a group's members over many pages and adds them to the group in the due pass
after the last page, in parts (``cycle._due_pass``). The watermark moves with each page, so a
process killed between the last page's commit and the end of the due pass does not read those
groups again in its next delta: kept only in memory, they waited for the next full read with
members missing. Here the pending set is written in the same commit unit as the outcomes that
made it (``commit_page``) -- only when it changed since it was last written, so a cycle with no
follow-ups writes nothing. While the due pass runs, its groups stay in the stored set
(``CycleState.due_pending``); once it has ended, the set is written once more: the follow-ups
left for the next cycle, or none. A process killed or stopped before that leaves them stored:
the next cycle's opening reads them back (``opening_key``) and its due pass plans them again
(idempotent: a group already right plans no call).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hybridsync.engine.runtime.context import CycleState

KEY = "engine.followup_groups."


def opening_key(source: str) -> str:
    return KEY + source


def restore(state: CycleState, source: str, meta: Mapping[str, Any]) -> None:
    """Seed ``state`` with what an earlier cycle left stored (from the opening's ``meta``)."""
    stored = frozenset(str(a) for a in meta.get(opening_key(source)) or ())
    state.followup_groups |= stored
    state.followup_written = stored


def pending(state: CycleState) -> frozenset[str]:
    """Groups still to plan: the follow-ups found, and the groups of a due pass under way."""
    return frozenset(state.followup_groups | state.due_pending)


def persist(store: Any, source: str, state: CycleState) -> None:
    """Write the pending set when it changed since last written (call inside a commit unit)."""
    now = pending(state)
    if now != state.followup_written:
        store.meta_set(opening_key(source), sorted(now))
        state.followup_written = now


def persist_alone(store: Any, source: str, state: CycleState) -> None:
    """``persist`` in a commit unit of its own, opened only when there is something to write."""
    if pending(state) != state.followup_written:
        with store.atomic():
            persist(store, source, state)


__all__ = ["KEY", "opening_key", "pending", "persist", "persist_alone", "restore"]

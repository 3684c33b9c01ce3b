"""``cycle_opening``: the questions a reconcile cycle asks the store before it reads its source,
answered at once as one frozen value.

A cycle used to ask them one by one (the cursor, the last complete full read, the journal's
pending intents, quarantines, approved holds, due retries, the delete threshold's window, a few
meta keys): each is a round trip to a PostgreSQL server, ~15 per cycle, more than a 10-change
delta cycle's own work. Here they are ``Query`` values of the parts that own them, and the
handle answers them together (``Db.ask_all``): SQLite one after the other, PostgreSQL in ONE
round trip (a pipeline with one sync, postgres/handle.py). Same queries, same conversions, so
each field equals what the single-question method returns at that moment (the conformance kit,
``testing/opening.py``, proves it for every store).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from attrs import frozen

from hybridsync.engine.core.values import Cursor, Refresh, TargetState
from hybridsync.statestore.records import HeldRecord, Intent, QuarantineRecord

if TYPE_CHECKING:  # the parts and the handles import nothing from here
    from hybridsync.statestore.facts import Facts
    from hybridsync.statestore.log import Log
    from hybridsync.statestore.objects import Objects
    from hybridsync.statestore.targets import Targets


@frozen
class CycleOpening:
    """What a cycle of ``source`` needs to know before it reads (see ``StateStore.cycle_opening``).

    - ``cursor``: ``get_cursor(source)``; ``last_complete_round``: ``last_complete_round(source)``;
    - ``pending_intents``: ``pending_intents()`` of the source's cycles and of no known cycle
      (what ``settle_pending(store, ..., source)`` settles; another source's are its leader's);
    - ``quarantined``: ``quarantined()``;
    - per target asked: ``approved`` (``approved_actions``), ``due_retries`` (``due_retries(t, now)``)
      and, when ``removals_since`` was given, ``access_removals`` (else None);
    - ``meta``: the stored values of the ``meta_keys`` asked (a missing key is absent);
    - ``cycle_id`` / ``cycle_mode``: with ``begin_cycle_at``, the cycle begun by the same call
      (``begin_cycle(source, mode, at=begin_cycle_at)``, mode ``full`` when ``force_full`` or the
      cursor answered is a ``Refresh``, else ``delta``); None otherwise.
    """

    cursor: Cursor
    last_complete_round: tuple[int, int, datetime] | None
    pending_intents: tuple[Intent, ...]
    quarantined: tuple[QuarantineRecord, ...]
    approved: Mapping[str, tuple[HeldRecord, ...]]
    due_retries: Mapping[str, tuple[TargetState, ...]]
    access_removals: Mapping[str, int] | None
    meta: Mapping[str, Any]
    cycle_id: int | None = None
    cycle_mode: str | None = None


def cycle_mode(cursor: Cursor, force_full: bool) -> str:
    """The mode a cycle reading from ``cursor`` records: ``full`` for a ``Refresh``."""
    return "full" if force_full or isinstance(cursor, Refresh) else "delta"


def read_opening(db: Any, objects: Objects, targets: Targets, log: Log, facts: Facts, source: str,
                 names: Iterable[str], now: datetime, *, removals_since: datetime | None = None,
                 meta_keys: Iterable[str] = (), begin_cycle_at: datetime | None = None,
                 force_full: bool = False) -> CycleOpening:
    """The parts' queries, answered by ``db.ask_all`` at once; with ``begin_cycle_at``, the cycle
    begun after them (``db.ask_all_beginning``, where the handle has it: in the same statement,
    PostgreSQL; else ``facts.begin_cycle``, the mode from the cursor answered)."""
    names, keys = list(dict.fromkeys(names)), list(dict.fromkeys(meta_keys))
    queries = [targets.get_cursor_query(source), objects.last_complete_round_query(source),
               log.pending_intents_query(source), log.quarantined_query()]
    queries += [log.approved_actions_query(n) for n in names]
    queries += [targets.due_retries_query(n, now) for n in names]
    if removals_since is not None:
        queries += [log.access_removals_query(n, removals_since) for n in names]
    if keys:
        queries.append(facts.meta_query(keys))
    began = None
    beginning = getattr(db, "ask_all_beginning", None) if begin_cycle_at is not None else None
    if beginning is not None:
        got = beginning(queries, source, begin_cycle_at, force_full)  # None: not here (e.g. fenced)
        if got is not None:
            answered, began = got
    if began is None:
        answered = db.ask_all(queries)
    answers = iter(answered)
    cursor, last, pending, quarantined = next(answers), next(answers), next(answers), next(answers)
    approved = {n: tuple(next(answers)) for n in names}
    due = {n: tuple(next(answers)) for n in names}
    removals = {n: int(next(answers)) for n in names} if removals_since is not None else None
    meta = dict(next(answers)) if keys else {}
    if began is None and begin_cycle_at is not None:
        mode = cycle_mode(cursor, force_full)
        began = (facts.begin_cycle(source, mode, begin_cycle_at), mode)
    return CycleOpening(cursor=cursor, last_complete_round=last, pending_intents=tuple(pending),
                        quarantined=tuple(quarantined), approved=approved, due_retries=due,
                        access_removals=removals, meta=meta, cycle_id=began[0] if began else None,
                        cycle_mode=began[1] if began else None)


__all__ = ["CycleOpening", "cycle_mode", "read_opening"]

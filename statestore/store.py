"""The state store: hybridsync's only memory, one embedded SQLite file through sqlite-utils.

Public API (this is the contract the engine codes against; see README.md for the schema):

    store = Store.open(path)            # creates or migrates; ":memory:" for tests
    with store.atomic(): ...            # one commit unit (nested = savepoint)

All writes outside ``atomic()`` commit on their own. Times are aware UTC datetimes (naive ones
are taken as UTC). Records come back as frozen values (``ObjectState``, ``TargetState`` and the
records in ``records.py``). Nothing secret is ever stored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from hybridsync.engine.values import (
    Action,
    Cursor,
    ObjectKind,
    ObjectState,
    TargetState,
)
from hybridsync.statestore.records import (  # noqa: F401  (re-exported)
    BatchRecord,
    CycleRecord,
    HeldRecord,
    HistoryRecord,
    Intent,
    QuarantineRecord,
    RoundRecord,
    StaleWatermark,
    StoreCorrupt,
    StoreError,
    StoreMisuse,
    WatermarkRecord,
    WatermarkRegression,
)


class Store:
    # ---------------------------------------------------------------- lifecycle
    @classmethod
    def open(cls, path: str | Path) -> "Store":
        """Open (creating or migrating) the store at ``path``; ``":memory:"`` for tests.

        WAL mode, ``synchronous=FULL``, a 30 s busy timeout. Raises ``StoreCorrupt(path, detail)``
        when the file is not SQLite, is damaged, or has a newer format version than this code.
        """
        raise NotImplementedError

    @property
    def path(self) -> str:
        """The file path (or ``":memory:"``)."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def atomic(self) -> Iterator["Store"]:
        """One commit unit. Nested blocks are savepoints. A raise inside leaves nothing behind."""
        raise NotImplementedError
        yield self

    # ---------------------------------------------------------------- objects (per source)
    def get_object(self, source: str, anchor: str) -> ObjectState | None:
        raise NotImplementedError

    def get_objects(self, source: str, anchors: Iterable[str]) -> dict[str, ObjectState]:
        """Anchor -> ObjectState for those that exist (missing anchors are simply absent)."""
        raise NotImplementedError

    def object_by_guid(self, source: str, guid: str) -> ObjectState | None:
        """By objectGUID (base64) -- differs from the anchor when mS-DS-ConsistencyGuid is used."""
        raise NotImplementedError

    def find_objects(self, ref: str) -> list[ObjectState]:
        """Objects matching ``ref`` across sources: objectGUID (base64 or text GUID form),
        anchor, DN (case-insensitive), sAMAccountName or userPrincipalName (case-insensitive)."""
        raise NotImplementedError

    def put_object(self, state: ObjectState, *, at: datetime | None = None) -> None:
        """Insert or replace. Appends to DN history when the DN changed (or is new); members are
        kept in a side table and written as a diff."""
        raise NotImplementedError

    def iter_objects(self, source: str, *, kind: ObjectKind | None = None,
                     include_deleted: bool = True) -> Iterator[ObjectState]:
        """Stream a source's objects in anchor order."""
        raise NotImplementedError

    def count_objects(self, source: str, *, include_deleted: bool = True) -> int:
        raise NotImplementedError

    def mark_seen(self, source: str, anchors: Iterable[str], round_no: int) -> None:
        """Set last_seen_round for these anchors (a full read saw them)."""
        raise NotImplementedError

    def anchors_not_seen_since(self, source: str, round_no: int) -> list[str]:
        """Non-deleted anchors whose last_seen_round < round_no."""
        raise NotImplementedError

    def groups_with_member(self, source: str, guid: str) -> list[str]:
        """Anchors of stored groups whose member set holds objectGUID ``guid``."""
        raise NotImplementedError

    def remove_member_everywhere(self, source: str, guid: str) -> list[str]:
        """The member trap: drop ``guid`` from every stored member set; returns the groups'
        anchors (a deleted member does not bump the group's USN in AD)."""
        raise NotImplementedError

    def dn_history(self, source: str, anchor: str) -> list[tuple[str, datetime]]:
        """(dn, seen_at) oldest first."""
        raise NotImplementedError

    # ---------------------------------------------------------------- full-read rounds
    def begin_full_round(self, source: str, *, at: datetime | None = None) -> int:
        raise NotImplementedError

    def complete_full_round(self, source: str, round_no: int, count: int,
                            *, at: datetime | None = None) -> None:
        raise NotImplementedError

    def last_complete_round(self, source: str) -> tuple[int, int, datetime] | None:
        """(round_no, count, finished_at) of the newest complete full read, or None."""
        raise NotImplementedError

    # ---------------------------------------------------------------- per (object, target)
    def get_target_state(self, target: str, anchor: str) -> TargetState | None:
        raise NotImplementedError

    def get_target_states(self, target: str, anchors: Iterable[str]) -> dict[str, TargetState]:
        raise NotImplementedError

    def put_target_state(self, state: TargetState) -> None:
        """Insert or replace; members_sent is stored in a side table, written as a diff."""
        raise NotImplementedError

    def delete_target_state(self, target: str, anchor: str) -> None:
        raise NotImplementedError

    def iter_target_states(self, target: str, *, state: str | None = None) -> Iterator[TargetState]:
        raise NotImplementedError

    def due_retries(self, target: str, now: datetime) -> list[TargetState]:
        """States with next_retry_at <= now, soonest first."""
        raise NotImplementedError

    def target_state_by_target_id(self, target: str, target_id: str) -> TargetState | None:
        raise NotImplementedError

    def counts_by_state(self) -> dict[str, dict[str, int]]:
        """target -> lifecycle state -> count."""
        raise NotImplementedError

    # ---------------------------------------------------------------- watermarks
    def get_cursor(self, source: str) -> Cursor:
        """The active cursor of ``source``; ``Refresh("no stored cursor")`` when none."""
        raise NotImplementedError

    def watermarks(self, source: str | None = None) -> list[WatermarkRecord]:
        raise NotImplementedError

    def advance_watermark(self, source: str, dc: str, expected: Cursor, new: Cursor) -> int:
        """Compare-and-swap the active cursor of ``source`` to ``new`` (stored under DC ``dc``).

        Raises ``StaleWatermark`` (changing nothing) when the stored active cursor != expected
        (any Refresh equals any Refresh). Raises ``WatermarkRegression`` when a USN watermark
        would go below the highest USN ever stored for that DC, or when the DC changes while the
        active cursor is not a Refresh. Run it inside the same ``atomic()`` as the outcomes it
        covers. Returns the row's new version number.
        """
        raise NotImplementedError

    # ---------------------------------------------------------------- history
    def record_observation(self, cycle_id: int | None, source: str, anchor: str, dn: str | None,
                           kind: ObjectKind | str | None, change: dict[str, Any],
                           at: datetime | None = None) -> int:
        raise NotImplementedError

    def record_decision(self, cycle_id: int | None, action: Action, *, result: str,
                        status: int | None = None, detail: str | None = None,
                        at: datetime | None = None) -> int:
        raise NotImplementedError

    def history(self, *, anchor: str | Iterable[str] | None = None, since: datetime | None = None,
                until: datetime | None = None, kinds: Iterable[str] | None = None,
                target: str | None = None, cycle_id: int | None = None) -> Iterator[HistoryRecord]:
        """Oldest first."""
        raise NotImplementedError

    def decisions(self, **filters: Any) -> Iterator[HistoryRecord]:
        """``history(kinds=("decision",), **filters)``."""
        raise NotImplementedError

    def record_batch(self, cycle_id: int | None, source: str, batch_json: str,
                     at: datetime | None = None) -> int:
        raise NotImplementedError

    def iter_batches(self, until: datetime | None = None) -> Iterator[BatchRecord]:
        raise NotImplementedError

    # ---------------------------------------------------------------- journal
    def journal_intent(self, cycle_id: int | None, action: Action,
                       *, at: datetime | None = None) -> int:
        """Write and COMMIT an intent before the target call. Raises StoreMisuse inside atomic()."""
        raise NotImplementedError

    def journal_settle(self, intent_id: int, result: str, *, at: datetime | None = None) -> None:
        raise NotImplementedError

    def pending_intents(self) -> list[Intent]:
        raise NotImplementedError

    # ---------------------------------------------------------------- held deletes
    def hold(self, action: Action, reason: str, *, at: datetime | None = None) -> int:
        """Hold a delete/disable; one open hold per (target, anchor, action kind)."""
        raise NotImplementedError

    def held(self, target: str | None = None, *, include_approved: bool = False) -> list[HeldRecord]:
        raise NotImplementedError

    def approve_held(self, target: str | None = None, *, by: str,
                     at: datetime | None = None) -> int:
        raise NotImplementedError

    def approved_actions(self, target: str) -> list[HeldRecord]:
        raise NotImplementedError

    def release(self, held_id: int, *, at: datetime | None = None) -> None:
        raise NotImplementedError

    # ---------------------------------------------------------------- quarantine
    def quarantine(self, target: str, reason: str, until: datetime | None,
                   *, at: datetime | None = None) -> None:
        raise NotImplementedError

    def quarantined(self) -> list[QuarantineRecord]:
        raise NotImplementedError

    def clear_quarantine(self, target: str) -> None:
        raise NotImplementedError

    # ---------------------------------------------------------------- cycles
    def begin_cycle(self, source: str, mode: str, at: datetime | None = None) -> int:
        raise NotImplementedError

    def end_cycle(self, cycle_id: int, *, status: str, counts: dict[str, Any],
                  duration_s: float, at: datetime | None = None) -> None:
        raise NotImplementedError

    def last_cycles(self, n: int = 10, *, source: str | None = None) -> list[CycleRecord]:
        """Newest first."""
        raise NotImplementedError

    # ---------------------------------------------------------------- small facts
    def put_target_profile(self, target: str, profile: dict[str, Any]) -> None:
        raise NotImplementedError

    def target_profile(self, target: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def meta_get(self, key: str, default: Any = None) -> Any:
        raise NotImplementedError

    def meta_set(self, key: str, value: Any) -> None:
        """JSON-serializable values only."""
        raise NotImplementedError

    # ---------------------------------------------------------------- snapshot
    def dump(self, fp: IO[str]) -> None:
        """Write the whole store as JSON Lines (format in README.md)."""
        raise NotImplementedError

    @classmethod
    def load(cls, fp: IO[str], path: str | Path) -> "Store":
        """Create a new store at ``path`` from a ``dump()``."""
        raise NotImplementedError

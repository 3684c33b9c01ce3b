"""The state store: hybridsync's only memory, one embedded SQLite file through sqlite-utils.

    store = Store.open(path)            # creates or migrates; ":memory:" for tests
    with store.atomic(): ...            # one commit unit (nested = savepoint)

``Store`` implements ``hybridsync.statestore.protocol.StateStore`` (where every method is
documented) by composition: it owns one SQLite handle (handle.py) and five parts built on it --
``Objects`` (objects.py), ``Targets`` (targets.py), ``Log`` (log.py), ``Recordings``
(recordings.py) and ``Facts`` (facts.py) -- and delegates each method to the part that holds
it. Opening, dumping and loading a file are in sqlitefile.py.

Every write outside ``atomic()`` commits on its own; multi-row writes are atomic by
themselves. Times are aware UTC datetimes (naive ones are taken as UTC). Records come back as
frozen values. Nothing secret is ever stored. One ``Store`` per thread.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlite_utils import Database

from hybridsync.engine.core.values import Action, Cursor, ObjectKind, ObjectState, TargetState
from hybridsync.statestore import migrations as mig
from hybridsync.statestore import sqlitefile
from hybridsync.statestore.facts import Facts
from hybridsync.statestore.handle import Db
from hybridsync.statestore.log import Log
from hybridsync.statestore.objects import Objects
from hybridsync.statestore.opening import CycleOpening, read_opening
from hybridsync.statestore.pageread import PageRead, read_page
from hybridsync.statestore.recordings import Recordings
from hybridsync.statestore.records import (  # noqa: F401  (re-exported)
    BatchRecord,
    CallRecord,
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
    dumps,
    time_to_text,
    utcnow,
)
from hybridsync.statestore.sqlitefile import CACHE_KIB, DUMP_FORMAT  # noqa: F401  (re-exported)
from hybridsync.statestore.targets import Targets


class Store:
    """The SQLite state store (see the module docstring and ``protocol.StateStore``)."""

    #: One writer at a time (the file lock) and AUTOINCREMENT ids: a history row never becomes
    #: visible after one with a larger id, so a reader may continue from the last id it saw.
    history_ids_in_commit_order = True

    def __init__(self, db: Database, path: str) -> None:
        self._db = db
        self._conn: sqlite3.Connection = db.conn
        self._path = path
        self._handle = Db(db)
        self._objects = Objects(self._handle)
        self._targets = Targets(self._handle)
        self._log = Log(self._handle)
        self._recordings = Recordings(self._handle)
        self._facts = Facts(self._handle)

    # ---------------------------------------------------------------- lifecycle
    @classmethod
    def open(cls, path: str | Path, *, readonly: bool = False, synchronous: str = "FULL",
             _stop_before: str | None = None) -> Store:
        """Open (creating or migrating) the store at ``path``; ``":memory:"`` for tests.

        WAL mode, ``synchronous=FULL`` by default (``NORMAL`` allowed), a 30 s busy timeout.
        ``readonly=True`` never creates, migrates or writes (for ``status``/``log``); the file
        must exist. Raises ``StoreCorrupt(path, detail)`` when the file is not SQLite, is
        damaged, is some other program's database, or has a newer format than this code.
        """
        p = str(path)
        db = sqlitefile.open_database(p, readonly=readonly, synchronous=synchronous,
                                      stop_before=_stop_before)
        return cls(db, p)

    @property
    def path(self) -> str:
        """The file path (or ``":memory:"``)."""
        return self._path

    @property
    def format_version(self) -> int:
        return int(self.meta_get("format_version", 0) or 0)

    def is_empty(self) -> bool:
        """True when the store holds no objects, states, cycles or watermarks (or no schema)."""
        try:
            for table in ("objects", "target_states", "cycles", "watermarks", "history"):
                if self._conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():
                    return False
        except sqlite3.OperationalError:
            return True
        return True

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def atomic(self) -> Iterator[Store]:
        """One commit unit. Nested blocks are savepoints. A raise inside leaves nothing behind."""
        with self._handle.atomic():
            yield self

    def cycle_opening(self, source: str, targets: Iterable[str], now: datetime, *,
                      removals_since: datetime | None = None, meta_keys: Iterable[str] = (),
                      begin_cycle_at: datetime | None = None, force_full: bool = False) -> CycleOpening:
        return read_opening(self._handle, self._objects, self._targets, self._log, self._facts, source, targets,
                            now, removals_since=removals_since, meta_keys=meta_keys,
                            begin_cycle_at=begin_cycle_at, force_full=force_full)

    def read_page(self, source: str, anchors: Iterable[str], targets: Iterable[str]) -> PageRead:
        return read_page(self, source, anchors, targets)

    # ---------------------------------------------------------------- snapshot
    def dump(self, fp: IO[str]) -> None:
        """Write the whole store as JSON Lines (format in README.md), read in one transaction,
        so the dump is a consistent point in time. Holds no secret (the store holds none)."""
        sqlitefile.write_dump(self._handle, fp, self.format_version)

    @classmethod
    def load(cls, fp: IO[str], path: str | Path) -> Store:
        """Create a new store at ``path`` from a ``dump()`` of the same or an older format
        version (the schema is built up to the dump's version, rows inserted, then migrated)."""
        stop = sqlitefile.read_dump_header(fp, path)
        store = cls.open(path, _stop_before=stop)
        sqlitefile.load_rows(store._handle, fp, path)
        if stop is not None:
            mig.migrations.apply(store._db)
            store._objects = Objects(store._handle)  # it looks at the schema once: migrated now
        sqlitefile.set_format_version(store._conn)
        return store

    # ---------------------------------------------------------------- objects.py
    def get_object(self, source: str, anchor: str) -> ObjectState | None:
        return self._objects.get_object(source, anchor)

    def get_objects(self, source: str, anchors: Iterable[str]) -> dict[str, ObjectState]:
        return self._objects.get_objects(source, anchors)

    def object_by_guid(self, source: str, guid: str) -> ObjectState | None:
        return self._objects.object_by_guid(source, guid)

    def find_objects(self, ref: str) -> list[ObjectState]:
        return self._objects.find_objects(ref)

    def put_object(self, state: ObjectState, *, at: datetime | None = None, had_members: bool | None = None) -> None:
        self._objects.put_object(state, at=at, had_members=had_members)

    def iter_objects(self, source: str, *, kind: ObjectKind | None = None,
                     include_deleted: bool = True) -> Iterator[ObjectState]:
        return self._objects.iter_objects(source, kind=kind, include_deleted=include_deleted)

    def count_objects(self, source: str, *, include_deleted: bool = True) -> int:
        return self._objects.count_objects(source, include_deleted=include_deleted)

    def mark_seen(self, source: str, anchors: Iterable[str], round_no: int) -> None:
        self._objects.mark_seen(source, anchors, round_no)

    def anchors_not_seen_since(self, source: str, round_no: int) -> list[str]:
        return self._objects.anchors_not_seen_since(source, round_no)

    def groups_with_member(self, source: str, guid: str) -> list[str]:
        return self._objects.groups_with_member(source, guid)

    def groups_with_members(self, source: str, guids: Iterable[str]) -> set[str]:
        return self._objects.groups_with_members(source, guids)

    def remove_member_everywhere(self, source: str, guid: str) -> list[str]:
        return self._objects.remove_member_everywhere(source, guid)

    def dn_history(self, source: str, anchor: str) -> list[tuple[str, datetime]]:
        return self._objects.dn_history(source, anchor)

    def anchors_by_former_dn(self, source: str, dn: str) -> list[str]:
        return self._objects.anchors_by_former_dn(source, dn)

    def live_at_dn(self, source: str, dn: str) -> list[ObjectState]:
        return self._objects.live_at_dn(source, dn)

    def reports_of(self, source: str, anchors: Iterable[str], *, dns: Iterable[str] = ()) -> set[str]:
        return self._objects.reports_of(source, anchors, dns=dns)

    def begin_full_round(self, source: str, *, at: datetime | None = None) -> int:
        return self._objects.begin_full_round(source, at=at)

    def complete_full_round(self, source: str, round_no: int, count: int, *,
                            at: datetime | None = None) -> None:
        self._objects.complete_full_round(source, round_no, count, at=at)

    def last_complete_round(self, source: str) -> tuple[int, int, datetime] | None:
        return self._objects.last_complete_round(source)

    # ---------------------------------------------------------------- targets.py
    def get_target_state(self, target: str, anchor: str) -> TargetState | None:
        return self._targets.get_target_state(target, anchor)

    def get_target_states(self, target: str, anchors: Iterable[str]) -> dict[str, TargetState]:
        return self._targets.get_target_states(target, anchors)

    def put_target_state(self, state: TargetState, *, had_members: bool | None = None) -> None:
        self._targets.put_target_state(state, had_members=had_members)

    def delete_target_state(self, target: str, anchor: str) -> None:
        self._targets.delete_target_state(target, anchor)

    def iter_target_states(self, target: str, *, state: str | None = None) -> Iterator[TargetState]:
        return self._targets.iter_target_states(target, state=state)

    def due_retries(self, target: str, now: datetime) -> list[TargetState]:
        return self._targets.due_retries(target, now)

    def target_state_by_target_id(self, target: str, target_id: str, *,
                                  kind: str | None = None) -> TargetState | None:
        return self._targets.target_state_by_target_id(target, target_id, kind=kind)

    def counts_by_state(self) -> dict[str, dict[str, int]]:
        return self._targets.counts_by_state()

    def has_target_states(self, target: str) -> bool:
        return self._targets.has_target_states(target)

    def target_groups_with_member(self, target: str, member_anchor: str) -> list[str]:
        return self._targets.target_groups_with_member(target, member_anchor)

    def get_cursor(self, source: str) -> Cursor:
        return self._targets.get_cursor(source)

    def watermarks(self, source: str | None = None) -> list[WatermarkRecord]:
        return self._targets.watermarks(source)

    def advance_watermark(self, source: str, dc: str, expected: Cursor, new: Cursor) -> int:
        return self._targets.advance_watermark(source, dc, expected, new)

    # ---------------------------------------------------------------- log.py
    def record_observation(self, cycle_id: int | None, source: str, anchor: str, dn: str | None,
                           kind: ObjectKind | str | None, change: dict[str, Any],
                           at: datetime | None = None) -> int:
        return self._log.record_observation(cycle_id, source, anchor, dn, kind, change, at)

    def record_decision(self, cycle_id: int | None, action: Action, *, result: str,
                        status: int | None = None, detail: str | None = None,
                        at: datetime | None = None) -> int:
        return self._log.record_decision(cycle_id, action, result=result, status=status,
                                         detail=detail, at=at)

    def record_leader(self, source: str, *, host: str, pid: int, epoch: int,
                      at: datetime | None = None) -> int:
        return self._log.record_leader(source, host=host, pid=pid, epoch=epoch, at=at)

    def history(self, *, anchor: str | Iterable[str] | None = None, since: datetime | None = None,
                until: datetime | None = None, kinds: Iterable[str] | None = None,
                target: str | None = None, cycle_id: int | None = None) -> Iterator[HistoryRecord]:
        return self._log.history(anchor=anchor, since=since, until=until, kinds=kinds,
                                 target=target, cycle_id=cycle_id)

    def decisions(self, *, anchor: str | Iterable[str] | None = None, since: datetime | None = None,
                  until: datetime | None = None, target: str | None = None,
                  cycle_id: int | None = None) -> Iterator[HistoryRecord]:
        return self._log.decisions(anchor=anchor, since=since, until=until, target=target,
                                   cycle_id=cycle_id)

    def access_removals(self, target: str, since: datetime) -> int:
        return self._log.access_removals(target, since)

    def access_removal_times(self, target: str, since: datetime, *, after_id: int = 0,
                             upto_id: int | None = None) -> list[tuple[int, datetime]]:
        return self._log.access_removal_times(target, since, after_id=after_id, upto_id=upto_id)

    def last_history_id(self) -> int:
        return self._log.last_history_id()

    def record_batch(self, cycle_id: int | None, source: str, batch_json: str,
                     at: datetime | None = None) -> int:
        return self._log.record_batch(cycle_id, source, batch_json, at)

    def iter_batches(self, until: datetime | None = None) -> Iterator[BatchRecord]:
        return self._log.iter_batches(until)

    def prune(self, before: datetime | None, *, recordings_before: datetime | None | str = "before"
              ) -> dict[str, int]:
        return self._log.prune(before, recordings_before=recordings_before)

    def compact(self, *, free_fraction: float = 0.25) -> int:
        """``VACUUM`` when a prune freed more than ``free_fraction`` of the file (sqlitefile.py)."""
        return sqlitefile.compact(getattr(self, "_conn", None), self.path, free_fraction)

    def journal_intent(self, cycle_id: int | None, action: Action, *,
                       at: datetime | None = None) -> int:
        return self._log.journal_intent(cycle_id, action, at=at)

    def journal_intents(self, cycle_id: int | None, actions: Iterable[Action], *,
                        at: datetime | None = None) -> list[int]:
        return self._log.journal_intents(cycle_id, actions, at=at)

    def journal_done(self, intent_ids: Iterable[int]) -> None:
        self._log.journal_done(intent_ids)

    def journal_settle(self, intent_id: int, result: str, *, at: datetime | None = None) -> None:
        self._log.journal_settle(intent_id, result, at=at)

    def pending_intents(self) -> list[Intent]:
        return self._log.pending_intents()

    def hold(self, action: Action, reason: str, *, at: datetime | None = None) -> int:
        return self._log.hold(action, reason, at=at)

    def held(self, target: str | None = None, *, include_approved: bool = False,
             adoptions: bool | None = False) -> list[HeldRecord]:
        return self._log.held(target, include_approved=include_approved, adoptions=adoptions)

    def approve_held(self, target: str | None = None, *, by: str, at: datetime | None = None,
                     adoptions: bool = False, ids: Iterable[int] | None = None) -> int:
        return self._log.approve_held(target, by=by, at=at, adoptions=adoptions, ids=ids)

    def approved_actions(self, target: str) -> list[HeldRecord]:
        return self._log.approved_actions(target)

    def release(self, held_id: int, *, at: datetime | None = None) -> None:
        self._log.release(held_id, at=at)

    def quarantine(self, target: str, reason: str, until: datetime | None, *,
                   at: datetime | None = None) -> None:
        self._log.quarantine(target, reason, until, at=at)

    def quarantined(self) -> list[QuarantineRecord]:
        return self._log.quarantined()

    def clear_quarantine(self, target: str) -> None:
        self._log.clear_quarantine(target)

    # ---------------------------------------------------------------- recordings.py
    def record_call(self, cycle_id: int | None, target: str, call_json: str,
                    at: datetime | None = None) -> int:
        return self._recordings.record_call(cycle_id, target, call_json, at)

    def record_calls(self, rows: Iterable[tuple[int | None, str, str]],
                     at: datetime | None = None) -> None:
        self._recordings.record_calls(rows, at)

    def iter_calls(self, *, cycle_id: int | None = None) -> Iterator[CallRecord]:
        return self._recordings.iter_calls(cycle_id=cycle_id)

    # ---------------------------------------------------------------- facts.py
    def begin_cycle(self, source: str, mode: str, at: datetime | None = None) -> int:
        return self._facts.begin_cycle(source, mode, at)

    def end_cycle(self, cycle_id: int, *, status: str, counts: dict[str, Any], duration_s: float,
                  at: datetime | None = None) -> None:
        self._facts.end_cycle(cycle_id, status=status, counts=counts, duration_s=duration_s, at=at)

    def last_cycles(self, n: int = 10, *, source: str | None = None) -> list[CycleRecord]:
        return self._facts.last_cycles(n, source=source)

    def cycle_source(self, cycle_id: int) -> str | None:
        return self._facts.cycle_source(cycle_id)

    def put_target_profile(self, target: str, profile: dict[str, Any]) -> None:
        self._facts.put_target_profile(target, profile)

    def target_profile(self, target: str) -> dict[str, Any] | None:
        return self._facts.target_profile(target)

    def target_profiles(self) -> dict[str, dict[str, Any]]:
        return self._facts.target_profiles()

    def meta_get(self, key: str, default: Any = None) -> Any:
        return self._facts.meta_get(key, default)

    def meta_set(self, key: str, value: Any) -> None:
        self._facts.meta_set(key, value)

    def meta_items(self) -> dict[str, Any]:
        return self._facts.meta_items()

    def set_source_fact(self, source: str, fact: str, value: Any) -> None:
        self._facts.set_source_fact(source, fact, value)

    def source_facts(self, source: str) -> dict[str, Any]:
        return self._facts.source_facts(source)

"""The state store: hybridsync's only memory, one embedded SQLite file through sqlite-utils.

    store = Store.open(path)            # creates or migrates; ":memory:" for tests
    with store.atomic(): ...            # one commit unit (nested = savepoint)

The public API is split by subject for size; every method is on ``Store``:

- objects.py -- ``get_object``, ``get_objects``, ``object_by_guid``, ``find_objects``,
  ``put_object``, ``iter_objects``, ``count_objects``, ``mark_seen``, ``anchors_not_seen_since``,
  ``groups_with_member``, ``remove_member_everywhere``, ``dn_history``, ``begin_full_round``,
  ``complete_full_round``, ``last_complete_round``
- targets.py -- ``get_target_state``, ``get_target_states``, ``put_target_state``,
  ``delete_target_state``, ``iter_target_states``, ``due_retries``,
  ``target_state_by_target_id``, ``counts_by_state``, ``get_cursor``, ``watermarks``,
  ``advance_watermark``
- log.py -- ``record_observation``, ``record_decision``, ``history``, ``decisions``,
  ``record_batch``, ``iter_batches``, ``prune``, ``journal_intent``, ``journal_settle``,
  ``pending_intents``, ``hold``, ``held``, ``approve_held``, ``approved_actions``, ``release``,
  ``quarantine``, ``quarantined``, ``clear_quarantine``
- here -- ``open``, ``path``, ``close``, ``atomic``, ``begin_cycle``, ``end_cycle``,
  ``last_cycles``, ``put_target_profile``, ``target_profile``, ``target_profiles``,
  ``meta_get``, ``meta_set``, ``meta_items``, ``set_source_fact``, ``source_facts``,
  ``is_empty``, ``dump``, ``load``, ``format_version``

Every write outside ``atomic()`` commits on its own; multi-row writes are atomic by
themselves. Times are aware UTC datetimes (naive ones are taken as UTC). Records come back as
frozen values. Nothing secret is ever stored. One ``Store`` per thread.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlite_utils import Database

from hybridsync.statestore import migrations as mig
from hybridsync.statestore.log import LogMixin
from hybridsync.statestore.objects import ObjectsMixin
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
    dumps,
    time_to_text,
    utcnow,
)
from hybridsync.statestore.recordings import RecordingsMixin
from hybridsync.statestore.targets import TargetsMixin

DUMP_FORMAT = "hybridsync-statestore"
CACHE_KIB = 32 * 1024  # SQLite page cache per connection


class Store(ObjectsMixin, TargetsMixin, LogMixin, RecordingsMixin):
    def __init__(self, db: Database, path: str):
        self._db = db
        self._conn: sqlite3.Connection = db.conn
        self._path = path

    # ---------------------------------------------------------------- lifecycle
    @classmethod
    def open(cls, path: str | Path, *, readonly: bool = False, synchronous: str = "FULL",
             _stop_before: str | None = None) -> "Store":
        """Open (creating or migrating) the store at ``path``; ``":memory:"`` for tests.

        WAL mode, ``synchronous=FULL`` by default (``NORMAL`` allowed), a 30 s busy timeout.
        ``readonly=True`` never creates, migrates or writes (for ``status``/``log``); the file
        must exist. Raises ``StoreCorrupt(path, detail)`` when the file is not SQLite, is
        damaged, is some other program's database, or has a newer format than this code.
        """
        p = str(path)
        if synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be NORMAL, FULL or EXTRA, not {synchronous!r}")
        if p != ":memory:" and Path(p).is_dir():
            raise StoreCorrupt(p, "is a directory, not a state store file")
        if readonly and p != ":memory:" and not Path(p).exists():
            raise FileNotFoundError(p)
        if p != ":memory:" and not readonly:
            Path(p).parent.mkdir(parents=True, exist_ok=True)
        try:
            if readonly:
                conn = sqlite3.connect(f"{Path(p).resolve().as_uri()}?mode=ro", uri=True,
                                       timeout=30, isolation_level=None, check_same_thread=False)
            else:
                conn = sqlite3.connect(p, timeout=30, isolation_level=None,
                                       check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreCorrupt(p, f"cannot open: {exc}") from exc
        try:
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute(f"PRAGMA cache_size = {-CACHE_KIB}")
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if tables and "meta" not in tables:
                raise StoreCorrupt(p, "an SQLite database, but not a hybridsync state store")
            if "meta" in tables:
                row = conn.execute("SELECT value FROM meta WHERE key='format_version'").fetchone()
                version = int(row[0]) if row else 0
                if version > mig.FORMAT_VERSION:
                    raise StoreCorrupt(
                        p, f"format version {version} is newer than this hybridsync "
                        f"understands ({mig.FORMAT_VERSION}); upgrade hybridsync")
            if not readonly:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            db = Database(conn, execute_plugins=False)
            store = cls(db, p)
            if not readonly:
                mig.migrations.apply(db, stop_before=_stop_before)
                if _stop_before is None:
                    store.meta_set("format_version", mig.FORMAT_VERSION)
        except StoreCorrupt:
            conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreCorrupt(p, str(exc)) from exc
        return store

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

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def atomic(self) -> Iterator["Store"]:
        """One commit unit. Nested blocks are savepoints. A raise inside leaves nothing behind."""
        with self._db.atomic():
            yield self

    @contextlib.contextmanager
    def _unit(self) -> Iterator[None]:
        """A multi-statement write: its own transaction when alone; inside an ``atomic()`` it
        joins it (no savepoint: an error propagates and rolls back the caller's unit)."""
        if self._conn.in_transaction:
            yield
        else:
            with self._db.atomic():
                yield

    def _rows(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        cur = self._conn.cursor()
        cur.row_factory = sqlite3.Row
        return cur.execute(sql, params).fetchall()

    # ---------------------------------------------------------------- cycles
    def begin_cycle(self, source: str, mode: str, at: datetime | None = None) -> int:
        cur = self._conn.execute(
            "INSERT INTO cycles (source, mode, started_at) VALUES (?, ?, ?)",
            [source, str(mode), time_to_text(at or utcnow())],
        )
        return int(cur.lastrowid)

    def end_cycle(self, cycle_id: int, *, status: str, counts: dict[str, Any],
                  duration_s: float, at: datetime | None = None) -> None:
        cur = self._conn.execute(
            "UPDATE cycles SET finished_at = ?, status = ?, counts = ?, duration_s = ? "
            "WHERE id = ?",
            [time_to_text(at or utcnow()), status, dumps(counts), duration_s, cycle_id],
        )
        if cur.rowcount != 1:
            raise KeyError(f"no cycle {cycle_id}")

    def last_cycles(self, n: int = 10, *, source: str | None = None) -> list[CycleRecord]:
        """Newest first."""
        sql, params = "SELECT * FROM cycles", []
        if source is not None:
            sql += " WHERE source = ?"
            params.append(source)
        rows = self._rows(sql + " ORDER BY id DESC LIMIT ?", [*params, n])
        return [CycleRecord.from_row(r) for r in rows]

    # ---------------------------------------------------------------- small facts
    def put_target_profile(self, target: str, profile: dict[str, Any]) -> None:
        """Cache what a target announced (SCIM dialect, ServiceProviderConfig facts)."""
        self._conn.execute(
            "INSERT INTO target_profiles (target, profile, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (target) DO UPDATE SET profile = excluded.profile, "
            "updated_at = excluded.updated_at",
            [target, dumps(profile), time_to_text(utcnow())],
        )

    def target_profile(self, target: str) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT profile FROM target_profiles WHERE target = ?", [target]
        ).fetchone()
        return json.loads(row[0]) if row else None

    def target_profiles(self) -> dict[str, dict[str, Any]]:
        return {t: json.loads(p) for t, p in self._conn.execute(
            "SELECT target, profile FROM target_profiles ORDER BY target")}

    def meta_get(self, key: str, default: Any = None) -> Any:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return json.loads(row[0]) if row else default

    def meta_set(self, key: str, value: Any) -> None:
        """JSON-serializable values only."""
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, json.dumps(value)],
        )

    def set_source_fact(self, source: str, fact: str, value: Any) -> None:
        """A fact about a source that ``status`` shows (meta key ``source.<name>.<fact>``), e.g.
        ``privilege`` ("replicating" / "least-privilege"), ``delta_mode``, ``tombstones``."""
        self.meta_set(f"source.{source}.{fact}", value)

    def source_facts(self, source: str) -> dict[str, Any]:
        prefix = f"source.{source}."
        return {k[len(prefix):]: v for k, v in self.meta_items().items() if k.startswith(prefix)}

    def meta_items(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self._conn.execute("SELECT key, value FROM meta")}

    # ---------------------------------------------------------------- snapshot
    def dump(self, fp: IO[str]) -> None:
        """Write the whole store as JSON Lines: a header line
        ``{"format": "hybridsync-statestore", "version": N, "tables": [...]}`` then one
        ``{"t": table, "r": {column: value}}`` line per row. Read in one transaction, so the
        dump is a consistent point in time. Holds no secret (the store holds none)."""
        with self.atomic():
            header = {"format": DUMP_FORMAT, "version": self.format_version,
                      "tables": list(mig.TABLES)}
            fp.write(json.dumps(header) + "\n")
            for table in mig.TABLES:
                for row in self._rows(f"SELECT * FROM {table}"):
                    fp.write(json.dumps({"t": table, "r": dict(row)}, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, fp: IO[str], path: str | Path) -> "Store":
        """Create a new store at ``path`` from a ``dump()`` of the same or an older format
        version (the schema is built up to the dump's version, rows inserted, then migrated)."""
        first = fp.readline()
        try:
            header = json.loads(first)
        except json.JSONDecodeError as exc:
            raise StoreCorrupt(str(path), f"not a state store dump: {exc}") from exc
        if header.get("format") != DUMP_FORMAT:
            raise StoreCorrupt(str(path), "not a hybridsync state store dump")
        version = int(header.get("version", 0))
        if version > mig.FORMAT_VERSION or version < 1:
            raise StoreCorrupt(str(path), f"dump format version {version} is not supported")
        if str(path) != ":memory:" and Path(path).exists() and Path(path).stat().st_size:
            raise FileExistsError(str(path))
        names = [m.name for m in mig.migrations._migrations]
        stop = names[version] if version < len(names) else None
        store = cls.open(path, _stop_before=stop)
        columns = {t: {r[1] for r in store._conn.execute(f"PRAGMA table_info({t})")}
                   for t in mig.TABLES}
        with store.atomic():
            store._conn.execute("DELETE FROM meta")
            for line in fp:
                if not line.strip():
                    continue
                item = json.loads(line)
                row = item["r"]
                if item.get("t") not in columns or not set(row) <= columns[item["t"]]:
                    raise StoreCorrupt(str(path), f"dump row does not fit the schema: {line[:80]}")
                cols = ",".join(f'"{c}"' for c in row)
                store._conn.execute(
                    f"INSERT INTO {item['t']} ({cols}) VALUES ({','.join('?' * len(row))})",
                    list(row.values()),
                )
        if stop is not None:
            mig.migrations.apply(store._db)
        store.meta_set("format_version", mig.FORMAT_VERSION)
        return store

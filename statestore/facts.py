"""Store part: reconcile cycles and small facts (target profiles, meta keys, source facts)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from hybridsync.statestore.convert import dumps, time_to_text, utcnow
from hybridsync.statestore.handle import Db, Query
from hybridsync.statestore.records import CycleRecord


class Facts:
    """Cycles, target profiles, meta keys and the source facts kept in them."""

    def __init__(self, db: Db) -> None:
        self._db = db

    # ---------------------------------------------------------------- cycles
    def begin_cycle(self, source: str, mode: str, at: datetime | None = None) -> int:
        with self._db.relaxed():  # durable with the cycle's next commit unit (protocol.FactStore)
            return self._db.insert(
                "INSERT INTO cycles (source, mode, started_at) VALUES (?, ?, ?)",
                [source, str(mode), time_to_text(at or utcnow())],
            )

    def end_cycle(self, cycle_id: int, *, status: str, counts: dict[str, Any],
                  duration_s: float, at: datetime | None = None) -> None:
        with self._db.relaxed():
            cur = self._db.conn.execute(
                "UPDATE cycles SET finished_at = ?, status = ?, counts = ?, duration_s = ? "
                "WHERE id = ?",
                [time_to_text(at or utcnow()), status, dumps(counts), duration_s, cycle_id],
            )
        if cur.rowcount != 1:
            raise KeyError(f"no cycle {cycle_id}")

    def last_cycles(self, n: int = 10, *, source: str | None = None) -> list[CycleRecord]:
        """Newest first."""
        sql, params = "SELECT * FROM cycles", list[Any]()
        if source is not None:
            sql += " WHERE source = ?"
            params.append(source)
        rows = self._db.rows(sql + " ORDER BY id DESC LIMIT ?", [*params, n])
        return [CycleRecord.from_row(r) for r in rows]

    def cycle_source(self, cycle_id: int) -> str | None:
        """The source a cycle read (None: no such cycle, e.g. pruned)."""
        row = self._db.conn.execute("SELECT source FROM cycles WHERE id = ?", [cycle_id]).fetchone()
        return str(row[0]) if row else None

    # ---------------------------------------------------------------- small facts
    def put_target_profile(self, target: str, profile: dict[str, Any]) -> None:
        """Cache what a target announced (SCIM dialect, ServiceProviderConfig facts)."""
        self._db.conn.execute(
            "INSERT INTO target_profiles (target, profile, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (target) DO UPDATE SET profile = excluded.profile, "
            "updated_at = excluded.updated_at",
            [target, dumps(profile), time_to_text(utcnow())],
        )

    def target_profile(self, target: str) -> dict[str, Any] | None:
        row = self._db.conn.execute(
            "SELECT profile FROM target_profiles WHERE target = ?", [target]
        ).fetchone()
        return json.loads(row[0]) if row else None

    def target_profiles(self) -> dict[str, dict[str, Any]]:
        return {t: json.loads(p) for t, p in self._db.conn.execute(
            "SELECT target, profile FROM target_profiles ORDER BY target")}

    def meta_get(self, key: str, default: Any = None) -> Any:
        row = self._db.conn.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return json.loads(row[0]) if row else default

    def meta_query(self, keys: Iterable[str]) -> Query:
        """The stored values of ``keys``, by key (missing keys are absent)."""
        keys = list(dict.fromkeys(keys))
        return Query(f"SELECT key, value FROM meta WHERE key IN ({','.join('?' * len(keys))})", keys,
                     lambda rows: {str(r["key"]): json.loads(r["value"]) for r in rows})

    def meta_set(self, key: str, value: Any) -> None:
        """JSON-serializable values only."""
        self._db.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, json.dumps(value)],
        )

    def meta_items(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self._db.conn.execute("SELECT key, value FROM meta")}

    def set_source_fact(self, source: str, fact: str, value: Any) -> None:
        """A fact about a source that ``status`` shows (meta key ``source.<name>.<fact>``), e.g.
        ``privilege`` ("replicating" / "least-privilege"), ``delta_mode``, ``tombstones``."""
        self.meta_set(f"source.{source}.{fact}", value)

    def source_facts(self, source: str) -> dict[str, Any]:
        prefix = f"source.{source}."
        return {k[len(prefix):]: v for k, v in self.meta_items().items() if k.startswith(prefix)}

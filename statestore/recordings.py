"""Recorded target calls (for ``engine.replay``); recorded batches live in ``log.py``. A call
longer than ``codec.MIN_PACK`` (a listing, a lookup answering many objects) is kept compressed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from hybridsync.statestore.codec import pack, unpack
from hybridsync.statestore.handle import Db
from hybridsync.statestore.records import CallRecord, time_to_text, utcnow

INSERT_CALL = "INSERT INTO target_calls (cycle_id, target, at, call_json) VALUES (?, ?, ?, ?)"


class Recordings:
    """Recorded target calls."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def record_call(self, cycle_id: int | None, target: str, call_json: str,
                    at: datetime | None = None) -> int:
        """Keep one target call (op, call key and result as JSON) for replay."""
        return self._db.insert(
            INSERT_CALL,
            [cycle_id, target, time_to_text(at or utcnow()), pack(call_json)],
        )

    def record_calls(self, rows: Iterable[tuple[int | None, str, str]], at: datetime | None = None) -> None:
        """Keep many (cycle_id, target, call_json) at once (one commit unit when inside atomic)."""
        when = time_to_text(at or utcnow())
        self._db.conn.executemany(
            INSERT_CALL,
            [(c, t, when, pack(j)) for c, t, j in rows],
        )

    def iter_calls(self, *, cycle_id: int | None = None) -> Iterator[CallRecord]:
        """Recorded calls in recording order (of one cycle when ``cycle_id`` is given)."""
        last = 0
        cond, extra = ("AND cycle_id = ?", [cycle_id]) if cycle_id is not None else ("", [])
        while True:
            rows = self._db.rows(f"SELECT * FROM target_calls WHERE id > ? {cond} ORDER BY id LIMIT 500",
                              [last, *extra])
            if not rows:
                return
            for row in rows:
                yield CallRecord.from_row({**dict(row), "call_json": unpack(row["call_json"])})
            last = rows[-1]["id"]

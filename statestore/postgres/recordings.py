"""PostgreSQL version of ``record_calls``: inside a commit unit the recorded calls wait in the
unit's buffer (``PgDb.defer``) and go out with its other writes, in the same statement (send.py:
one data-modifying statement of CTEs), instead of in a statement of their own after a flush."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from hybridsync.statestore.codec import pack
from hybridsync.statestore.recordings import INSERT_CALL, Recordings
from hybridsync.statestore.records import time_to_text, utcnow


class PgRecordings(Recordings):
    def record_calls(self, rows: Iterable[tuple[int | None, str, str]], at: datetime | None = None) -> None:
        """Deferred in a commit unit (the rows of one unit keep their order: one insert over arrays,
        ids drawn in row order, as ``executemany``'s batched form drew them); outside one, the
        shared version (its own commit unit)."""
        db = self._db
        if getattr(db, "pipe", None) is None:
            super().record_calls(rows, at)
            return
        when = time_to_text(at or utcnow())
        for cycle_id, target, call_json in rows:
            db.defer(INSERT_CALL, [cycle_id, target, when, pack(call_json)], ("target_calls",))  # type: ignore[attr-defined]

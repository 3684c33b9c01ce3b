"""Store part: history (the provisioning log), recorded batches, the pending-operations journal,
held deletes and quarantined targets."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from hybridsync.engine.core.values import Action, ObjectKind
from hybridsync.statestore.codec import pack, unpack
from hybridsync.statestore.convert import stored_time
from hybridsync.statestore.handle import Db, Query
from hybridsync.statestore.holds import Holds
from hybridsync.statestore.records import (
    BatchRecord,
    HistoryRecord,
    Intent,
    StoreMisuse,
    dumps,
    time_to_text,
    utcnow,
)

PAGE = 1000
# a decision that took access away (``data`` is ``Action.to_json()``): one predicate for the
# count and for the incremental window (runtime/window.py), so they cannot disagree
ACCESS_REMOVAL = (
    "(data LIKE '%\"action\": \"disable\"%' OR data LIKE '%\"action\": \"delete\"%' "
    "OR (data LIKE '%\"action\": \"update\"%' AND data LIKE '%\"active\": false%') "
    "OR (data LIKE '%\"action\": \"remove_members\"%' AND data LIKE '%\"to_state\": \"soft_deleted\"%'))"
)


TEXTS_KEPT = 4096  # journaled Actions whose text waits for their decision (oldest dropped first)
HISTORY_COLS = ("kind", "at", "cycle_id", "source", "target", "anchor", "dn", "object_kind", "result", "status",
                "detail", "data")  # what ``_history_insert`` writes (every column but the id)
_HISTORY_COL_SET = frozenset(HISTORY_COLS)
_HISTORY_INSERT = f"INSERT INTO history ({','.join(HISTORY_COLS)}) VALUES ({','.join('?' * len(HISTORY_COLS))})"


class Log(Holds):
    """History, batches, journal; held deletes and quarantine from ``Holds`` (holds.py)."""

    def __init__(self, db: Db) -> None:
        self._db = db
        # each journaled Action's ``to_json()`` until its decision (the very Action, by identity)
        self._texts: dict[int, tuple[Action, str]] = {}

    def _intent_text(self, action: Action) -> str:
        texts, text = self._texts, action.to_json()
        texts[id(action)] = (action, text)  # holding the Action: its id is not reused meanwhile
        if len(texts) > TEXTS_KEPT:
            del texts[next(iter(texts))]
        return text

    def _decision_text(self, action: Action) -> str:
        kept = self._texts.pop(id(action), None)
        return kept[1] if kept is not None and kept[0] is action else action.to_json()

    # ---------------------------------------------------------------- history
    def _history_insert(self, **row: Any) -> int:
        """Every column, the absent ones NULL: one statement text for every kind of history row,
        so that a commit unit's observations and decisions are one group of buffered writes
        (PostgreSQL: ONE insert over arrays, not one per kind)."""
        assert row.keys() <= _HISTORY_COL_SET, row.keys()
        return self._db.insert(_HISTORY_INSERT, [row.get(c) for c in HISTORY_COLS])

    def record_observation(self, cycle_id: int | None, source: str, anchor: str, dn: str | None,
                           kind: ObjectKind | str | None, change: dict[str, Any],
                           at: datetime | None = None) -> int:
        """Record one observed source change (attribute diff, DN move, tombstone), as given."""
        return self._history_insert(
            kind="observation", at=time_to_text(at or utcnow()), cycle_id=cycle_id,
            source=source, anchor=anchor, dn=dn, object_kind=str(kind) if kind else None,
            data=dumps(change),
        )

    def record_decision(self, cycle_id: int | None, action: Action, *, result: str,
                        status: int | None = None, detail: str | None = None,
                        at: datetime | None = None) -> int:
        """Record one decision (the Action with its reason chain) and the target's response."""
        return self._history_insert(
            kind="decision", at=time_to_text(at or utcnow()), cycle_id=cycle_id,
            target=action.target, anchor=action.anchor, dn=action.dn,
            object_kind=str(action.object_kind), result=result, status=status, detail=detail,
            data=self._decision_text(action),
        )

    def record_leader(self, source: str, *, host: str, pid: int, epoch: int,
                      at: datetime | None = None) -> int:
        """Record that process ``pid`` on ``host`` leads ``source`` from now on, with lease
        ``epoch`` (kind ``leader``; ``explain`` names it for every later decision of the source)."""
        return self._history_insert(
            kind="leader", at=time_to_text(at or utcnow()), cycle_id=None, source=source,
            result="leading", detail=f"led by pid {pid} on {host} (epoch {epoch})",
            data=dumps({"host": host, "pid": pid, "epoch": epoch}),
        )

    def history(self, *, anchor: str | Iterable[str] | None = None, since: datetime | None = None,
                until: datetime | None = None, kinds: Iterable[str] | None = None,
                target: str | None = None, cycle_id: int | None = None) -> Iterator[HistoryRecord]:
        """Provisioning-log records, oldest first, streamed a page at a time."""
        where: list[str] = ["id > ?"]
        params: list[Any] = []
        if anchor is not None:
            anchors = [anchor] if isinstance(anchor, str) else list(anchor)
            if not anchors:
                return
            where.append(f"anchor IN ({','.join('?' * len(anchors))})")
            params += anchors
        if since is not None:
            where.append("at >= ?")
            params.append(time_to_text(since))
        if until is not None:
            where.append("at <= ?")
            params.append(time_to_text(until))
        if kinds is not None:
            kinds = list(kinds)
            where.append(f"kind IN ({','.join('?' * len(kinds))})")
            params += kinds
        if target is not None:
            where.append("target = ?")
            params.append(target)
        if cycle_id is not None:
            where.append("cycle_id = ?")
            params.append(cycle_id)
        last = 0
        while True:
            rows = self._db.rows(
                f"SELECT * FROM history WHERE {' AND '.join(where)} ORDER BY id LIMIT {PAGE}",
                [last, *params],
            )
            if not rows:
                return
            for row in rows:
                yield HistoryRecord.from_row(row)
            last = rows[-1]["id"]

    def decisions(self, *, anchor: str | Iterable[str] | None = None,
                  since: datetime | None = None, until: datetime | None = None,
                  target: str | None = None, cycle_id: int | None = None
                  ) -> Iterator[HistoryRecord]:
        """``history(kinds=("decision",), ...)``."""
        return self.history(anchor=anchor, since=since, until=until, kinds=("decision",),
                            target=target, cycle_id=cycle_id)

    def access_removals(self, target: str, since: datetime) -> int:
        """Applied actions that took access away at ``target`` since ``since``: disables,
        deletes, updates setting ``active`` false (AD's own disabled flag), and a group's soft
        delete (the removal of all its members)."""
        # ``data`` is ``Action.to_json()`` (json's default separators): matched as text, which
        # SQLite and PostgreSQL read alike (no JSON functions of either dialect)
        return self._db.ask(self.access_removals_query(target, since))  # type: ignore[no-any-return]

    def access_removals_query(self, target: str, since: datetime) -> Query:
        return Query("SELECT COUNT(*) AS n FROM history WHERE kind = 'decision' AND target = ? AND at >= ? "
                     f"AND result = 'ok' AND {ACCESS_REMOVAL}", [target, time_to_text(since)],
                     lambda rows: int(rows[0]["n"]) if rows else 0)

    def access_removal_times(self, target: str, since: datetime, *, after_id: int = 0,
                             upto_id: int | None = None) -> list[tuple[int, datetime]]:
        """(history id, time) of each applied access removal at ``target`` since ``since`` with
        ``after_id < id <= upto_id``: what ``access_removals`` counts, for a caller that keeps
        the window itself and reads only the rows added since its last look (by primary key)."""
        rows = self._db.rows(
            "SELECT id, at FROM history WHERE id > ? AND id <= ? AND kind = 'decision' AND target = ? "
            f"AND at >= ? AND result = 'ok' AND {ACCESS_REMOVAL} ORDER BY id",
            [after_id, upto_id if upto_id is not None else 2 ** 62, target, time_to_text(since)])
        return [(int(r["id"]), stored_time(r["at"])) for r in rows]

    def last_history_id(self) -> int:
        """The newest history row's id (0: none)."""
        rows = self._db.rows("SELECT max(id) AS n FROM history")
        return int(rows[0]["n"] or 0) if rows else 0

    # ---------------------------------------------------------------- recorded batches
    def record_batch(self, cycle_id: int | None, source: str, batch_json: str,
                     at: datetime | None = None) -> int:
        """Keep one source batch (as JSON) for replay, compressed (codec.py)."""
        return self._db.insert(
            "INSERT INTO batches (cycle_id, source, at, batch_json) VALUES (?, ?, ?, ?)",
            [cycle_id, source, time_to_text(at or utcnow()), pack(batch_json)],
        )

    def iter_batches(self, until: datetime | None = None) -> Iterator[BatchRecord]:
        """Recorded batches in recording order, up to ``until`` (inclusive), as the JSON given
        (a compressed row is decompressed, a row of an older format read as it is)."""
        last = 0
        cond, extra = ("AND at <= ?", [time_to_text(until)]) if until is not None else ("", [])
        while True:
            rows = self._db.rows(
                f"SELECT * FROM batches WHERE id > ? {cond} ORDER BY id LIMIT 100",
                [last, *extra],
            )
            if not rows:
                return
            for row in rows:
                yield BatchRecord.from_row({**dict(row), "batch_json": unpack(row["batch_json"])})
            last = rows[-1]["id"]

    def prune(self, before: datetime | None, *, recordings_before: datetime | None | str = "before"
              ) -> dict[str, int]:
        """Retention: delete history, settled intents, released holds and finished cycles older
        than ``before``, and the recordings (source batches, target calls) older than
        ``recordings_before`` (default: ``before``); None keeps that part. Returns rows deleted
        per table. Open intents, open holds and every current state are kept."""
        rec = before if isinstance(recordings_before, str) else recordings_before
        log_part = {
            "history": "DELETE FROM history WHERE at < ?",
            "journal": "DELETE FROM journal WHERE settled_at IS NOT NULL AND settled_at < ?",
            "held": "DELETE FROM held WHERE released_at IS NOT NULL AND released_at < ?",
            "cycles": "DELETE FROM cycles WHERE finished_at IS NOT NULL AND finished_at < ?",
        }
        recordings = {
            "batches": "DELETE FROM batches WHERE at < ?",
            "target_calls": "DELETE FROM target_calls WHERE at < ?",
        }
        out: dict[str, int] = {}
        with self._db.unit():
            for cut, statements in ((rec, recordings), (before, log_part)):
                if cut is None:
                    continue
                for t, sql in statements.items():
                    out[t] = self._db.conn.execute(sql, [time_to_text(cut)]).rowcount
        return {t: out[t] for t in ("history", "batches", "target_calls", "journal", "held", "cycles") if t in out}

    # ---------------------------------------------------------------- journal
    def journal_intent(self, cycle_id: int | None, action: Action,
                       *, at: datetime | None = None) -> int:
        """Write and COMMIT an intent before the target call. Raises ``StoreMisuse`` inside
        ``atomic()``: an intent that could roll back with its transaction would not survive the
        crash it exists for."""
        if self._db.conn.in_transaction:
            raise StoreMisuse(
                f"journal_intent for {action.target}/{action.anchor} inside a transaction: "
                "the intent must be committed before the target call"
            )
        return self._db.insert(
            "INSERT INTO journal (cycle_id, target, anchor, action, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [cycle_id, action.target, action.anchor, self._intent_text(action),
             time_to_text(at or utcnow())],
        )

    def journal_intents(self, cycle_id: int | None, actions: Iterable[Action],
                        *, at: datetime | None = None) -> list[int]:
        """Write and COMMIT many intents in ONE transaction (one fsync), before the target calls
        they announce; ids in the order of ``actions``. Raises ``StoreMisuse`` inside ``atomic()``
        for the same reason as ``journal_intent``."""
        actions = list(actions)
        if self._db.conn.in_transaction:
            first = actions[0] if actions else None
            raise StoreMisuse(
                f"journal_intents ({len(actions)} intents"
                + (f", first {first.target}/{first.anchor}" if first else "")
                + ") inside a transaction: the intents must be committed before the target calls"
            )
        if not actions:
            return []
        when = time_to_text(at or utcnow())
        ids: list[int] = []
        with self._db.unit():
            for action in actions:
                ids.append(self._db.insert(
                    "INSERT INTO journal (cycle_id, target, anchor, action, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [cycle_id, action.target, action.anchor, self._intent_text(action), when],
                ))
        return ids

    def journal_done(self, intent_ids: Iterable[int]) -> None:
        """Settle intents whose outcomes are recorded in this same commit unit by deleting their
        rows: a settled intent has no further use (the decision is in history), so the journal
        stays as small as the calls in flight. Call it inside the ``atomic()`` of the outcomes."""
        ids = list(intent_ids)
        with self._db.unit():
            for start in range(0, len(ids), 500):
                part = ids[start:start + 500]
                self._db.conn.execute(f"DELETE FROM journal WHERE id IN ({','.join('?' * len(part))})", part)

    def journal_settle(self, intent_id: int, result: str, *, at: datetime | None = None) -> None:
        """Settle an intent (typically in the same ``atomic()`` as the outcome it led to)."""
        cur = self._db.conn.execute(
            "UPDATE journal SET settled_at = ?, result = ? WHERE id = ?",
            [time_to_text(at or utcnow()), result, intent_id],
        )
        if cur.rowcount != 1:
            raise KeyError(f"no journal intent {intent_id}")

    def pending_intents(self) -> list[Intent]:
        """Unsettled intents, oldest first (settle these before planning after a crash)."""
        return self._db.ask(self.pending_intents_query())  # type: ignore[no-any-return]

    def pending_intents_query(self, source: str | None = None) -> Query:
        """``source``: only the intents of that source's cycles and those of no known cycle
        (what ``engine.runtime.reconcile.settle_pending`` settles for it)."""
        if source is None:
            return Query("SELECT * FROM journal WHERE settled_at IS NULL ORDER BY id", [], _intents)
        return Query("SELECT j.* FROM journal j LEFT JOIN cycles c ON c.id = j.cycle_id WHERE j.settled_at IS NULL "
                     "AND (c.source IS NULL OR c.source = ?) ORDER BY j.id", [source], _intents)


def _intents(rows: list[Any]) -> list[Intent]:
    return [Intent.from_row(r) for r in rows]

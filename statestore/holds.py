"""Store part: held deletes (and pending adoptions) waiting for approval, and quarantined
targets; a base of ``log.Log``, which writes the approvals' history entries."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from hybridsync.engine.core.values import Action
from hybridsync.statestore.handle import Db, Query
from hybridsync.statestore.records import HeldRecord, QuarantineRecord, dumps, time_to_text, utcnow


class Holds:
    """Held deletes and quarantine, on ``self._db``."""

    _db: Db

    def _history_insert(self, **row: Any) -> int:  # log.Log: one history row
        raise NotImplementedError

    # ---------------------------------------------------------------- held deletes
    def hold(self, action: Action, reason: str, *, at: datetime | None = None) -> int:
        """Hold a delete/disable. One open hold per (target, anchor, action kind): holding the
        same again refreshes its action and reason and keeps its id, time and approval."""
        with self._db.unit():
            row = self._db.conn.execute(
                "SELECT id FROM held WHERE target = ? AND anchor = ? AND action_kind = ? "
                "AND released_at IS NULL",
                [action.target, action.anchor, str(action.kind)],
            ).fetchone()
            if row is not None:
                self._db.conn.execute(
                    "UPDATE held SET action = ?, reason = ? WHERE id = ?",
                    [action.to_json(), reason, row[0]],
                )
                return int(row[0])
            return self._db.insert(
                "INSERT INTO held (target, anchor, action_kind, action, reason, held_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [action.target, action.anchor, str(action.kind), action.to_json(), reason,
                 time_to_text(at or utcnow())],
            )

    def held(self, target: str | None = None, *, include_approved: bool = False,
             adoptions: bool | None = False) -> list[HeldRecord]:
        """Open holds (not released), by default only those still waiting for approval, and only
        held disables/deletes (``adoptions`` True: only pending adoptions; None: both)."""
        sql = "SELECT * FROM held WHERE released_at IS NULL" + _kinds(adoptions)
        params: list = []
        if not include_approved:
            sql += " AND approved_at IS NULL"
        if target is not None:
            sql += " AND target = ?"
            params.append(target)
        return [HeldRecord.from_row(r) for r in self._db.rows(sql + " ORDER BY id", params)]

    def approve_held(self, target: str | None = None, *, by: str, at: datetime | None = None,
                     adoptions: bool = False, ids: Iterable[int] | None = None) -> int:
        """Approve every waiting hold (of ``target``, or all; only those of ``ids`` when given) --
        held disables/deletes, or pending adoptions with ``adoptions`` -- recording who and when,
        also as an ``approval`` history entry. Returns how many were approved."""
        when = time_to_text(at or utcnow())
        wanted = None if ids is None else sorted({int(i) for i in ids})
        if wanted is not None and not wanted:
            return 0
        with self._db.unit():
            sql = ("UPDATE held SET approved_by = ?, approved_at = ? "
                   "WHERE released_at IS NULL AND approved_at IS NULL" + _kinds(adoptions))
            params: list = [by, when]
            if target is not None:
                sql += " AND target = ?"
                params.append(target)
            if wanted is not None:
                sql += " AND id IN (" + ", ".join("?" for _ in wanted) + ")"
                params.extend(wanted)
            n = self._db.conn.execute(sql, params).rowcount
            if n:
                what = "pending adoption(s)" if adoptions else "held action(s)"
                self._history_insert(
                    kind="approval", at=when, cycle_id=None, target=target,
                    result="approved", detail=f"{n} {what} approved by {by}",
                    data=dumps({"by": by, "count": n, "target": target, "adoptions": bool(adoptions),
                                "ids": wanted}),
                )
        return int(n)

    def approved_actions(self, target: str) -> list[HeldRecord]:
        """Approved, not yet released holds of ``target``: the engine applies, then releases."""
        return self._db.ask(self.approved_actions_query(target))  # type: ignore[no-any-return]

    def approved_actions_query(self, target: str) -> Query:
        return Query("SELECT * FROM held WHERE target = ? AND approved_at IS NOT NULL AND released_at IS NULL "
                     "ORDER BY id", [target], lambda rows: [HeldRecord.from_row(r) for r in rows])

    def release(self, held_id: int, *, at: datetime | None = None) -> None:
        """Close a hold (applied after approval, or no longer needed)."""
        cur = self._db.conn.execute(
            "UPDATE held SET released_at = ? WHERE id = ? AND released_at IS NULL",
            [time_to_text(at or utcnow()), held_id],
        )
        if cur.rowcount != 1:
            raise KeyError(f"no open hold {held_id}")

    # ---------------------------------------------------------------- quarantine
    def quarantine(self, target: str, reason: str, until: datetime | None,
                   *, at: datetime | None = None) -> None:
        """Pause ``target`` until ``until`` (its next retry); repeated calls count up and keep
        the first ``since``."""
        self._db.conn.execute(
            """INSERT INTO quarantine (target, reason, since, until, count) VALUES (?, ?, ?, ?, 1)
               ON CONFLICT (target) DO UPDATE SET reason = excluded.reason,
                   until = excluded.until, count = quarantine.count + 1""",
            [target, reason, time_to_text(at or utcnow()), time_to_text(until)],
        )

    def quarantined(self) -> list[QuarantineRecord]:
        return self._db.ask(self.quarantined_query())  # type: ignore[no-any-return]

    def quarantined_query(self) -> Query:
        return Query("SELECT * FROM quarantine ORDER BY target", [],
                     lambda rows: [QuarantineRecord.from_row(r) for r in rows])

    def clear_quarantine(self, target: str) -> None:
        self._db.conn.execute("DELETE FROM quarantine WHERE target = ?", [target])


def _kinds(adoptions: bool | None) -> str:
    """The SQL condition on a hold's kind: disables/deletes (False), adoptions (True), any (None)."""
    if adoptions is None:
        return ""
    return " AND action_kind = 'adopt'" if adoptions else " AND action_kind <> 'adopt'"

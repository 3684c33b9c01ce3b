"""Store part: per (object, target) states with their sent members, and source watermarks."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from hybridsync.engine.core.values import (
    Cursor,
    Refresh,
    TargetState,
    UsnWatermark,
    cursor_from_json,
    cursor_to_json,
)
from hybridsync.statestore.handle import Db, Query, chunks, read_members, write_member_diff
from hybridsync.statestore.objects import PAGE
from hybridsync.statestore.records import (
    StaleWatermark,
    WatermarkRecord,
    WatermarkRegression,
    dumps,
    target_state_from_row,
    time_to_text,
    utcnow,
)


def same_position(a: Cursor, b: Cursor) -> bool:
    """Cursor equality for compare-and-swap: any Refresh equals any Refresh (the reason is
    commentary, not a position)."""
    if isinstance(a, Refresh) and isinstance(b, Refresh):
        return True
    return cursor_to_json(a) == cursor_to_json(b)


class Targets:
    """Target states (per object and target) and watermarks (per source and DC)."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def _target_members(self, target: str, anchors: list[str]) -> dict[str, set[str]]:
        return read_members(self._db, "target_members", "target", "member_anchor", target, anchors)

    def _targets_from_rows(self, rows: list) -> list[TargetState]:
        groups: dict[str, list[str]] = {}
        for row in rows:  # members of any kind are kept (the value allows them)
            groups.setdefault(row["target"], []).append(row["anchor"])
        members: dict[tuple[str, str], set[str]] = {}
        for target, anchors in groups.items():
            for group, mset in self._target_members(target, anchors).items():
                members[(target, group)] = mset
        return [
            target_state_from_row(row, members.get((row["target"], row["anchor"]), ()))
            for row in rows
        ]

    def get_target_state(self, target: str, anchor: str) -> TargetState | None:
        return self.get_target_states(target, [anchor]).get(anchor)

    def get_target_states(self, target: str, anchors: Iterable[str]) -> dict[str, TargetState]:
        """Anchor -> TargetState for the pairs that exist."""
        out: dict[str, TargetState] = {}
        for part in chunks(dict.fromkeys(anchors)):
            marks = ",".join("?" * len(part))
            rows = self._db.rows(
                f"SELECT * FROM target_states WHERE target = ? AND anchor IN ({marks})",
                [target, *part],
            )
            for state in self._targets_from_rows(rows):
                out[state.anchor] = state
        return out

    def put_target_state(self, state: TargetState, *, had_members: bool | None = None) -> None:
        """Insert or replace; members_sent is stored in a side table, written as a diff
        (``had_members`` False: none are stored, nothing is read; see ``StateStore.put_target_state``)."""
        with self._db.unit():
            old = None if had_members is False else self._db.conn.execute(
                "SELECT 1 FROM target_states WHERE target = ? AND anchor = ?",
                [state.target, state.anchor],
            ).fetchone()
            self._db.conn.execute(
                """INSERT INTO target_states (target, anchor, kind, state, target_id, ownership,
                       projection, since, retry_count, next_retry_at, last_error)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (target, anchor) DO UPDATE SET
                       kind = excluded.kind, state = excluded.state,
                       target_id = excluded.target_id, ownership = excluded.ownership,
                       projection = excluded.projection, since = excluded.since,
                       retry_count = excluded.retry_count,
                       next_retry_at = excluded.next_retry_at,
                       last_error = excluded.last_error""",
                [
                    state.target,
                    state.anchor,
                    str(state.kind),
                    state.state,
                    state.target_id,
                    str(state.ownership),
                    dumps(dict(state.projection)),
                    time_to_text(state.since),
                    state.retry_count,
                    time_to_text(state.next_retry_at),
                    state.last_error,
                ],
            )
            write_member_diff(
                self._db,                 "target_members", "target", "member_anchor",
                state.target, state.anchor, set(state.members_sent), is_new=old is None,
                none_stored=had_members is False,
            )

    def delete_target_state(self, target: str, anchor: str) -> None:
        """Forget one (object, target) pair and its sent members."""
        with self._db.unit():
            self._db.conn.execute(
                "DELETE FROM target_states WHERE target = ? AND anchor = ?", [target, anchor]
            )
            self._db.conn.execute(
                "DELETE FROM target_members WHERE target = ? AND group_anchor = ?",
                [target, anchor],
            )

    def iter_target_states(self, target: str, *, state: str | None = None) -> Iterator[TargetState]:
        """Stream a target's states in anchor order, a page at a time."""
        where = "target = ? AND anchor > ?"
        extra: list = []
        if state is not None:
            where += " AND state = ?"
            extra.append(state)
        last = ""
        while True:
            rows = self._db.rows(
                f"SELECT * FROM target_states WHERE {where} ORDER BY anchor LIMIT {PAGE}",
                [target, last, *extra],
            )
            if not rows:
                return
            yield from self._targets_from_rows(rows)
            last = rows[-1]["anchor"]

    def due_retries(self, target: str, now: datetime) -> list[TargetState]:
        """States with next_retry_at <= now, soonest first."""
        return self._db.ask(self.due_retries_query(target, now))  # type: ignore[no-any-return]

    def due_retries_query(self, target: str, now: datetime) -> Query:
        return Query("SELECT * FROM target_states WHERE target = ? AND next_retry_at IS NOT NULL "
                     "AND next_retry_at <= ? ORDER BY next_retry_at, anchor", [target, time_to_text(now)],
                     self._targets_from_rows)

    def target_state_by_target_id(self, target: str, target_id: str, *,
                                  kind: str | None = None) -> TargetState | None:
        sql, params = "SELECT * FROM target_states WHERE target = ? AND target_id = ?", [target, target_id]
        if kind is not None:  # a server may number users and groups apart: the same id, two objects
            sql, params = sql + " AND kind = ?", [*params, str(kind)]
        rows = self._db.rows(sql + " LIMIT 1", params)
        found = self._targets_from_rows(rows)
        return found[0] if found else None

    def counts_by_state(self) -> dict[str, dict[str, int]]:
        """target -> lifecycle state -> count."""
        out: dict[str, dict[str, int]] = {}
        for target, state, n in self._db.conn.execute(
            "SELECT target, state, count(*) FROM target_states GROUP BY target, state "
            "ORDER BY target, state"
        ):
            out.setdefault(target, {})[state] = int(n)
        return out

    def has_target_states(self, target: str) -> bool:
        """Whether ``target`` has any stored state (False: its first sync)."""
        return self._db.conn.execute(
            "SELECT 1 FROM target_states WHERE target = ? LIMIT 1", [target]
        ).fetchone() is not None

    def target_groups_with_member(self, target: str, member_anchor: str) -> list[str]:
        """Anchors of the groups whose stored ``members_sent`` at ``target`` hold
        ``member_anchor``, in anchor order."""
        return [
            g
            for (g,) in self._db.conn.execute(
                "SELECT group_anchor FROM target_members WHERE target = ? AND member_anchor = ? "
                "ORDER BY group_anchor",
                [target, member_anchor],
            )
        ]

    # ---------------------------------------------------------------- watermarks
    def get_cursor(self, source: str) -> Cursor:
        """The active cursor of ``source``; ``Refresh("no stored cursor")`` when none."""
        return self._db.ask(self.get_cursor_query(source))  # type: ignore[no-any-return]

    def get_cursor_query(self, source: str) -> Query:
        return Query("SELECT cursor FROM watermarks WHERE source = ? AND active = 1", [source],
                     lambda rows: cursor_from_json(rows[0]["cursor"]) if rows else Refresh("no stored cursor"))

    def watermarks(self, source: str | None = None) -> list[WatermarkRecord]:
        """Every (source, DC) watermark row, active ones first."""
        sql = "SELECT * FROM watermarks"
        params: list = []
        if source is not None:
            sql += " WHERE source = ?"
            params.append(source)
        rows = self._db.rows(sql + " ORDER BY source, active DESC, dc", params)
        return [WatermarkRecord.from_row(r) for r in rows]

    def _watermark_rows(self, source: str, dc: str) -> tuple[Any, Any]:
        """(dc, cursor) of the source's active row and (version, high_usn) of its row for ``dc``
        (None when missing): what ``advance_watermark`` checks."""
        active = self._db.conn.execute(
            "SELECT dc, cursor FROM watermarks WHERE source = ? AND active = 1", [source]
        ).fetchone()
        row = self._db.conn.execute(
            "SELECT version, high_usn FROM watermarks WHERE source = ? AND dc = ?", [source, dc]
        ).fetchone()
        return active, row

    def advance_watermark(self, source: str, dc: str, expected: Cursor, new: Cursor) -> int:
        """Compare-and-swap the active cursor of ``source`` to ``new`` (stored under DC ``dc``).

        Raises ``StaleWatermark`` (changing nothing) when the stored active cursor != expected
        (any Refresh equals any Refresh). Raises ``WatermarkRegression`` when a USN watermark
        would go below the highest USN ever stored for that DC, when a USN cursor names another
        DC than ``dc``, or when the DC changes while the active cursor is not a Refresh. Run it
        inside the same ``atomic()`` as the outcomes it covers. Returns the row's new version.
        """
        with self._db.unit():
            active, row = self._watermark_rows(source, dc)
            stored = cursor_from_json(active[1]) if active else Refresh("no stored cursor")
            if not same_position(stored, expected):
                raise StaleWatermark(source, expected, stored)
            check_names_dc(source, dc, new)
            if active is not None and active[0] != dc and not isinstance(stored, Refresh):
                raise WatermarkRegression(
                    source, dc, f"switching from DC {active[0]!r} needs a Refresh first"
                )
            version = row[0] if row else 0
            high = next_high_usn(source, dc, new, row[1] if row else None)
            self._db.conn.execute(
                "UPDATE watermarks SET active = 0 WHERE source = ? AND dc != ? AND active = 1",
                [source, dc],
            )
            self._db.conn.execute(
                """INSERT INTO watermarks (source, dc, cursor, version, updated_at, active,
                       high_usn) VALUES (?, ?, ?, ?, ?, 1, ?)
                   ON CONFLICT (source, dc) DO UPDATE SET cursor = excluded.cursor,
                       version = excluded.version, updated_at = excluded.updated_at,
                       active = 1, high_usn = excluded.high_usn""",
                [source, dc, cursor_to_json(new), version + 1, time_to_text(utcnow()), high],
            )
        return version + 1


def check_names_dc(source: str, dc: str, new: Cursor) -> None:
    """``WatermarkRegression`` when a USN cursor names another DC than the one it is stored under."""
    if isinstance(new, UsnWatermark) and new.dc_invocation_id != dc:
        raise WatermarkRegression(source, dc, f"USN cursor names DC {new.dc_invocation_id!r}, not {dc!r}")


def next_high_usn(source: str, dc: str, new: Cursor, high: int | None) -> int | None:
    """The highest USN stored for ``dc`` once ``new`` is (``WatermarkRegression`` when a USN
    cursor would move below ``high``, the highest ever stored for that DC)."""
    if not isinstance(new, UsnWatermark):
        return high
    if high is not None and new.usn < high:
        raise WatermarkRegression(source, dc, f"USN would move backwards ({high} -> {new.usn})")
    return new.usn

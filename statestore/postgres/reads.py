"""Reads in ONE statement on PostgreSQL: ``ask_all`` (several queries' rows, each as a JSON
array), the cycle's opening with its ``begin_cycle`` (``ask_all_beginning``), and a page's
objects with their target states (``read_page``).

Each is one round trip where the single questions were one each: a wait for the server costs
~0.2-0.4 ms beyond its statement's work on a shared machine (bench/README.md, wave 7), a
10-change delta cycle's largest cost after the commits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from hybridsync.statestore.convert import object_state_from_row, target_state_from_row, time_to_text
from hybridsync.statestore.handle import Query, chunks
from hybridsync.statestore.pageread import PageRead
from hybridsync.statestore.postgres.batch import collapse_in, translate

# the cycle begun in the opening's statement: mode ``full`` when forced or the active watermark
# row's cursor is missing, empty or a refresh (``opening.cycle_mode`` reads the same row parsed);
# no WAL flush of its own (``synchronous_commit`` off for the statement's transaction, as
# parts._BEGIN_CYCLE: the cycle's next commit unit makes it durable)
_BEGIN = ("WITH hs_begin AS (INSERT INTO cycles (source, mode, started_at) "
          "SELECT ?, CASE WHEN ? OR COALESCE((SELECT NULLIF(cursor, '')::json->>'type' FROM watermarks "
          "WHERE source = ? AND active = 1), 'refresh') = 'refresh' THEN 'full' ELSE 'delta' END, ? "
          "FROM (SELECT set_config('synchronous_commit', 'off', true) AS v) AS relaxed "
          "WHERE relaxed.v = 'off' RETURNING id, mode) "
          "SELECT (SELECT id FROM hs_begin), (SELECT mode FROM hs_begin)")

# a group's members in the same statement as its row: one wait per read, not two (rows, then
# members); a correlated index probe per row (an empty one for a user)
_WITH_MEMBERS = ("SELECT r.*, (SELECT array_agg(m.{member}) FROM {table} m WHERE m.{scope} = r.{scope} "
                 "AND m.group_anchor = r.anchor) AS members_ FROM {rows} r WHERE {scope} = ? AND anchor IN ({marks})")


def ask_all(db: Any, queries: Sequence[Query], head: tuple[str, list[Any]] | None = None, *,
            unit: bool = False) -> list[Any]:
    """The answers of ``queries``, in order, in ONE statement: each query's rows as a JSON
    array, ``SELECT (SELECT json_agg(x) FROM (<query>) x), ...`` (text, bigint and double
    columns come back as the same values; U+0000, unescaped by nul.py's loader, sits raw in the
    JSON strings: ``strict=False``). 8 small queries: ~0.15 ms; pipelined ~0.4, one by one
    ~0.55 (server idle). The conversions run after it (one may read more). ``head``: a
    ``WITH ... SELECT a, b`` statement (and its parameters) whose columns come first in the
    answer, as they are (``ask_all_beginning``); ``unit``: the statement as a commit unit of its
    own (a write, fenced)."""
    parts, params = [], []
    for q in queries:
        sql, ps = collapse_in(q.sql, q.params)
        parts.append(f"(SELECT json_agg(x)::text FROM ({sql}) AS x)")
        params.extend(ps)
    db.flush()
    sql = "SELECT " + ", ".join(parts)
    if head is not None:
        sql, params = head[0] + (", " if parts else "") + ", ".join(parts), [*head[1], *params]
    cur = db.conn.raw.cursor()
    if unit:  # its own commit unit, fenced: BEGIN, it, the fence check and COMMIT in one wait
        with db.atomic():
            cur.execute(translate(sql), params)
    else:
        cur.execute(translate(sql), params)
    row = cur.fetchone() or ()
    skip = len(row) - len(queries)
    out = list(row[:skip])
    out += [q.convert(json.loads(text, strict=False) if text is not None else [])
            for q, text in zip(queries, row[skip:])]
    return out


def ask_all_beginning(db: Any, queries: Sequence[Query], source: str, at: datetime,
                      force_full: bool) -> tuple[list[Any], tuple[int, str]] | None:
    """``queries`` answered and the cycle begun in ONE statement (a data-modifying CTE; its
    reads see the store as it was before the cycle's row, which none of them asks about), one
    wait: in autocommit mode, or fenced as a unit whose fence check goes with its COMMIT (a
    stale epoch raises ``LeaseLost``, nothing begun). None -- begin it on its own -- inside a
    transaction (it goes with the caller's unit, durable)."""
    if db.in_transaction:
        return None
    answers = ask_all(db, queries, (_BEGIN, [source, bool(force_full), source, time_to_text(at)]),
                      unit=bool(db.fences))
    return answers[2:], (int(answers[0]), str(answers[1]))


def _members_query(rows: str, table: str, scope: str, member: str, key: str, part: list[str],
                   convert: Any) -> Query:
    sql = _WITH_MEMBERS.format(member=member, table=table, scope=scope, rows=rows, marks=",".join("?" * len(part)))
    return Query(sql, [key, *part], lambda found: {r["anchor"]: convert(r, r.pop("members_") or ()) for r in found})


def read_page(db: Any, source: str, anchors: Iterable[str], targets: Iterable[str]) -> PageRead:
    """The page's objects and their target states per target, in ONE statement (a part of
    ``chunks`` anchors per query, as the single reads)."""
    parts = list(chunks(dict.fromkeys(anchors)))
    names = list(dict.fromkeys(targets))
    queries = [_members_query("objects", "object_members", "source", "member_guid", source, p,
                              object_state_from_row) for p in parts]
    for name in names:
        queries += [_members_query("target_states", "target_members", "target", "member_anchor", name, p,
                                   target_state_from_row) for p in parts]
    answers = iter(ask_all(db, queries) if queries else [])
    objects: dict[str, Any] = {}
    for _ in parts:
        objects.update(next(answers))
    states: dict[str, dict[str, Any]] = {}
    for name in names:
        states[name] = {}
        for _ in parts:
            states[name].update(next(answers))
    return PageRead(objects=objects, target_states=states)


__all__ = ["ask_all", "ask_all_beginning", "read_page"]

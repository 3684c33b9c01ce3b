"""How a commit unit's buffered writes go out (``PgDb.flush`` / ``PgDb.send_many``, handle.py).

``send_many``: one statement text run for many rows -- an insert or a delete by columns as ONE
statement over one array per column (``unnest``), a hand-written form of batch.py, or
``executemany``.

``send_groups``: the writes of one flush, grouped by statement text. The groups of one flush
commute (``PgDb.defer`` flushes before a write of another kind to a table already buffered,
unless both are inserts with reserved ids), so each group that comes out as ONE data-modifying
statement is sent with others in ONE statement, as data-modifying CTEs:
``WITH w0 AS (<write 0>), w1 AS (<write 1>) <write 2>``. PostgreSQL runs every part of such a
statement on the same snapshot, to completion, in the same transaction: the rows written are
those of the statements one after the other, as none of them reads what another writes (a
table written by two parts only gets rows with distinct reserved ids). A page unit's 8 writes
went out as 8 statements, each ~0.1 ms of psycopg and server work; now as 2.

A statement stays within psycopg's cache of parsed statement texts (<= 4,096 characters, <= 50
parameters: beyond it psycopg parses the text again at every execution, ~0.1 ms for 60
parameters) -- more writes go in more statements. A group whose rows need several statements
(``rounds``: an upsert key twice) or ``executemany`` goes alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from hybridsync.statestore.postgres.batch import BATCH_FORMS, _batch_shape, columns, rounds, translate

PgDb = Any  # handle.PgDb (which imports this module)

MAX_TEXT, MAX_PARAMS = 4096, 50  # psycopg._queries.MAX_CACHED_STATEMENT_LENGTH / _PARAMS
_WITH = re.compile(r"^\s*WITH\s", re.IGNORECASE)
_WRITE = re.compile(r"^\s*(INSERT|DELETE|UPDATE)\s", re.IGNORECASE)


def send_many(db: PgDb, cur: Any, sql: str, rows: list[Sequence[Any]]) -> None:
    """Run ``sql`` (SQLite flavour) once per row. An insert or a delete by columns goes out
    as ONE statement over one typed array per column (``unnest``): one server-side execution
    instead of one per row, and a statement text that psycopg parses and prepares once;
    the rows written are the same as ``executemany``'s. Anything else: ``executemany``."""
    batched = BATCH_FORMS.get(sql) if len(rows) > 1 else None
    if batched is not None and batched(db, cur, rows):
        return
    text = translate(sql)
    shape = _batch_shape(text) if len(rows) > 1 else None
    casts = db.array_casts(shape[1], shape[2]) if shape is not None else None
    if shape is not None and shape[4] is not None and casts is not None:
        parts = rounds(rows, shape[4])
        if len(parts) > 1:  # one statement may not update a row twice: one per round
            for part in parts:
                send_many(db, cur, sql, part)
            return
    if shape is None or casts is None:
        if len(rows) == 1:
            cur.execute(text, rows[0])
        else:
            cur.executemany(text, rows)
        return
    kind, table, cols, tail, _ = shape
    exprs, arrays = columns(casts, rows, range(len(casts)))
    unnest = "unnest(" + ", ".join(exprs) + ")"
    if kind == "insert":
        cur.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT * FROM {unnest}{tail}", arrays)
    else:
        cur.execute(f"DELETE FROM {table} WHERE ({', '.join(cols)}) IN (SELECT * FROM {unnest})", arrays)


class Collect:
    """A cursor stand-in for ``send_many``: keeps the statements it is asked to run, in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any, bool]] = []  # (text, params or rows, many)

    def execute(self, text: str, params: Sequence[Any] = ()) -> None:
        self.sent.append((text, list(params), False))

    def executemany(self, text: str, rows: Any) -> None:
        self.sent.append((text, list(rows), True))


def _mergeable(text: str) -> bool:
    """A write (a buffered one: nobody reads its result, so a RETURNING changes nothing)."""
    return _WRITE.match(text) is not None or _WITH.match(text) is not None


def combine(writes: list[tuple[str, list[Any]]]) -> tuple[str, list[Any]]:
    """Data-modifying statements (``_mergeable``, at most one beginning with ``WITH``) as ONE:
    each but the last a CTE of it -- or, if one has a ``WITH`` list (no WITH nests in a CTE), the
    others' CTEs go first in that list and it is the statement."""
    if len(writes) == 1:
        return writes[0]
    host = next((i for i, (t, _) in enumerate(writes) if _WITH.match(t)), len(writes) - 1)
    others = [w for i, w in enumerate(writes) if i != host]
    text, params = writes[host]
    ctes = ", ".join(f"hs_w{i} AS ({t.strip()})" for i, (t, _) in enumerate(others))
    if _WITH.match(text):
        text = f"WITH {ctes}, {_WITH.sub('', text, count=1)}"
    else:
        text = f"WITH {ctes} {text.strip()}"
    return text, [p for _, ps in others for p in ps] + list(params)


def pack(writes: list[tuple[str, list[Any]]]) -> list[list[tuple[str, list[Any]]]]:
    """``writes`` in runs that ``combine`` takes and whose statement stays in psycopg's cache
    (``MAX_TEXT``, ``MAX_PARAMS``); one that is too long alone is a run of its own."""
    runs: list[list[tuple[str, list[Any]]]] = []
    size = n = 0
    hosted = False
    for text, params in writes:
        with_ = _WITH.match(text) is not None
        if not runs or size + len(text) + 16 > MAX_TEXT or n + len(params) > MAX_PARAMS or (with_ and hosted):
            runs.append([])
            size = n = 0
            hosted = False
        runs[-1].append((text, params))
        size, n, hosted = size + len(text) + 16, n + len(params), hosted or with_
    return runs


def send_groups(db: PgDb, groups: dict[str, list[Sequence[Any]]]) -> None:
    """Each group (statement text -> rows) through ``send_many``; the groups that come out as
    one data-modifying statement each go out together (``combine``, ``pack``)."""
    cur = db.conn.raw.cursor()
    if len(groups) == 1:
        for sql, rows in groups.items():
            send_many(db, cur, sql, rows)
        return
    singles: list[tuple[str, list[Any]]] = []
    for sql, rows in groups.items():
        got = Collect()
        send_many(db, got, sql, rows)
        if len(got.sent) == 1 and not got.sent[0][2] and _mergeable(got.sent[0][0]):
            singles.append((got.sent[0][0], got.sent[0][1]))
            continue
        for text, params, many in got.sent:  # in order: the rounds of one upsert key
            (cur.executemany if many else cur.execute)(text, params)
    for run in pack(singles):
        cur.execute(*combine(run))

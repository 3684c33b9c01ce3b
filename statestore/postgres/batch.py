"""The many-row forms of ``PgDb.send_many`` (handle.py): which statements go out as ONE statement
over one array per column, how a column becomes its array parameter, and how rows repeating an
upsert key are split into rounds."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

from hybridsync.statestore.postgres.nul import ESC, escape

_VALUES = re.compile(r"^\s*INSERT INTO (\w+)\s*\(([^()]*)\)\s*VALUES\s*\((?:%s,\s*)*%s\)(.*)$", re.DOTALL)
_CONFLICT = re.compile(r"ON CONFLICT\s*\(([^()]*)\)\s*DO UPDATE", re.IGNORECASE)
_DELETE = re.compile(r"^\s*DELETE FROM (\w+) WHERE (\w+ = %s(?: AND \w+ = %s)*)\s*$")
# column types a batch carries as one typed array each, and how a value becomes an element: the
# arrays go in binary format (psycopg's C dumpers, no per-element quoting), which bypasses the
# NUL-escaping text dumper of nul.py, so text elements are escaped here
_ARRAY_TYPES: dict[str, Any] = {"bigint": int, "text": lambda v: escape(str(v)), "double precision": float}
Shape = tuple[str, str, tuple[str, ...], str, "tuple[int, ...] | None"]
_SEP, _NULL = "\x1f", "\x1e"  # a text column's elements joined by U+001F, NULL written U+001E


def column(type_name: str, conv: Any, values: list[Any]) -> tuple[str, Any]:
    """One column of a batch: (the SQL of its array, its parameter). Text and bigint columns go
    as ONE string split by the server (``string_to_array``): a join and a count in C instead of
    psycopg's per-element array dumping (client CPU per 1,000 x 10 values: ~1 ms instead of
    ~3.7 ms). A text column holding U+001F, U+001E, U+0000 or nul.py's escape character (never
    in directory data), or another type, goes as a binary array of converted elements."""
    if len(values) > 1 and type_name == "text":
        vals = [v if type(v) is str else (_NULL if v is None else str(v)) for v in values]
        joined = _SEP.join(vals)
        if (joined.count(_SEP) == len(vals) - 1 and joined.count(_NULL) == values.count(None)
                and "\x00" not in joined and ESC not in joined):
            return "string_to_array(%s, E'\\x1f', E'\\x1e')", joined
    elif len(values) > 1 and type_name == "bigint" and all(type(v) is int or v is None for v in values):
        return "string_to_array(%s, ',', 'N')::bigint[]", ",".join(["N" if v is None else str(v) for v in values])
    return f"%b::{type_name}[]", [None if v is None else conv(v) for v in values]


IN_LIST_MIN = 16  # a list of at least this many ``?`` goes as one array parameter
_IN_LIST = re.compile(r"\b(NOT )?IN \((\?(?:\s*,\s*\?){%d,})\)" % (IN_LIST_MIN - 1))


def collapse_in(sql: str, params: Sequence[Any]) -> tuple[str, Sequence[Any]]:
    """``x IN (?, ?, ... ?)`` of many marks -> ``x = ANY(<one array>)`` (``NOT IN`` -> ``<> ALL``),
    its values as ONE parameter (``column``: a joined string the server splits). The parts ask
    for up to 500 anchors at once; psycopg parses a text with more than 50 parameters again
    at every execution (~5 ms for 500, ~15% of a full sync's store client CPU) and the server
    sees another statement per list length. Only lists of all-text or all-integer values."""
    if "IN (" not in sql:
        return sql, params
    out, vals, pos, done = [], list(params), 0, 0
    shift = 0  # parameters removed so far (each list becomes one)
    for m in _IN_LIST.finditer(sql):
        first = sql.count("?", 0, m.start()) - shift
        n = m.group(2).count("?")
        values = vals[first:first + n]
        if all(type(v) is str for v in values):
            expr, param = column("text", _ARRAY_TYPES["text"], values)
        elif all(type(v) is int for v in values):
            expr, param = column("bigint", int, values)
        else:
            continue
        if "%s" in expr:
            expr = expr.replace("%s", "?")  # translate() turns it back
        else:  # a value that cannot be joined: a text-format array, escaped by nul.py's dumper
            expr, param = "?" + expr[2:], values
        out.append(sql[pos:m.start()] + ("<> ALL(" if m.group(1) else "= ANY(") + expr + ")")
        pos = m.end()
        vals[first:first + n] = [param]
        shift += n - 1
        done += 1
    if not done:
        return sql, params
    out.append(sql[pos:])
    return "".join(out), vals


def columns(casts: list[tuple[str, Any]], rows: list[Sequence[Any]],
            picks: Sequence[int]) -> tuple[list[str], list[Any]]:
    """``column`` for each (type, conversion) of ``casts`` over the rows' values at ``picks``."""
    sqls, params = [], []
    for (type_name, conv), i in zip(casts, picks):
        expr, param = column(type_name, conv, [r[i] for r in rows])
        sqls.append(expr)
        params.append(param)
    return sqls, params


@functools.lru_cache(maxsize=512)
def translate(sql: str) -> str:
    """SQLite-flavoured SQL of the store's parts -> PostgreSQL (psycopg ``%s`` placeholders)."""
    out = sql.replace("%", "%%").replace("?", "%s")
    if re.match(r"\s*INSERT OR IGNORE INTO", out):
        out = out.replace("INSERT OR IGNORE INTO", "INSERT INTO", 1) + " ON CONFLICT DO NOTHING"
    return out


# statements (SQLite flavour) with a hand-written many-row form: ``send(db, cursor, rows)`` sends
# all rows and returns True, or returns False (nothing sent) for ``executemany`` to do it
BATCH_FORMS: dict[str, Any] = {}


@functools.lru_cache(maxsize=256)
def _batch_shape(sql: str) -> Shape | None:
    """How many rows of one translated statement go out as one statement over arrays, or None:
    ``(kind, table, columns, tail, unique)`` for a single-row ``INSERT ... VALUES (...)`` (plain,
    DO NOTHING or DO UPDATE; ``unique``: the positions of the DO UPDATE key -- one statement may
    not update a row twice, so the rows must differ in them) or a ``DELETE ... WHERE a = %s AND
    b = %s``."""
    m = _VALUES.match(sql)
    if m is not None:
        table, cols_text, tail = m.groups()
        if "%s" in tail or "RETURNING" in tail.upper():
            return None
        cols = tuple(c.strip() for c in cols_text.split(","))
        c = _CONFLICT.search(tail)
        unique = tuple(cols.index(k.strip()) for k in c.group(1).split(",")) if c is not None else None
        return "insert", table, cols, tail, unique
    d = _DELETE.match(sql)
    if d is not None:
        table, cond = d.groups()
        return "delete", table, tuple(part.split("=")[0].strip() for part in cond.split(" AND ")), "", None
    return None


def rounds(rows: list[Sequence[Any]], key: Sequence[int]) -> list[list[Sequence[Any]]]:
    """``rows`` split so that no part repeats a key (the values at positions ``key``): a row
    goes to the part after the one holding its key's previous row. Sent part by part, every
    key's rows still run in their order -- the same end state as one statement per row."""
    parts: list[list[Sequence[Any]]] = []
    seen: dict[tuple[Any, ...], int] = {}
    for row in rows:
        k = tuple(row[i] for i in key)
        n = seen[k] = seen.get(k, -1) + 1
        if n == len(parts):
            parts.append([])
        parts[n].append(row)
    return parts

"""The SQLite handle the store's parts share, and the small helpers they all use.

``Store`` is composed of parts (objects.py, targets.py, log.py, recordings.py, facts.py), each
built on one ``Db``: the handle is passed explicitly, nothing is inherited.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

from attrs import frozen
from sqlite_utils import Database

CHUNK = 500  # anchors per IN (...) query


class RowLike(Protocol):
    """What ``from_row()`` constructors read: a ``sqlite3.Row`` or any ``Mapping[str, Any]``."""

    def __getitem__(self, key: str, /) -> Any: ...


@frozen
class Query:
    """One read: its SQL (SQLite flavour), its parameters, and the value made of its rows
    (``convert`` may read more, e.g. a group's members). ``ask_all`` answers several at once:
    on PostgreSQL in ONE round trip (postgres/handle.py), here one after the other."""

    sql: str
    params: Sequence[Any]
    convert: Callable[[list[Any]], Any]


class Db:
    """One SQLite connection (through sqlite-utils), shared by every part of one ``Store``."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.conn: sqlite3.Connection = db.conn
        self._sync_level: int | None = None  # ``PRAGMA synchronous`` of a WAL store (``relaxed``)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a query; rows are ``sqlite3.Row`` (read by column name)."""
        cur = self.conn.cursor()
        cur.row_factory = sqlite3.Row
        return cur.execute(sql, params).fetchall()

    def ask(self, query: Query) -> Any:
        return query.convert(self.rows(query.sql, query.params))

    def ask_all(self, queries: Iterable[Query]) -> list[Any]:
        """The answers of ``queries``, in order."""
        return [self.ask(q) for q in queries]

    def insert(self, sql: str, params: Sequence[Any]) -> int:
        """Run an INSERT; returns the new row's id."""
        rowid = self.conn.execute(sql, params).lastrowid
        assert rowid is not None, sql
        return rowid

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """One commit unit; nested blocks are savepoints."""
        with self.db.atomic():
            yield

    @contextlib.contextmanager
    def relaxed(self) -> Iterator[None]:
        """A bookkeeping write (``begin_cycle``, ``end_cycle``) whose commit need not reach the
        disk by itself: alone, it commits with ``synchronous = NORMAL`` (no fsync of the WAL);
        the next FULL commit syncs the WAL and this write with it. A crash of the process loses
        nothing (the WAL was written); a crash of the machine only a write that nothing durable
        followed. Inside a transaction, or on a store that is not in WAL mode or not FULL: the
        write as it is."""
        if self._sync_level is None:
            wal = str(self.conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal"
            self._sync_level = int(self.conn.execute("PRAGMA synchronous").fetchone()[0]) if wal else 0
        if self.conn.in_transaction or self._sync_level < 2:
            yield
            return
        self.conn.execute("PRAGMA synchronous = NORMAL")
        try:
            yield
        finally:
            self.conn.execute(f"PRAGMA synchronous = {self._sync_level}")

    @contextlib.contextmanager
    def unit(self) -> Iterator[None]:
        """A multi-statement write: its own transaction when alone; inside an ``atomic()`` it
        joins it (no savepoint: an error propagates and rolls back the caller's unit)."""
        if self.conn.in_transaction:
            yield
        else:
            with self.db.atomic():
                yield


def chunks(items: Iterable[str], size: int = CHUNK) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def read_members(db: Db, table: str, scope_col: str, member_col: str, scope: str,
                 anchors: list[str]) -> dict[str, set[str]]:
    """Group anchor -> member set, from a member side table (``object_members`` or
    ``target_members``), for the groups among ``anchors``."""
    out: dict[str, set[str]] = {}
    for part in chunks(anchors):
        marks = ",".join("?" * len(part))
        for group, member in db.conn.execute(
            f"SELECT group_anchor, {member_col} FROM {table} "
            f"WHERE {scope_col} = ? AND group_anchor IN ({marks})",
            [scope, *part],
        ):
            out.setdefault(group, set()).add(member)
    return out


def member_insert(table: str, scope_col: str, member_col: str) -> str:
    """The statement adding one row to a member side table (scope, group, member)."""
    return f"INSERT INTO {table} ({scope_col}, group_anchor, {member_col}) VALUES (?, ?, ?)"


def write_member_diff(db: Db, table: str, scope_col: str, member_col: str, scope: str,
                      group: str, wanted: set[str], *, is_new: bool, none_stored: bool = False) -> None:
    """Make a group's rows in a member side table equal ``wanted``, writing only the diff.
    ``none_stored``: the caller knows the group has no rows (``put_object``'s ``had_members``
    False): nothing is read, ``wanted`` is inserted."""
    if (is_new or none_stored) and not wanted:
        return
    have = set() if none_stored else {
        m
        for (m,) in db.conn.execute(
            f"SELECT {member_col} FROM {table} WHERE {scope_col} = ? AND group_anchor = ?",
            [scope, group],
        )
    }
    gone = have - wanted
    added = wanted - have
    if gone:
        db.conn.executemany(
            f"DELETE FROM {table} WHERE {scope_col} = ? AND group_anchor = ? "
            f"AND {member_col} = ?",
            [(scope, group, m) for m in gone],
        )
    if added:
        db.conn.executemany(
            member_insert(table, scope_col, member_col),
            [(scope, group, m) for m in added],
        )

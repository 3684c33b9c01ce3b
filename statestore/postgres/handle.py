"""The PostgreSQL handle the store's parts share: a ``Db`` over one psycopg 3 connection.

The parts (objects.py, targets.py, log.py, recordings.py, facts.py) are written against ``Db``:
``rows``, ``insert``, ``unit``, ``atomic``, ``in_transaction`` and ``conn.execute`` /
``conn.executemany`` with ``?`` placeholders. ``PgDb`` gives them the same surface on PostgreSQL,
so both stores run the *same* queries and keep the same semantics:

- placeholders ``?`` become ``%s``; ``INSERT OR IGNORE`` becomes ``ON CONFLICT DO NOTHING``;
  ``insert()`` appends ``RETURNING id`` (PostgreSQL has no ``lastrowid``);
- the connection is in autocommit mode: a statement outside ``atomic()`` commits on its own,
  ``atomic()`` is one transaction and a nested one a savepoint (psycopg's ``transaction()``);
- **fencing**: with fences set (``set_fence(key, epoch)``, one per lease held), every commit
  unit -- each outermost ``atomic()``/``unit()`` and each write outside one -- checks, inside its
  transaction and just before COMMIT, that the lease rows still carry those epochs, holding them
  ``FOR SHARE`` until the commit so a takeover waits for (or is seen by) the commit. A leader
  that was paused and lost its lease raises ``LeaseLost`` and commits nothing.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from hybridsync.statestore.errors import StoreError


class LeaseLost(StoreError):
    """A commit unit was refused: this process no longer holds the lease it was fenced with."""

    def __init__(self, key: str, epoch: int, current: int | None):
        self.key, self.epoch, self.current = key, epoch, current
        super().__init__(f"lease {key!r}: epoch {epoch} is no longer current "
                         f"(now {current if current is not None else 'released'}); nothing was committed")


@functools.lru_cache(maxsize=512)
def translate(sql: str) -> str:
    """SQLite-flavoured SQL of the store's parts -> PostgreSQL (psycopg ``%s`` placeholders)."""
    out = sql.replace("%", "%%").replace("?", "%s")
    if re.match(r"\s*INSERT OR IGNORE INTO", out):
        out = out.replace("INSERT OR IGNORE INTO", "INSERT INTO", 1) + " ON CONFLICT DO NOTHING"
    return out


def _is_write(sql: str) -> bool:
    return not sql.lstrip()[:6].upper() in ("SELECT", "WITH R", "SHOW")


class _Synced:
    """A cursor in pipeline mode whose ``rowcount`` waits for the server's answer."""

    def __init__(self, cur: psycopg.Cursor[Any], pipe: Any) -> None:
        self._cur, self._pipe = cur, pipe

    @property
    def rowcount(self) -> int:
        self._pipe.sync()
        return self._cur.rowcount

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def fetchall(self) -> Any:
        return self._cur.fetchall()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cur)


class PgConn:
    """The ``sqlite3.Connection`` surface the parts use, on a psycopg connection."""

    def __init__(self, raw: psycopg.Connection[Any], owner: PgDb) -> None:
        self.raw = raw
        self._owner = owner

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cur = self.raw.cursor()
        if self._owner.fences and not self.in_transaction and _is_write(sql):
            with self._owner.atomic():  # a write on its own is a commit unit too: fenced
                cur.execute(translate(sql), params)
                if self._owner.pipe is not None:
                    self._owner.pipe.sync()
            return cur
        cur.execute(translate(sql), params)
        return _Synced(cur, self._owner.pipe) if self._owner.pipe is not None else cur

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> psycopg.Cursor[Any]:
        cur = self.raw.cursor()
        rows = list(rows)
        if not rows:
            return cur
        with self._owner.unit():
            cur.executemany(translate(sql), rows)
        return cur


class PgDb:
    """One psycopg connection shared by every part of one ``PostgresStore`` (see ``Db``)."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.conn = PgConn(raw, self)
        self.fences: dict[str, int] = {}
        self.pipe: Any = None  # the pipeline of the open commit unit (results come at a sync)
        self.stale_refusals = 0  # commit units refused by the fence (for tests and status)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cur = self.conn.raw.cursor(row_factory=dict_row)
        cur.execute(translate(sql), params)
        return cur.fetchall()

    def insert(self, sql: str, params: Sequence[Any]) -> int:
        row = self.conn.execute(sql + " RETURNING id", params).fetchone()
        assert row is not None, sql
        return int(row[0])

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    def set_fence(self, key: str, epoch: int | None) -> None:
        """Fence every later commit unit with lease ``key`` at ``epoch`` (None: drop that fence)."""
        if epoch is None:
            self.fences.pop(key, None)
        else:
            self.fences[key] = int(epoch)

    @contextlib.contextmanager
    def atomic(self, *, snapshot: bool = False) -> Iterator[None]:
        """One commit unit; nested blocks are savepoints; the outermost one checks the fences.
        ``snapshot``: a read-only REPEATABLE READ transaction (one point in time; it commits
        nothing, so it is not fenced)."""
        outermost = not self.in_transaction
        if outermost and snapshot:
            with self.conn.raw.transaction():
                self.conn.raw.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                yield
            return
        if not outermost:
            with self.conn.raw.transaction():
                yield
            return
        # pipeline mode: statements whose results are not read go out without waiting for the
        # server (a commit unit's writes cost one round trip, not one each)
        with self.conn.raw.pipeline() as pipe, self.conn.raw.transaction():
            self.pipe = pipe
            try:
                yield
                if self.fences:
                    self._check_fences()
            finally:
                self.pipe = None

    @contextlib.contextmanager
    def unit(self) -> Iterator[None]:
        """A multi-statement write: its own transaction when alone, else part of the caller's."""
        if self.in_transaction:
            yield
        else:
            with self.atomic():
                yield

    def _check_fences(self) -> None:
        keys = sorted(self.fences)
        current = {k: int(e) for k, e in self.conn.raw.execute(
            "SELECT key, epoch FROM hybridsync_leases WHERE key = ANY(%s) ORDER BY key FOR SHARE", [keys])}
        for key in keys:
            if current.get(key) != self.fences[key]:
                self.stale_refusals += 1
                raise LeaseLost(key, self.fences[key], current.get(key))

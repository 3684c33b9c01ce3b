"""The PostgreSQL handle the store's parts share: a ``Db`` over one psycopg 3 connection.

The parts (objects.py, targets.py, log.py, recordings.py, facts.py) are written against ``Db``:
``rows``, ``insert``, ``unit``, ``atomic``, ``in_transaction`` and ``conn.execute`` /
``conn.executemany`` with ``?`` placeholders. ``PgDb`` gives them the same surface on PostgreSQL,
so both stores run the *same* queries and keep the same semantics:

- placeholders ``?`` become ``%s``; ``INSERT OR IGNORE`` becomes ``ON CONFLICT DO NOTHING``;
  ``insert()`` returns the new id: inside a commit unit from a block of the table's sequence
  reserved for the unit, and the row is buffered and sent with the unit's other new rows of that
  table in one statement (``send_many``: an array-parameter INSERT; before COMMIT, a savepoint's
  edge, or any statement that reads or names the table; in pipeline mode, without waiting for the
  server); outside one with ``RETURNING id``. History ids still grow with commits under one
  lease: a block lives only as long as its unit (or is reserved right after the previous unit's
  COMMIT, ``atomic(reserve_next=True)``); ``ask_all`` answers several reads in one statement;
- the connection is in autocommit mode: a statement outside ``atomic()`` commits on its own,
  ``atomic()`` is one transaction and a nested one a savepoint (psycopg's ``transaction()``);
- **fencing**: with fences set (``set_fence(key, epoch)``, one per lease held), every commit
  unit -- each outermost ``atomic()``/``unit()`` and each write outside one -- checks, inside its
  transaction and just before COMMIT, that the lease rows still carry those epochs, holding them
  ``FOR SHARE`` until the commit so a takeover waits for (or is seen by) the commit. A leader
  that was paused and lost its lease raises ``LeaseLost`` and commits nothing. The check is a
  statement that fails the transaction itself, sent with the COMMIT (no wait of its own).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from hybridsync.statestore.errors import StoreError
from hybridsync.statestore.handle import Query
from hybridsync.statestore.postgres import reads, send
from hybridsync.statestore.postgres.batch import _ARRAY_TYPES, collapse_in, translate  # noqa: F401 - re-exported
from hybridsync.statestore.postgres.ids import ID_STEP, ID_TABLES, RESERVE, IdBlocks  # noqa: F401 - ID_STEP re-exported


def forget_prepared(raw: Any) -> None:
    """After a failed unit: make psycopg forget its prepared statements (and DEALLOCATE ALL with
    the next statement it sends). psycopg prepares a statement on its 6th run (prepare_threshold)
    by a Parse sent in the pipeline; when that run falls behind a failed statement (a fence check
    that refused the unit) the server skips the Parse, yet psycopg keeps the name, and it forgets
    its names on a ROLLBACK only the first time it sees one. Every later run of that statement --
    the COMMIT, say -- then failed with 'prepared statement "_pg3_N" does not exist', for the
    life of the connection (tests/statestore/test_postgres_store.py)."""
    prepared = getattr(raw, "_prepared", None)  # psycopg 3's PrepareManager (not public API)
    if prepared is not None:
        prepared.clear()


class LeaseLost(StoreError):
    """A commit unit was refused: this process no longer holds the lease it was fenced with."""

    def __init__(self, key: str, epoch: int, current: int | None):
        self.key, self.epoch, self.current = key, epoch, current
        super().__init__(f"lease {key!r}: epoch {epoch} is no longer current "
                         f"(now {current if current is not None else 'released'}); nothing was committed")


_INSERT = re.compile(r"\s*INSERT INTO (\w+) \(([^()]*)\) VALUES \(([?, ]*)\)\s*$")
MAX_PENDING = 2000  # buffered writes of a unit before they are sent


_FENCE_MARK = "hybridsync: lease epoch no longer current"
# one row per fence; a row whose lease no longer carries the fence's epoch casts the marked text
# to an integer: the error fails the transaction (the sub-select locks the lease rows FOR SHARE)
_FENCE_CHECK = (f"SELECT CASE WHEN c.epoch IS DISTINCT FROM f.epoch THEN ('{_FENCE_MARK}: ' || f.key)::int END "
                "FROM unnest(%s::text[], %s::bigint[]) AS f(key, epoch) LEFT JOIN "
                "(SELECT key, epoch FROM hybridsync_leases WHERE key = ANY(%s::text[]) FOR SHARE) AS c USING (key)")


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
        return self._owner.depth > 0 or self.raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self._owner.pending:
            self._owner.flush_before(sql)
        sql, params = collapse_in(sql, params)
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
        self._owner.flush()
        with self._owner.unit():
            self._owner.send_many(cur, sql, rows)
        return cur


class PgDb:
    """One psycopg connection shared by every part of one ``PostgresStore`` (see ``Db``)."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.conn = PgConn(raw, self)
        self.fences: dict[str, int] = {}
        self.pipe: Any = None  # the pipeline of the open commit unit (results come at a sync)
        self.depth = 0  # open commit unit (1) and savepoints in it (more): BEGIN/SAVEPOINT by hand
        self.stale_refusals = 0  # commit units refused by the fence (for tests and status)
        self.ids = IdBlocks()  # ids reserved for the open commit unit, per table
        # writes of the open commit unit not sent yet (``defer``): [(sql, params)], and per sql
        # text the tables it touches and whether it commutes (an insert with a reserved id)
        self.pending: list[tuple[str, Sequence[Any]]] = []
        self._kinds: dict[str, tuple[frozenset[str], bool]] = {}
        self._tables: set[str] = set()
        self._types: dict[str, dict[str, str]] = {}  # column types per table (``send_many``)
        # what the open commit unit runs once it committed, and the errors its guards raise
        # (a statement that fails the transaction with a marked text, like the fence check)
        self.after_commit: list[Callable[[], None]] = []
        self.guards: dict[str, Callable[[], BaseException]] = {}
        # per source, the active watermark row as this store's last committed CAS left it
        # (dc, cursor JSON, version, high USN): PgTargets.advance_watermark's check without a read
        self.watermarks: dict[str, tuple[str, str, int, int | None]] = {}

    def defer(self, sql: str, params: Sequence[Any], tables: Iterable[str], *, commutes: bool = False) -> None:
        """A write whose result nobody reads: inside a commit unit it waits in a buffer, and runs of
        the same statement go out together (``send_many``: one statement over arrays where the
        statement's shape allows, else one ``executemany`` streamed in the pipeline). Sent before COMMIT, before a savepoint begins or ends, before any
        statement that reads or names one of the buffered tables, and before a write of another
        kind to the same table (so no statement can tell it waited; inserts with reserved ids
        commute with each other). Outside a unit: executed now."""
        if self.pipe is None:
            self.conn.execute(sql, params)
            return
        tabs = frozenset(tables)
        for text, (other, comm) in self._kinds.items():
            if text != sql and other & tabs and not (comm and commutes):
                self.flush()
                break
        self.pending.append((sql, params))
        self._kinds.setdefault(sql, (tabs, commutes))
        self._tables |= tabs
        if len(self.pending) >= MAX_PENDING:
            self.flush()

    def flush_before(self, sql: str) -> None:
        """Send the buffered writes first if ``sql`` reads anything or names one of their tables."""
        if not _is_write(sql) or "RETURNING" in sql.upper() or any(
                re.search(rf"\b{t}\b", sql, re.IGNORECASE) for t in self._tables):
            self.flush()

    def flush(self) -> None:
        """Send the buffered writes, grouped by statement (see ``defer``; send.py)."""
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        self._kinds, self._tables = {}, set()
        groups: dict[str, list[Sequence[Any]]] = {}
        for sql, params in pending:
            groups.setdefault(sql, []).append(params)
        send.send_groups(self, groups)  # several groups in one statement where they allow

    def send_many(self, cur: Any, sql: str, rows: list[Sequence[Any]]) -> None:
        """``sql`` (SQLite flavour) for each of ``rows``, batched (send.py)."""
        send.send_many(self, cur, sql, rows)

    def array_casts(self, table: str, cols: tuple[str, ...]) -> list[tuple[str, Any]] | None:
        """Per column: its type's name and the element conversion, or None if one has a type
        ``send_many`` does not batch (catalog read once per table and connection)."""
        types = self._types.get(table)
        if types is None:
            cur = self.conn.raw.cursor()
            cur.execute("SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
                        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped", [table])
            types = self._types[table] = {str(n): str(t) for n, t in cur.fetchall()}
        out = []
        for col in cols:
            conv = _ARRAY_TYPES.get(types.get(col, ""))
            if conv is None:
                return None
            out.append((types[col], conv))
        return out

    def discard(self) -> None:
        self.pending, self._kinds, self._tables = [], {}, set()

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.flush()
        sql, params = collapse_in(sql, params)
        cur = self.conn.raw.cursor(row_factory=dict_row)
        cur.execute(translate(sql), params)
        return cur.fetchall()

    def ask(self, query: Query) -> Any:
        return query.convert(self.rows(query.sql, query.params))

    def ask_all(self, queries: Iterable[Query]) -> list[Any]:
        """The answers of ``queries``, in order, in ONE statement (``reads.ask_all``)."""
        queries = list(queries)
        return [self.ask(q) for q in queries] if len(queries) < 2 else reads.ask_all(self, queries)

    def ask_all_beginning(self, queries: Iterable[Query], source: str, at: Any,
                          force_full: bool) -> tuple[list[Any], tuple[int, str]] | None:
        """``ask_all`` and ``begin_cycle`` in ONE statement, or None (``reads.ask_all_beginning``)."""
        return reads.ask_all_beginning(self, list(queries), source, at, force_full)

    def insert(self, sql: str, params: Sequence[Any]) -> int:
        """Insert one row and return its id. Inside a commit unit the id is taken from a block of
        the table's sequence reserved for the unit (``ids.IdBlocks``), and the row goes out without
        ``RETURNING``: in pipeline mode it costs no wait for the server. Outside one:
        ``RETURNING id``, in the sequence's (= time's) order."""
        m = _INSERT.match(sql)
        if self.pipe is None or m is None:
            row = self.conn.execute(sql + " RETURNING id", params).fetchone()
            assert row is not None, sql
            return int(row[0])
        table, cols, marks = m.groups()
        new_id = self.ids.next_id(self.conn.raw, table)
        self.defer(f"INSERT INTO {table} (id, {cols}) VALUES (?, {marks})", [new_id, *params], (table,),
                   commutes=True)
        return new_id

    @property
    def in_transaction(self) -> bool:
        return self.depth > 0 or self.conn.in_transaction

    def set_fence(self, key: str, epoch: int | None) -> None:
        """Fence every later commit unit with lease ``key`` at ``epoch`` (None: drop that fence)."""
        before = self.fences.get(key)
        if epoch is None:
            self.fences.pop(key, None)
        else:
            self.fences[key] = int(epoch)
        if self.fences.get(key) != before:
            self.watermarks.clear()  # another lease holder may have moved them meanwhile
            if not self.in_transaction:
                self.ids.clear()  # ids reserved under another lease epoch (``reserve_next``) are gaps

    @contextlib.contextmanager
    def atomic(self, *, snapshot: bool = False, reserve_next: bool = False) -> Iterator[None]:
        """One commit unit; nested blocks are savepoints; the outermost one checks the fences.
        ``snapshot``: a read-only REPEATABLE READ transaction (one point in time; it commits
        nothing, so it is not fenced). ``reserve_next``: after the COMMIT, in the same wait,
        reserve the id blocks of ``ID_TABLES`` for the NEXT commit unit (see ``ids.IdBlocks``): a
        caller that knows a unit writing history follows soon (the journal's intents come just
        before the target calls whose outcomes the page's unit records) spares that unit the
        round trip of its ``nextval``. The blocks are drawn after this unit committed, so ids
        still grow with the commits of one lease holder; they are dropped at the end of the
        next unit, and when a fence changes (``set_fence``)."""
        outermost = not self.in_transaction
        if outermost and snapshot:
            with self.conn.raw.transaction():
                self.conn.raw.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                yield
            return
        raw = self.conn.raw
        if not outermost:  # a savepoint, by hand (psycopg's would sync the pipeline twice)
            self.flush()  # rows from before the savepoint are not rolled back with it
            name = f"hybridsync_sp{self.depth}"
            raw.execute(f"SAVEPOINT {name}")
            self.depth += 1
            try:
                yield
                self.flush()
                raw.execute(f"RELEASE SAVEPOINT {name}")
                if self.pipe is not None:
                    self.pipe.sync()  # an error of the block surfaces at its edge, not at COMMIT
            except BaseException:
                self.discard()  # what the savepoint buffered goes with its rollback
                self.after_commit.clear()  # and what was to be remembered of the unit
                forget_prepared(raw)
                if self.pipe is not None:
                    with contextlib.suppress(psycopg.Error):
                        self.pipe.sync()  # an error of the block is reported; the pipeline recovers
                raw.execute(f"ROLLBACK TO SAVEPOINT {name}")
                raw.execute(f"RELEASE SAVEPOINT {name}")
                if self.pipe is not None:
                    self.pipe.sync()
                raise
            finally:
                self.depth -= 1
            return
        # pipeline mode: statements whose results are not read go out without waiting for the
        # server; BEGIN and COMMIT are pipelined too (psycopg's transaction() in a pipeline syncs
        # three times), so a unit whose writes nobody reads costs ONE round trip: its COMMIT
        reserve = None
        try:
            with raw.pipeline() as pipe:
                self.pipe, self.depth = pipe, 1
                raw.execute("BEGIN")
                yield
                self.flush()
                if self.fences:
                    self._send_fence_check()
                raw.execute("COMMIT")
                if reserve_next:  # outside the transaction, skipped if the unit failed
                    reserve = raw.cursor()
                    reserve.execute(self.ids.reserve_sql(list(ID_TABLES)), [list(ID_TABLES)])
            # the pipeline's exit synced: a failed statement of the unit raised there (the
            # COMMIT after it was skipped)
        except BaseException as exc:
            self.discard()
            self.pipe = None
            guards, self.guards, self.after_commit = self.guards, {}, []
            forget_prepared(raw)
            with contextlib.suppress(psycopg.Error):
                raw.execute("ROLLBACK")  # (and psycopg's DEALLOCATE ALL behind it)
            if isinstance(exc, psycopg.errors.InvalidTextRepresentation):
                if _FENCE_MARK in str(exc):
                    self._refuse()  # the fence check failed the transaction: nothing was committed
                for mark, error in guards.items():
                    if mark in str(exc):
                        raise error() from None  # a guard failed it (read after the ROLLBACK)
            raise
        finally:
            self.pipe, self.depth = None, 0
            self.ids.clear()  # unused ids are gaps (a sequence never gives one twice)
            self.guards = {}
        if reserve is not None:
            self.ids.reserved(reserve.fetchall())
        done, self.after_commit = self.after_commit, []
        for hook in done:
            hook()

    @contextlib.contextmanager
    def relaxed(self) -> Iterator[None]:
        """SQLite's ``Db.relaxed`` for the shared parts: ``PgFacts`` writes a cycle's rows alone
        with ``synchronous_commit`` off itself; inside a transaction the caller's unit decides."""
        yield

    @contextlib.contextmanager
    def unit(self) -> Iterator[None]:
        """A multi-statement write: its own transaction when alone, else part of the caller's."""
        if self.in_transaction:
            yield
        else:
            with self.atomic():
                yield

    def _send_fence_check(self) -> None:
        """The fence check as one statement that FAILS the transaction when a lease row no longer
        carries its epoch (a cast of a marked text to integer: an error, so the server skips the
        COMMIT sent behind it), holding the rows ``FOR SHARE`` until the commit. It goes in the
        pipeline with the COMMIT: a fenced unit waits for the server once, like an unfenced one
        (a check read before the COMMIT was a wait of its own). ``atomic`` turns the error into
        ``LeaseLost`` (``_refuse``)."""
        keys = sorted(self.fences)
        self.conn.raw.cursor().execute(_FENCE_CHECK, [keys, [self.fences[k] for k in keys], keys])

    def _refuse(self) -> None:
        """``LeaseLost`` for the first fence whose epoch is no longer current (read after the
        failed unit's ROLLBACK; epochs only grow, so it is still not current)."""
        keys = sorted(self.fences)
        current = {k: int(e) for k, e in self.conn.raw.execute(
            "SELECT key, epoch FROM hybridsync_leases WHERE key = ANY(%s)", [keys])}
        self.stale_refusals += 1
        stale = [k for k in keys if current.get(k) != self.fences[k]] or keys
        raise LeaseLost(stale[0], self.fences[stale[0]], current.get(stale[0]))

"""``PostgresStore``: the ``StateStore`` protocol on PostgreSQL (psycopg 3 + psycopg_pool).

    store = PostgresStore.open("postgresql://sync@db.corp/hybridsync", password=...)
    with store.atomic(): ...            # one transaction; nested = savepoint

It is the SQLite ``Store``'s twin: the same five parts (objects, targets, log, recordings,
facts) run the same queries on a ``PgDb`` handle (handle.py), over the same schema (schema.py),
so the commit-unit semantics, the cursor compare-and-swap and the dump format are the same --
and the store conformance kit proves it (tests/statestore/test_postgres_store.py).

What differs: connections come from a pool per (url, schema), shared by every store and lease
of the process (the lease heartbeat runs on its own pooled connection); a store pins one
connection for its life (one ``PostgresStore`` per thread, as with SQLite). ``schema`` puts the
tables in a PostgreSQL schema (created when missing; several deployments can share a
database). The watermark compare-and-swap takes a transaction-level advisory lock per source,
so two writers cannot both pass the check. With a lease's fence set, every commit unit is
fenced by its epoch (handle.py).
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from hybridsync.statestore.errors import StoreCorrupt
from hybridsync.statestore.pageread import PageRead
from hybridsync.statestore.postgres import nul, reads
from hybridsync.statestore.postgres import schema as pgschema
from hybridsync.statestore.postgres.handle import PgDb
from hybridsync.statestore.postgres.parts import PgFacts, PgLog, PgObjects, PgTargets
from hybridsync.statestore.postgres.recordings import PgRecordings
from hybridsync.statestore.store import Store

_pools: dict[tuple[str, str | None], tuple[ConnectionPool, list[int]]] = {}
_pools_lock = threading.Lock()


def redact(url: str) -> str:
    """The url without a password (``postgresql://user:secret@h/db`` -> ``user@h/db``)."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1@", url)


def _pool(url: str, schema: str | None, password: str | None, max_size: int) -> ConnectionPool:
    key = (url, schema)
    with _pools_lock:
        if key in _pools:
            _pools[key][1][0] += 1
            return _pools[key][0]

        def configure(conn: psycopg.Connection[Any]) -> None:
            nul.register(conn)
            if schema is not None:
                conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))

        kwargs: dict[str, Any] = {"autocommit": True}
        if password is not None:
            kwargs["password"] = password
        psycopg.connect(url, **kwargs, connect_timeout=10).close()  # fail fast on a bad url or password
        pool = ConnectionPool(url, kwargs=kwargs, min_size=1, max_size=max_size,
                              configure=configure, open=False, name=f"hybridsync {redact(url)}")
        pool.open(wait=True, timeout=30)
        _pools[key] = (pool, [1])
        return pool


def _unpool(url: str, schema: str | None) -> None:
    with _pools_lock:
        pool, refs = _pools[(url, schema)]
        refs[0] -= 1
        if refs[0] == 0:
            del _pools[(url, schema)]
            pool.close()


class PostgresStore(Store):
    """The PostgreSQL state store (see the module docstring and ``protocol.StateStore``)."""

    #: Several processes write (one per source lease) and each commit unit reserves its own block
    #: of ids: a smaller id can commit after a larger one was read.
    history_ids_in_commit_order = False

    def __init__(self, pool: ConnectionPool, conn: psycopg.Connection[Any], url: str,
                 schema: str | None) -> None:  # noqa: D107 - use open()
        self._pool, self._raw, self._url, self._schema = pool, conn, url, schema
        self._handle = PgDb(conn)  # type: ignore[assignment]
        self._objects = PgObjects(self._handle)  # type: ignore[arg-type]
        self._targets = PgTargets(self._handle)  # type: ignore[arg-type]
        self._log = PgLog(self._handle)  # type: ignore[arg-type]
        self._recordings = PgRecordings(self._handle)  # type: ignore[arg-type]
        self._facts = PgFacts(self._handle)  # type: ignore[arg-type]
        self._closed = False

    # ---------------------------------------------------------------- lifecycle
    @classmethod
    def open(cls, url: str | Path, *, readonly: bool = False, synchronous: str = "FULL",  # type: ignore[override]
             schema: str | None = None, password: str | None = None, pool_size: int = 8,
             _stop_before: str | None = None) -> PostgresStore:
        """Connect to ``url`` (``postgresql://user@host:port/db?sslmode=...``), then check and
        (unless ``readonly``) create or migrate the schema. ``schema``: a PostgreSQL schema to
        keep the tables in (created when missing). ``synchronous="NORMAL"`` turns off
        ``synchronous_commit`` for this store's session (like SQLite's NORMAL: a server crash may
        lose the last commits). Raises ``StoreCorrupt`` naming the url (never its password)."""
        url = str(url)
        where = redact(url) + (f" schema {schema}" if schema else "")
        try:
            pool = _pool(url, schema, password, pool_size)
        except Exception as exc:  # noqa: BLE001 - psycopg_pool raises PoolTimeout; name the cause
            raise StoreCorrupt(where, f"cannot connect: {exc}") from None
        conn = pool.getconn()
        try:
            if schema is not None and not readonly:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", [pgschema.MIGRATE_LOCK])
                    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            conn.execute("SET synchronous_commit TO " + ("off" if synchronous.upper() == "NORMAL" else "on"))
            pgschema.check_and_migrate(conn, where, readonly=readonly, stop_before=_stop_before)
            if readonly:
                conn.execute("SET default_transaction_read_only TO on")
        except BaseException:
            pool.putconn(conn)
            _unpool(url, schema)
            raise
        return cls(pool, conn, url, schema)

    @property
    def path(self) -> str:
        """The url without its password (plus the schema, if any): what messages show."""
        return redact(self._url) + (f"#schema={self._schema}" if self._schema else "")

    @property
    def url(self) -> str:
        return self._url

    @property
    def schema(self) -> str | None:
        return self._schema

    @property
    def pool(self) -> ConnectionPool:
        """The process-wide pool this store draws from (leases take their connection here)."""
        return self._pool

    def is_empty(self) -> bool:
        for table in ("objects", "target_states", "cycles", "watermarks", "history"):
            if self._handle.conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():
                return False
        return True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._raw.execute("RESET synchronous_commit")
            self._raw.execute("RESET default_transaction_read_only")
        self._pool.putconn(self._raw)
        _unpool(self._url, self._schema)

    def set_fence(self, key: str, epoch: int | None) -> None:
        """Fence every later commit unit with lease ``key`` at ``epoch`` (None: drop it; see
        handle.py)."""
        self._handle.set_fence(key, epoch)

    @property
    def stale_refusals(self) -> int:
        """Commit units this store refused because its lease epoch was no longer current."""
        return self._handle.stale_refusals

    def read_page(self, source: str, anchors: Iterable[str], targets: Iterable[str]) -> PageRead:
        """The page's objects and target states in ONE statement (reads.py)."""
        return reads.read_page(self._handle, source, anchors, targets)

    @contextlib.contextmanager
    def atomic(self) -> Iterator[PostgresStore]:
        with self._handle.atomic():
            yield self

    # ---------------------------------------------------------------- snapshot
    def dump(self, fp: IO[str]) -> None:
        pgschema.write_dump(self._handle, fp, self.format_version)

    @classmethod
    def load(cls, fp: IO[str], url: str | Path, *, schema: str | None = None,  # type: ignore[override]
             password: str | None = None) -> PostgresStore:
        """A new store at ``url`` (``schema``) from a ``dump()`` of either store, of the same or
        an older format version; the target must be empty (``FileExistsError`` otherwise)."""
        where = redact(str(url)) + (f" schema {schema}" if schema else "")
        stop = pgschema.read_dump_header(fp, where)
        store = cls.open(url, schema=schema, password=password, _stop_before=stop)
        try:
            if not store.is_empty():
                raise FileExistsError(where)
            pgschema.load_rows(store._handle, fp, where)
            if stop is not None:
                pgschema.check_and_migrate(store._raw, where, readonly=False)
            pgschema.set_format_version(store._raw)
        except BaseException:
            store.close()
            raise
        return store

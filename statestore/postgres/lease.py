"""``PgLease``: a leader lease per key (``source:<name>``) on PostgreSQL (the ``Lease`` interface
of statestore/lease.py).

The row ``hybridsync_leases(key)`` holds the fencing ``epoch``, the holder (pid, host) and
``expires_at``. A lease is taken when either

1. this session gets the **advisory lock** of the key (``pg_try_advisory_lock``): the previous
   holder's session is gone -- a process killed with -9 loses its connection and with it the
   lock at once, so a standby takes over within one poll (``POLL``), or
2. the row has **expired** (``expires_at < now()``, the server's clock): the holder stopped
   renewing (paused by SIGSTOP or GC, partitioned, hung) for a whole TTL.

Taking it bumps the epoch by compare-and-swap on the epoch read, so of two standbys exactly
one wins. The leader renews every ``ttl / 3`` on a heartbeat thread (its own pooled
connection, which also holds the advisory lock; a leader that took over by expiry tries to
get the lock on each beat). A renewal that finds another epoch -- or no successful renewal for
a whole TTL -- calls ``on_lost``. Safety does not depend on that callback: every commit unit of
a store fenced with the epoch (``PostgresStore.set_fence``) checks it inside its transaction,
so a leader that wakes after losing its lease commits nothing (``LeaseLost``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from psycopg_pool import ConnectionPool

from hybridsync.statestore.lease import Holder, LeaseHeld, this_host, wait_loop

LEASE_LOCK = 0x68730003  # advisory lock class of the leases (hashtext(schema:key) is the other half)
MEMBER_LOCK = 0x68730004  # advisory lock class of the members (hashtext(schema:member id))
_LOCK_KEY = "hashtext(current_schema() || ':' || %s)"  # deployments sharing a database don't collide


class PgLease:
    """A leader lease on PostgreSQL (see module doc). Not shared between threads."""

    def __init__(self, pool: ConnectionPool, key: str, *, ttl: float = 15.0, member: int | None = None) -> None:
        """``member``: this process's member id (members.py), kept in the row's ``holder`` so that
        every process can count how many sources each member leads."""
        self.pool, self.key, self.ttl, self.member = pool, key, float(ttl), member
        self._conn: Any = None
        self._locked = False
        self._epoch: int | None = None
        self._beat: threading.Thread | None = None
        self._stop = threading.Event()
        self.renewed_at = 0.0  # monotonic time of the last successful renewal

    @property
    def epoch(self) -> int | None:
        return self._epoch

    def _connection(self) -> Any:
        if self._conn is None:
            self._conn = self.pool.getconn()
        return self._conn

    def _try(self) -> int | None:
        conn = self._connection()
        conn.execute("INSERT INTO hybridsync_leases (key) VALUES (%s) ON CONFLICT DO NOTHING", [self.key])
        if not self._locked:
            self._locked = bool(conn.execute(f"SELECT pg_try_advisory_lock(%s, {_LOCK_KEY})",
                                             [LEASE_LOCK, self.key]).fetchone()[0])
        epoch, expired = conn.execute(
            "SELECT epoch, coalesce(expires_at < now(), true) FROM hybridsync_leases WHERE key = %s",
            [self.key]).fetchone()
        if not (self._locked or expired):
            return None
        row = conn.execute(
            "UPDATE hybridsync_leases SET epoch = epoch + 1, holder = %s, host = %s, pid = %s, "
            "acquired_at = now(), renewed_at = now(), expires_at = now() + make_interval(secs => %s) "
            "WHERE key = %s AND epoch = %s RETURNING epoch",
            [f"{this_host()}:{os.getpid()}" + (f"#{self.member}" if self.member is not None else ""), this_host(), os.getpid(), self.ttl, self.key, epoch]).fetchone()
        if row is None:
            return None  # another standby won this round
        self._epoch = int(row[0])
        self.renewed_at = time.monotonic()
        return self._epoch

    def acquire(self, wait: float | None = 0) -> int:
        if self._epoch is not None:
            return self._epoch
        try:
            return wait_loop(self._try, wait, lambda: LeaseHeld(self.key, self.holder()))
        except BaseException:
            self._give_back()
            raise

    def holder(self) -> Holder | None:
        """The current holder (None: never taken, or released)."""
        with self.pool.connection() as conn:
            row = conn.execute("SELECT pid, host, epoch, acquired_at, expires_at, holder FROM hybridsync_leases "
                               "WHERE key = %s", [self.key]).fetchone()
        if row is None or row[5] is None:
            return None
        return Holder(key=self.key, pid=row[0], host=row[1], epoch=int(row[2]), since=row[3], expires_at=row[4])

    def renew(self) -> bool:
        """Extend the lease by a TTL; False when another process took it meanwhile."""
        conn = self._connection()
        cur = conn.execute(
            "UPDATE hybridsync_leases SET renewed_at = now(), expires_at = now() + make_interval(secs => %s) "
            "WHERE key = %s AND epoch = %s", [self.ttl, self.key, self._epoch])
        if cur.rowcount != 1:
            return False
        self.renewed_at = time.monotonic()
        if not self._locked:
            self._locked = bool(conn.execute(f"SELECT pg_try_advisory_lock(%s, {_LOCK_KEY})",
                                             [LEASE_LOCK, self.key]).fetchone()[0])
        return True

    def start_heartbeat(self, on_lost: Callable[[Holder | None], None]) -> None:
        """Renew every ttl/3 on a daemon thread; call ``on_lost`` once if the lease is lost."""
        def beat() -> None:
            while not self._stop.wait(self.ttl / 3):
                try:
                    if self.renew():
                        continue
                except Exception:  # noqa: BLE001 - the database is unreachable: keep trying
                    if time.monotonic() - self.renewed_at < self.ttl:
                        continue
                on_lost(self._safe_holder())
                return

        self._stop.clear()
        self._beat = threading.Thread(target=beat, name=f"lease {self.key}", daemon=True)
        self._beat.start()

    def _safe_holder(self) -> Holder | None:
        try:
            return self.holder()
        except Exception:  # noqa: BLE001
            return None

    def release(self) -> None:
        """Hand over now: expire the row (if still ours) and drop the advisory lock."""
        self._stop.set()
        if self._beat is not None and self._beat is not threading.current_thread():
            self._beat.join(5)
        self._beat = None
        if self._conn is not None and self._epoch is not None:
            try:
                self._conn.execute("UPDATE hybridsync_leases SET expires_at = now(), holder = NULL "
                                   "WHERE key = %s AND epoch = %s", [self.key, self._epoch])
            except Exception:  # noqa: BLE001 - a broken connection: the lease expires by itself
                pass
        self._epoch = None
        self._give_back()

    def _give_back(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._locked:
            try:
                conn.execute(f"SELECT pg_advisory_unlock(%s, {_LOCK_KEY})", [LEASE_LOCK, self.key])
            except Exception:  # noqa: BLE001
                pass
            self._locked = False
        self.pool.putconn(conn)

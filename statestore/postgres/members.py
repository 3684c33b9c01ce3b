"""The engine processes of one deployment: who is alive, for spreading the sources over them.

Each ``hybridsync sync`` process on a PostgreSQL store joins as a row of ``hybridsync_members``
(host, pid, heartbeat, ``expires_at``) and holds a session advisory lock on its row. A member is
**live** while both hold: its row has not expired (it renews every ttl/3, so a paused or
partitioned process drops out after a TTL) and its lock is held (a process killed with -9 loses
its connection and with it the lock: it drops out at once). ``live_members`` answers from the
server's clock and ``pg_locks``, so every process sees the same list.
"""

from __future__ import annotations

import os
import time
from typing import Any

from attrs import frozen
from psycopg_pool import ConnectionPool

from hybridsync.statestore.lease import this_host
from hybridsync.statestore.postgres.lease import MEMBER_LOCK

_KEY = "hashtext(current_schema() || ':member:' || {})"

_LIVE = f"""
    SELECT m.id, m.host, m.pid, m.started_at, m.expires_at FROM hybridsync_members m
    WHERE m.expires_at > now() AND EXISTS (
        SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid::bigint = %s
        AND l.objid::bigint = ({_KEY.format("m.id::text")}::bigint & 4294967295))
    ORDER BY m.id"""


@frozen
class Member:
    id: int
    host: str
    pid: int
    started_at: Any = None
    expires_at: Any = None


def live_members(pool: ConnectionPool) -> list[Member]:
    """The live members, oldest first (see module doc)."""
    with pool.connection() as conn:
        return [Member(int(r[0]), r[1], int(r[2]), r[3], r[4]) for r in conn.execute(_LIVE, [MEMBER_LOCK])]


class Membership:
    """This process as a member (see module doc). ``join``, ``beat`` every ttl/3, ``leave``."""

    def __init__(self, pool: ConnectionPool, *, ttl: float = 15.0) -> None:
        self.pool, self.ttl = pool, float(ttl)
        self.id: int | None = None
        self._conn: Any = None
        self.beaten_at = 0.0

    def join(self) -> int:
        conn = self._conn = self.pool.getconn()
        # forget members dead for a day (their rows only serve liveness)
        conn.execute("DELETE FROM hybridsync_members WHERE expires_at < now() - interval '1 day'")
        row = conn.execute(
            "INSERT INTO hybridsync_members (host, pid, started_at, heartbeat_at, expires_at) "
            "VALUES (%s, %s, now(), now(), now() + make_interval(secs => %s)) RETURNING id",
            [this_host(), os.getpid(), self.ttl]).fetchone()
        self.id = int(row[0])
        conn.execute(f"SELECT pg_advisory_lock(%s, {_KEY.format('%s')})", [MEMBER_LOCK, str(self.id)])
        self.beaten_at = time.monotonic()
        return self.id

    def beat(self) -> None:
        """Renew: this process is alive for another TTL."""
        self._conn.execute("UPDATE hybridsync_members SET heartbeat_at = now(), "
                           "expires_at = now() + make_interval(secs => %s) WHERE id = %s", [self.ttl, self.id])
        self.beaten_at = time.monotonic()

    def live(self) -> list[Member]:
        return [Member(int(r[0]), r[1], int(r[2]), r[3], r[4])
                for r in self._conn.execute(_LIVE, [MEMBER_LOCK])]

    def lease_counts(self) -> dict[int, int]:
        """Member id -> how many unexpired ``source:`` leases it holds."""
        out: dict[int, int] = {}
        for holder, n in self._conn.execute(
                "SELECT holder, count(*) FROM hybridsync_leases WHERE key LIKE 'source:%%' AND holder IS NOT NULL "
                "AND expires_at > now() GROUP BY holder"):
            _, _, member = str(holder).rpartition("#")
            if member.isdigit():
                out[int(member)] = out.get(int(member), 0) + int(n)
        return out

    def leave(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute("DELETE FROM hybridsync_members WHERE id = %s", [self.id])
            conn.execute(f"SELECT pg_advisory_unlock(%s, {_KEY.format('%s')})", [MEMBER_LOCK, str(self.id)])
        except Exception:  # noqa: BLE001 - a broken connection: the row expires by itself
            pass
        self.pool.putconn(conn)

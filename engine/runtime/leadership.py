"""Who may write: the leases a ``hybridsync sync`` process holds while it runs.

- SQLite store: one ``FileLease`` on the file (the single-writer lock); a second ``sync`` on
  the same file fails naming the holder's pid and host, or waits with ``--wait``.
- PostgreSQL store: one ``PgLease`` per configured source (``source:<name>``), taken in name
  order; the store is fenced with every epoch, the leases are renewed on a heartbeat, and a
  lost lease calls ``on_lost`` (the CLI stops the loop).
- An in-memory store (``:memory:``) needs none.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from hybridsync.statestore.lease import FileLease, Holder, Lease


def leases_for(store: Any, config: Any) -> list[Lease]:
    from hybridsync.statestore.postgres.store import PostgresStore

    if isinstance(store, PostgresStore):
        from hybridsync.statestore.postgres.lease import PgLease

        return [PgLease(store.pool, f"source:{name}", ttl=config.state.lease_ttl)
                for name in sorted(s.name for s in config.sources)]
    path = str(getattr(store, "path", ":memory:"))
    return [] if path == ":memory:" else [FileLease(path)]


class Leadership:
    """Hold every lease the store needs for writing, for the ``with`` block."""

    def __init__(self, store: Any, config: Any, *, wait: float | None = 0,
                 on_lost: Callable[[Lease, Holder | None], None] | None = None, fence: bool = True) -> None:
        self.store, self.wait, self.on_lost = store, wait, on_lost
        self.fence = fence and hasattr(store, "set_fence")  # a read-only holder (migrate-store) needs none
        self.leases = leases_for(store, config)
        self.lost = threading.Event()

    def __enter__(self) -> Leadership:
        held: list[Lease] = []
        try:
            for lease in self.leases:
                epoch = lease.acquire(wait=self.wait)
                held.append(lease)
                if self.fence and not isinstance(lease, FileLease):
                    self.store.set_fence(lease.key, epoch)
                lease.start_heartbeat(lambda holder, lease=lease: self._lost(lease, holder))
        except BaseException:
            for lease in held:
                lease.release()
            raise
        return self

    def _lost(self, lease: Lease, holder: Holder | None) -> None:
        self.lost.set()
        if self.on_lost is not None:
            self.on_lost(lease, holder)

    def __exit__(self, *exc: object) -> None:
        for lease in reversed(self.leases):
            if self.fence and not isinstance(lease, FileLease):
                self.store.set_fence(lease.key, None)
            lease.release()


def leader_of(store: Any, source: str) -> dict[str, Any] | None:
    """Who leads ``source`` now (for ``status``): pid, host, epoch, since, lease expiry; None
    when nobody does. For SQLite the holder of the store's file lock leads every source."""
    from hybridsync.statestore.postgres.store import PostgresStore

    if isinstance(store, PostgresStore):
        from hybridsync.statestore.postgres.lease import PgLease

        holder = PgLease(store.pool, f"source:{source}").holder()
    else:
        path = str(getattr(store, "path", ":memory:"))
        holder = None if path == ":memory:" else FileLease(path).holder()
    if holder is None:
        return None
    from hybridsync.statestore.convert import time_to_text

    return {"pid": holder.pid, "host": holder.host, "epoch": holder.epoch, "since": time_to_text(holder.since),
            "lease_expires": time_to_text(holder.expires_at)}

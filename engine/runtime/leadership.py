"""Who may write: the leases a ``hybridsync sync`` process holds while it runs.

- SQLite store: one ``FileLease`` on the file (the single-writer lock); a second ``sync`` on
  the same file fails naming the holder's pid and host, or waits with ``--wait``
  (``Leadership``).
- PostgreSQL store: one ``PgLease`` per configured source (``source:<name>``), **spread over
  the live processes** (``Spread``): each process joins as a member (statestore/postgres/
  members.py) and leads at most ``ceil(sources / live members)`` sources. A coordinator thread
  renews the membership, takes free sources up to that share (a dead leader's at once, a hung
  one's after the TTL) and gives back extras when more processes are live, so a process that
  joins or leaves rebalances within a few lease periods. The engine asks ``leads(source)``
  before each source's cycle (``Engine.leads``): the store is then fenced with that source's
  epoch only, a lost or given-back lease is dropped there (never in the middle of the source's
  cycle), and a newly taken lease is recorded in history (``record_leader``: ``explain`` names
  the process and epoch behind each decision).
- An in-memory store (``:memory:``) needs none.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from hybridsync.statestore.lease import POLL, FileLease, Holder, Lease, LeaseHeld, this_host


def is_postgres(store: Any) -> bool:
    from hybridsync.statestore.postgres.store import PostgresStore

    return isinstance(store, PostgresStore)


def leases_for(store: Any, config: Any) -> list[Lease]:
    if is_postgres(store):
        from hybridsync.statestore.postgres.lease import PgLease

        return [PgLease(store.pool, f"source:{name}", ttl=config.state.lease_ttl)
                for name in sorted(s.name for s in config.sources)]
    path = str(getattr(store, "path", ":memory:"))
    return [] if path == ":memory:" else [FileLease(path)]


class Leadership:
    """Hold every lease the store needs for writing, for the ``with`` block (SQLite's file
    lock; on PostgreSQL every source's lease at once: ``Spread`` is what ``sync`` uses there)."""

    def __init__(self, store: Any, config: Any, *, wait: float | None = 0,
                 on_lost: Callable[[Lease, Holder | None], None] | None = None, fence: bool = True) -> None:
        self.store, self.config, self.wait, self.on_lost = store, config, wait, on_lost
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

    def record(self) -> None:
        """Record in history that this process leads every source (with the lock's epoch)."""
        for lease in self.leases:
            if lease.epoch is not None:
                for source in sorted(s.name for s in self.config.sources):
                    if isinstance(lease, FileLease) or lease.key == f"source:{source}":
                        self.store.record_leader(source, host=this_host(), pid=os.getpid(), epoch=lease.epoch)

    def _lost(self, lease: Lease, holder: Holder | None) -> None:
        self.lost.set()
        if self.on_lost is not None:
            self.on_lost(lease, holder)

    def __exit__(self, *exc: object) -> None:
        for lease in reversed(self.leases):
            if self.fence and not isinstance(lease, FileLease):
                self.store.set_fence(lease.key, None)
            lease.release()


DEFER_POLLS = 4  # polls a free source is left to a member leading fewer before this one takes it


def fair_share(sources: int, live: int) -> int:
    """How many sources one process leads at most: ceil(sources / live processes)."""
    return math.ceil(sources / max(1, live)) if sources else 0


class Spread:
    """PostgreSQL: lead a fair share of the sources, rebalancing as processes come and go
    (module doc). ``start(wait)``, then the engine asks ``leads(source)``; ``close()``."""

    def __init__(self, store: Any, config: Any, *, poll: float = POLL * 2,
                 on_event: Callable[[str], None] | None = None) -> None:
        from hybridsync.statestore.postgres.lease import PgLease
        from hybridsync.statestore.postgres.members import Membership

        ttl = config.state.lease_ttl
        self.store, self.poll, self.on_event = store, poll, on_event
        self.sources = sorted(s.name for s in config.sources)
        self.leases = {n: PgLease(store.pool, f"source:{n}", ttl=ttl) for n in self.sources}
        self.membership = Membership(store.pool, ttl=ttl)
        self.held: dict[str, int] = {}      # source -> epoch (the coordinator adds, leads() drops)
        self._unrecorded: set[str] = set()  # taken, leader record not yet written
        self._lost: dict[str, Holder | None] = {}  # set by heartbeat threads
        self._give_back: set[str] = set()  # extras to hand over when not running
        self.running: str | None = None      # the source whose cycle the engine is in
        self._fenced: str | None = None
        self._deferred_at = 0.0  # since when a free source is left to a member leading fewer
        self.live = 1
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.led_any = threading.Event()

    # ------------------------------------------------------------------ coordinator thread
    def _say(self, msg: str) -> None:
        if self.on_event is not None:
            self.on_event(msg)

    def _preference(self) -> list[str]:
        """This member's order of the sources (differs per member, so standbys spread out)."""
        me = str(self.membership.id)
        return sorted(self.sources, key=lambda n: hashlib.sha256(f"{me}:{n}".encode()).hexdigest())

    def balance(self) -> None:
        """One round: renew the membership, count the live members, give back or take.

        With S sources and L live members each leads at most ceil(S/L) (``fair_share``); extras
        are given back. While some live member leads fewer than floor(S/L), the member leading
        the most (the oldest of equals: every member computes the same one) gives one back. A
        member below its share takes free sources, in its own order of preference, unless
        another live member leads fewer (that one takes first)."""
        if time.monotonic() - self.membership.beaten_at >= self.membership.ttl / 3:
            self.membership.beat()
        live = self.membership.live()
        self.live = max(1, len(live))
        share, floor = fair_share(len(self.sources), self.live), len(self.sources) // self.live
        order = self._preference()
        with self._lock:
            keep = [n for n in order if n in self.held and n not in self._lost and n not in self._give_back]
            extras = keep[share:]
            if not extras and len(keep) > floor and live:
                counts = self.membership.lease_counts()
                if any(counts.get(m.id, 0) < floor for m in live):
                    donor = max(live, key=lambda m: (counts.get(m.id, 0), -m.id))
                    if donor.id == self.membership.id:
                        extras = keep[-1:]
            for name in extras[::-1]:  # the least preferred go first
                self._give_back.add(name)
                keep.remove(name)
                self._say(f"giving back source:{name} ({self.live} live processes, a share of {share})")
            for name in list(self._give_back):
                if name != self.running:
                    self._drop(name, "given back")
            for name in list(self._lost):
                # even the running source's: the lease is another process's (or free) now and the
                # store's fence refuses that cycle's commits; kept until the engine's next cycle asks
                # ``leads``, it would be led by nobody (this process skips what it holds, the others
                # are at their share) for up to a poll interval
                self._drop(name, "lost")
            if extras or len(keep) >= share or not any(n not in self.held for n in self.sources):
                return
            counts = self.membership.lease_counts()
            if any(counts.get(m.id, 0) < len(keep) for m in live if m.id != self.membership.id):
                # a member leading fewer takes first (so a given-back source moves to it) -- for a
                # few polls: that member may be paused itself
                self._deferred_at = self._deferred_at or time.monotonic()
                if time.monotonic() - self._deferred_at < DEFER_POLLS * self.poll:
                    return
            self._deferred_at = 0.0
            for name in order:
                if name in self.held or len(keep) >= share:
                    continue
                lease = self.leases[name]
                lease.member = self.membership.id
                try:
                    epoch = lease.acquire(wait=0)
                except LeaseHeld:
                    continue
                self.held[name] = epoch
                self._unrecorded.add(name)
                keep.append(name)
                lease.start_heartbeat(lambda holder, name=name: self._lost.__setitem__(name, holder))
                self.led_any.set()
                self._say(f"leading source:{name} epoch {epoch}")

    def _drop(self, name: str, why: str) -> None:
        """Release a lease (under the lock; never the running source's from another thread,
        unless it is lost)."""
        self._give_back.discard(name)
        holder = self._lost.pop(name, None)
        if self.held.pop(name, None) is None:
            return
        self._unrecorded.discard(name)
        self.leases[name].release()
        if why == "lost":
            self._say(f"lost source:{name}: now held by {holder.describe() if holder else 'nobody'}")
        else:
            self._say(f"released source:{name} ({why})")

    def _run(self) -> None:
        last = ""
        while not self._stop.wait(self.poll):
            try:
                self.balance()
                last = ""
            except Exception as exc:  # noqa: BLE001 - the database is unreachable: the leases' own
                said = f"coordinator: {type(exc).__name__}: {exc}"[:300]  # TTLs decide; retry
                if said != last:  # once per kind of trouble, not every poll
                    self._say(said)
                last = said

    def start(self, *, wait: bool) -> None:
        """Join and take a first share; without ``wait`` raise ``LeaseHeld`` when every source
        is led by another process. Then keep balancing on a daemon thread."""
        self.membership.join()
        try:
            self.balance()
            if not wait and not self.held:
                first = self.leases[self.sources[0]] if self.sources else None
                raise LeaseHeld(first.key if first else "the store", first.holder() if first else None)
        except BaseException:
            self.close()
            raise
        self._thread = threading.Thread(target=self._run, name="hybridsync leadership", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ the engine's thread
    def leads(self, name: str) -> bool:
        """Asked before ``name``'s cycle: True when this process leads it (its epoch now fences
        the store); a lost or given-back lease is released here, between cycles."""
        with self._lock:
            if name in self._lost:
                self._drop(name, "lost")
            elif name in self._give_back:
                self._drop(name, "given back")
            epoch = self.held.get(name)
            self._fence(None)
            self.running = name if epoch is not None else None
            if epoch is None:
                return False
            self._fence(name, epoch)
            if name in self._unrecorded:
                try:
                    self.store.record_leader(name, host=this_host(), pid=os.getpid(), epoch=epoch)
                except Exception as exc:  # noqa: BLE001 - LeaseLost: taken over meanwhile
                    self._say(f"source:{name}: {exc}")
                    self._lost[name] = None
                    self._drop(name, "lost")
                    self._fence(None)
                    self.running = None
                    return False
                self._unrecorded.discard(name)
            return True

    def _fence(self, name: str | None, epoch: int | None = None) -> None:
        """Fence the store with exactly one source's epoch (None: with none)."""
        if self._fenced is not None:
            self.store.set_fence(f"source:{self._fenced}", None)
        self._fenced = name
        if name is not None:
            self.store.set_fence(f"source:{name}", epoch)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10)
        with self._lock:
            for name in list(self.held):
                self._drop(name, "stopping")
            self._fence(None)
        self.membership.leave()


def leader_of(store: Any, source: str) -> dict[str, Any] | None:
    """Who leads ``source`` now (for ``status``): pid, host, epoch, since, lease expiry and the
    standbys (live processes not leading it, PostgreSQL); None when nobody does. For SQLite the
    holder of the store's file lock leads every source."""
    from hybridsync.statestore.convert import time_to_text

    standbys: list[dict[str, Any]] = []
    if is_postgres(store):
        from hybridsync.statestore.postgres.lease import PgLease
        from hybridsync.statestore.postgres.members import live_members

        holder = PgLease(store.pool, f"source:{source}").holder()
        live = live_members(store.pool)
        if holder is not None and holder.expires_at is not None:
            from hybridsync.statestore.convert import utcnow

            if holder.expires_at < utcnow():
                holder = None  # expired: nobody leads it until a standby takes it
        standbys = [{"pid": m.pid, "host": m.host} for m in live
                    if holder is None or (m.pid, m.host) != (holder.pid, holder.host)]
    else:
        path = str(getattr(store, "path", ":memory:"))
        holder = None if path == ":memory:" else FileLease(path).holder()
    if holder is None:
        return {"pid": None, "host": None, "epoch": None, "since": None, "lease_expires": None,
                "standbys": standbys} if standbys else None
    return {"pid": holder.pid, "host": holder.host, "epoch": holder.epoch, "since": time_to_text(holder.since),
            "lease_expires": time_to_text(holder.expires_at), "standbys": standbys}

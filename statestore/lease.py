"""One writer per store (SQLite) or per source (PostgreSQL): the single-writer lock and the
leader lease share one interface, ``Lease``.

    lease = FileLease("hybridsync.db")              # or PgLease(store.pool, "source:corp")
    epoch = lease.acquire(wait=0)                   # LeaseHeld(holder) when another has it
    lease.start_heartbeat(on_lost)                  # PostgreSQL renews; a file lock needs none
    ...
    lease.release()

- ``FileLease``: an OS lock (``flock``) on ``<db>.lock`` next to the SQLite file, holding the
  holder's pid, host, start time and an epoch counted up at each acquisition. The kernel drops
  it when the process dies (kill -9 included) and a paused process keeps it, so there is never
  a second writer and no fencing is needed.
- ``PgLease`` (statestore/postgres/lease.py): a lease row per key with an epoch fencing token,
  renewed on a heartbeat, plus a session advisory lock so that a clean death hands over at
  once; commit units are fenced by the epoch (see statestore/postgres/handle.py).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from attrs import frozen

from hybridsync.statestore.convert import time_from_text, time_to_text, utcnow
from hybridsync.statestore.errors import StoreError

POLL = 0.25  # seconds between attempts while waiting


@frozen
class Holder:
    """Who holds a lease: process id and host, the fencing epoch, since when, until when."""

    key: str
    pid: int | None
    host: str | None
    epoch: int
    since: datetime | None = None
    expires_at: datetime | None = None  # None: held until the process ends (a file lock)

    def describe(self) -> str:
        out = f"pid {self.pid} on {self.host} (epoch {self.epoch}"
        if self.since is not None:
            out += f", since {time_to_text(self.since)}"
        if self.expires_at is not None:
            out += f", lease until {time_to_text(self.expires_at)}"
        return out + ")"


class LeaseHeld(StoreError):
    """Another process holds the lease (``holder`` says who, when known)."""

    def __init__(self, key: str, holder: Holder | None):
        self.key, self.holder = key, holder
        who = holder.describe() if holder else "another process"
        super().__init__(f"{key} is held by {who}")


@runtime_checkable
class Lease(Protocol):
    key: str

    @property
    def epoch(self) -> int | None: ...  # None: not held

    def acquire(self, wait: float | None = 0) -> int:
        """Take the lease; returns its epoch. ``wait``: seconds to keep trying (None: forever);
        raises ``LeaseHeld`` naming the holder when it is still held by another."""
        ...

    def holder(self) -> Holder | None: ...

    def start_heartbeat(self, on_lost: Callable[[Holder | None], None]) -> None: ...

    def release(self) -> None: ...


def this_host() -> str:
    return socket.gethostname()


def wait_loop(attempt: Callable[[], int | None], wait: float | None, held: Callable[[], LeaseHeld]) -> int:
    """Call ``attempt`` until it returns an epoch or ``wait`` seconds pass (then raise ``held()``)."""
    deadline = None if wait is None else time.monotonic() + wait
    while True:
        epoch = attempt()
        if epoch is not None:
            return epoch
        if deadline is not None and time.monotonic() >= deadline:
            raise held()
        time.sleep(POLL)


class FileLease:
    """The SQLite store's single-writer lock: ``flock`` on ``<db>.lock`` (see module doc)."""

    def __init__(self, db_path: str | Path) -> None:
        self.path = Path(str(db_path) + ".lock")
        self.key = f"store {db_path}"
        self._fd: int | None = None
        self._epoch: int | None = None

    @property
    def epoch(self) -> int | None:
        return self._epoch

    def _read(self, fd: int) -> dict:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            return json.loads(os.read(fd, 4096) or b"{}")
        except ValueError:
            return {}

    def _try(self) -> int | None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return None
            raise
        epoch = int(self._read(fd).get("epoch", 0)) + 1
        info = {"pid": os.getpid(), "host": this_host(), "epoch": epoch, "since": time_to_text(utcnow())}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd, self._epoch = fd, epoch
        return epoch

    def acquire(self, wait: float | None = 0) -> int:
        if self._epoch is not None:
            return self._epoch
        return wait_loop(self._try, wait, lambda: LeaseHeld(self.key, self.holder()))

    def holder(self) -> Holder | None:
        """The process holding the lock (None when nobody does)."""
        if self._fd is not None:
            info = self._read(self._fd)
        else:
            try:
                fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                return None
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    return None  # nobody holds it
                except OSError:
                    info = self._read(fd)
            finally:
                os.close(fd)
        return Holder(key=self.key, pid=info.get("pid"), host=info.get("host"), epoch=int(info.get("epoch", 0)),
                      since=time_from_text(info.get("since")))

    def start_heartbeat(self, on_lost: Callable[[Holder | None], None]) -> None:
        """Nothing to renew: the kernel keeps the lock for as long as this process lives."""

    def release(self) -> None:
        fd, self._fd, self._epoch = self._fd, None, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

"""Loopback address allocation for lab services that several sessions share.

Up to eight people (plus CI, benchmarks and ``hybridsync lab``) start Samba DCs on one
machine at once. Each DC gets its own 127.0.0.X address. An address is taken when

1. we hold an exclusive ``flock`` on ``/tmp/hybridsync-lab-locks/127.0.0.X.lock`` (the lock
   is released by the kernel when the holder dies, so a crashed session never leaks it), and
2. none of the DC's ports is bound on that address (a DC orphaned by a killed session still
   listens, so its address is skipped even though its lock is free).

The returned :class:`AddressLock` must be kept open for the DC's whole lifetime; the DC
process inherits its descriptor, so the address stays taken while samba runs even if the
Python process that started it is gone.
"""

from __future__ import annotations

import errno
import fcntl
import os
import random
import socket
from pathlib import Path

import attrs

from hybridsync.engine.lab.errors import LabError

LOCK_DIR = Path(os.environ.get("HYBRIDSYNC_LAB_LOCK_DIR", "/tmp/hybridsync-lab-locks"))
DC_TCP_PORTS = (389, 636, 88, 53, 445, 135, 139, 464, 3268, 3269)
DC_UDP_PORTS = (53, 88, 464)
FIRST_HOST, LAST_HOST = 2, 250


class NoFreeAddress(LabError):
    """Every loopback address in 127.0.0.2-250 is locked or has a DC port in use."""


@attrs.define
class AddressLock:
    """An exclusive claim on one loopback address; close it when the DC is gone."""

    address: str
    path: Path
    fd: int | None

    def fileno(self) -> int:
        if self.fd is None:
            raise ValueError(f"address lock for {self.address} is already released")
        return self.fd

    def release(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)

    @property
    def held(self) -> bool:
        return self.fd is not None


def port_free(address: str, port: int, kind: int = socket.SOCK_STREAM) -> bool:
    """True when nothing is bound to ``address:port`` (nor to the wildcard on that port)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        if kind == socket.SOCK_STREAM:
            # Ignore TIME_WAIT leftovers of a stopped DC (samba itself binds with SO_REUSEADDR);
            # a live listener on the port still makes the bind fail on Linux.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            if exc.errno != errno.EACCES:
                raise
        else:
            return True
    # Not root: privileged ports cannot be test-bound; fall back to probing TCP listeners.
    if kind != socket.SOCK_STREAM:
        return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((address, port)) != 0


def ports_free(address: str) -> bool:
    return all(port_free(address, p) for p in DC_TCP_PORTS) and all(
        port_free(address, p, socket.SOCK_DGRAM) for p in DC_UDP_PORTS
    )


def try_lock(address: str) -> AddressLock | None:
    """Take the lock for ``address`` without waiting; None when someone else holds it."""
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    try:
        os.chmod(LOCK_DIR, 0o1777)
    except PermissionError:
        pass
    path = LOCK_DIR / f"{address}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return AddressLock(address=address, path=path, fd=fd)


def lock_address(address: str) -> AddressLock:
    """Claim a specific address (e.g. the one a restored DC must keep); fails if taken."""
    lock = try_lock(address)
    if lock is None:
        raise NoFreeAddress(f"loopback address {address} is locked by another lab session")
    return lock


def allocate_address(*, check_ports: bool = True) -> tuple[str, AddressLock]:
    """Pick a free 127.0.0.X (X in 2..250), lock it and return ``(address, lock)``.

    The search starts at a random host number so concurrent sessions rarely race for the
    same lock; the flock makes the race harmless anyway.
    """
    hosts = list(range(FIRST_HOST, LAST_HOST + 1))
    start = random.randrange(len(hosts))
    for host in hosts[start:] + hosts[:start]:
        address = f"127.0.0.{host}"
        lock = try_lock(address)
        if lock is None:
            continue
        if check_ports and not ports_free(address):
            lock.release()
            continue
        return address, lock
    raise NoFreeAddress(f"no free loopback address in 127.0.0.{FIRST_HOST}-{LAST_HOST} (locks in {LOCK_DIR})")

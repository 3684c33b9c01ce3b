"""In-process "engine processes" on the lab PostgreSQL for the leadership tests: each member has
its own store and ``Spread`` (its own connections, so its advisory locks are its own), and can be
crashed (its connections closed without a word: what a kill -9 leaves), paused (its heartbeats
stop: what SIGSTOP leaves) and resumed."""

from __future__ import annotations

import contextlib
import time
from types import SimpleNamespace
from typing import Any

from hybridsync.engine.runtime.leadership import Spread
from hybridsync.statestore.postgres.store import PostgresStore


def ha_config(sources: list[str], ttl: float) -> Any:
    return SimpleNamespace(state=SimpleNamespace(lease_ttl=ttl), sources=[SimpleNamespace(name=n) for n in sources])


class Member:
    def __init__(self, url: str, schema: str, password: str, sources: list[str], *, ttl: float = 2.0,
                 poll: float = 0.1, start: bool = True) -> None:
        self.store = PostgresStore.open(url, schema=schema, password=password, pool_size=40)
        self.events: list[str] = []
        self.spread = Spread(self.store, ha_config(sources, ttl), poll=poll, on_event=self.events.append)
        self.alive = True
        if start:
            self.spread.start(wait=True)

    @property
    def led(self) -> set[str]:
        return set(self.spread.held) - set(self.spread._lost)

    def crash(self) -> None:
        """What a kill -9 leaves: threads gone, connections closed, rows left behind."""
        sp = self.spread
        sp._stop.set()
        if sp._thread is not None:
            sp._thread.join(10)
        for lease in sp.leases.values():
            lease._stop.set()
            if lease._conn is not None:
                with contextlib.suppress(Exception):
                    lease._conn.close()
        with contextlib.suppress(Exception):
            sp.membership._conn.close()
        with contextlib.suppress(Exception):
            self.store._raw.close()
        self.alive = False

    def pause(self) -> None:
        """What SIGSTOP leaves: nothing renews (connections and locks stay)."""
        self.spread._stop.set()
        if self.spread._thread is not None:
            self.spread._thread.join(10)
        for lease in self.spread.leases.values():
            lease._stop.set()
            if lease._beat is not None:
                lease._beat.join(10)
                lease._beat = None

    def resume(self) -> None:
        """SIGCONT: the threads run again (a renewal finds the lease lost, if it was taken)."""
        sp = self.spread
        for name in list(sp.held):
            lease = sp.leases[name]
            lease.start_heartbeat(lambda holder, name=name: sp._lost.__setitem__(name, holder))
        sp._stop.clear()
        import threading

        sp._thread = threading.Thread(target=sp._run, daemon=True)
        sp._thread.start()

    def close(self) -> None:
        if self.alive:
            self.spread.close()
            self.store.close()
            self.alive = False


def wait_until(pred: Any, timeout: float, step: float = 0.05) -> float:
    """Seconds until ``pred()`` held; AssertionError after ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if pred():
            return time.monotonic() - start
        time.sleep(step)
    raise AssertionError(f"not within {timeout} s")

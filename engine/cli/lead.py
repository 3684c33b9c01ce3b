"""``sync``'s leadership: hold the store's leases while cycles run (engine/runtime/leadership.py);
``provision``, ``approve-deletes`` and ``approve-adoptions`` hold every lease at once while they
write (``command``; quietly: ``announce`` False).

Not a command of its own.

- SQLite: the file lock. Without ``--wait`` a store held by another process is exit 2, naming
  the holder (pid, host, epoch, since); with ``--wait`` the process stands by and takes over
  when the holder dies. A lost lock is impossible (the kernel keeps it while the process lives).
- PostgreSQL: the sources are spread over the live ``sync`` processes (``Spread``): each leads
  its share, prints ``leading source:<name> epoch <n>`` when it takes one and ``released`` /
  ``lost`` when it gives one back or loses it (then it stands by for it again; nothing was
  committed after a loss: the store is fenced by the epoch). Without ``--wait`` a process that
  can lead no source at all is exit 2 naming the holder; ``--once --wait`` waits until it leads
  at least one source, runs one cycle of the sources it leads, then exits.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from typing import Any


def leading(args: argparse.Namespace, engine: Any,
            body: Callable[[argparse.Namespace, Any, threading.Event], int], *, command: str = "sync",
            announce: bool = True) -> int:
    """Run ``body`` holding the leases: ``sync`` on PostgreSQL leads its share of the sources
    (``Spread``); anything else (SQLite, or another ``command`` writing the store) holds every
    lease at once. ``announce`` False: no "standing by"/"leading" lines."""
    from hybridsync.engine.runtime.leadership import is_postgres

    if command == "sync" and is_postgres(engine.store) and engine.config.sources:
        return _spread(args, engine, body)
    return _single(args, engine, body, command=command, announce=announce)


def _held(engine: Any, exc: Exception, command: str = "sync") -> int:
    from hybridsync.statestore.factory import where

    print(f"hybridsync {command}: the state store {where(engine.config.state)} is in use: {exc} "
          "(run with --wait to stand by and take over)", file=sys.stderr)
    return 2


def _spread(args: argparse.Namespace, engine: Any,
            body: Callable[[argparse.Namespace, Any, threading.Event], int]) -> int:
    from hybridsync.engine.runtime.leadership import Spread
    from hybridsync.statestore.lease import LeaseHeld

    stop = threading.Event()
    spread = Spread(engine.store, engine.config, on_event=lambda msg: print(msg, flush=True))
    if args.wait:
        print(f"standing by for {', '.join('source:' + s for s in spread.sources)}", flush=True)
    try:
        spread.start(wait=bool(args.wait))
    except LeaseHeld as exc:
        return _held(engine, exc)
    try:
        if args.once:
            while not spread.led_any.wait(0.25):
                pass
        engine.leads = spread.leads
        return body(args, engine, stop)
    finally:
        engine.leads = None
        spread.close()


def _single(args: argparse.Namespace, engine: Any,
            body: Callable[[argparse.Namespace, Any, threading.Event], int], *, command: str = "sync",
            announce: bool = True) -> int:
    from hybridsync.engine.runtime.leadership import Leadership
    from hybridsync.statestore.lease import LeaseHeld

    stop = threading.Event()
    lost: list[str] = []

    def on_lost(lease: Any, holder: Any) -> None:
        lost.append(f"{lease.key}: now held by {holder.describe() if holder else 'nobody'}")
        stop.set()

    leadership = Leadership(engine.store, engine.config, wait=None if getattr(args, "wait", False) else 0,
                            on_lost=on_lost)
    if getattr(args, "wait", False) and leadership.leases and announce:
        print(f"standing by for {', '.join(lease.key for lease in leadership.leases)}", flush=True)
    try:
        leadership.__enter__()
    except LeaseHeld as exc:
        return _held(engine, exc, command)
    epochs = ", ".join(f"{lease.key} epoch {lease.epoch}" for lease in leadership.leases)
    if epochs and announce:
        print(f"leading {epochs}", flush=True)
    try:
        if command == "sync":  # who makes the decisions from now on (explain names it)
            leadership.record()
        code = body(args, engine, stop)
    finally:
        leadership.__exit__(None, None, None)
    if lost:
        print(f"hybridsync {command}: lost the lease ({'; '.join(lost)}); stopped", file=sys.stderr)
        return 2
    return code

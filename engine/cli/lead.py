"""``sync``'s leadership: hold the store's leases while cycles run (engine/runtime/leadership.py);
``provision``, ``approve-deletes`` and ``approve-adoptions`` hold them the same way while they write.

Not a command of its own. Without ``--wait`` a store held by another process is exit 2,
naming the holder (pid, host, epoch, since); with ``--wait`` the process stands by and takes
over when the holder dies (at once after a kill, within the lease TTL after a hang). A lease
lost while running (this process was paused past its TTL and another took over) stops the loop
and exits 2: nothing was committed after the loss (the store is fenced by the epoch).
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
    """Run ``body`` holding the store's leases (``provision``, ``approve-deletes`` and
    ``approve-adoptions`` too, as ``command``, quietly: ``announce`` False)."""
    from hybridsync.engine.runtime.leadership import Leadership
    from hybridsync.statestore.factory import where
    from hybridsync.statestore.lease import LeaseHeld

    stop = threading.Event()
    lost: list[str] = []

    def on_lost(lease: Any, holder: Any) -> None:
        lost.append(f"{lease.key}: now held by {holder.describe() if holder else 'nobody'}")
        stop.set()

    leadership = Leadership(engine.store, engine.config, wait=None if args.wait else 0, on_lost=on_lost)
    if args.wait and leadership.leases and announce:
        print(f"standing by for {', '.join(lease.key for lease in leadership.leases)}", flush=True)
    try:
        leadership.__enter__()
    except LeaseHeld as exc:
        print(f"hybridsync {command}: the state store {where(engine.config.state)} is in use: {exc} "
              "(run with --wait to stand by and take over)", file=sys.stderr)
        return 2
    epochs = ", ".join(f"{lease.key} epoch {lease.epoch}" for lease in leadership.leases)
    if epochs and announce:
        print(f"leading {epochs}", flush=True)
    try:
        code = body(args, engine, stop)
    finally:
        leadership.__exit__(None, None, None)
    if lost:
        print(f"hybridsync {command}: lost the lease ({'; '.join(lost)}); stopped", file=sys.stderr)
        return 2
    return code

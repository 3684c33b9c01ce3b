"""``hybridsync approve-deletes [--target NAME] [--wait]``: release deletes held by the threshold (a view
of ``Engine.offline(config, writable=True).approve_deletes(...)``).

Marks every waiting hold (of one target, or all) approved, recording who (the OS user) and when
on each hold and as an ``approval`` entry in the provisioning log. The next cycle applies the
approved actions and closes the holds. It writes the store, so it takes the store's
single-writer lock like ``sync``: another writer is exit 2 naming its pid and host, or
``--wait`` waits for it. Pending adoptions are ``approve-adoptions``'s, not approved here.
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from hybridsync.engine.cli.util import offline_engine
from hybridsync.engine.runtime.admin import UnknownTarget


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", metavar="NAME", help="only this target's held deletes")
    parser.add_argument("--wait", action="store_true",
                        help="when another process writes the store, wait for it instead of exit 2")


def _approve(args: argparse.Namespace, engine: Any, _stop: threading.Event) -> int:
    approval = engine.approve_deletes(args.target)
    if not approval.store_found:
        print(f"No state store at {engine.config.state.path} yet: nothing is held.")
        return 0
    scope = f"target {args.target!r}" if args.target else "all targets"
    if not approval.count:
        print(f"Nothing is held for {scope}.")
        return 0
    what = ", ".join(f"{n} {k}" for k, n in sorted(approval.kinds.items()))
    print(f"Approved {approval.count} held action(s) ({what}) for {scope}, by {approval.by} at "
          f"{approval.at:%Y-%m-%d %H:%M:%S}Z. The next sync cycle applies them.")
    return 0


def run(args: argparse.Namespace) -> int:
    engine, code = offline_engine(args, "approve-deletes", writable=True)
    if engine is None:
        return code
    try:
        with engine:
            from hybridsync.engine.cli.lead import leading

            return leading(args, engine, _approve, command="approve-deletes", announce=False)
    except UnknownTarget as exc:
        print(f"hybridsync approve-deletes: {exc}", file=sys.stderr)
        return 2

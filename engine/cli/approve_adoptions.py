"""``hybridsync approve-adoptions [--target NAME] [--id N ...] [--all] [--wait]``: list the
adoptions waiting for approval, or approve some (a view of ``Engine.approve_adoptions``).

With ``[matching] adopt = "approve"`` every soft match of a target object hybridsync does not own
yet is held as a pending adoption: neither applied nor created as a duplicate. Without ``--id``
or ``--all`` this lists them (per target); with them it marks those approved, recording who (the
OS user) and when on each and as an ``approval`` entry in the provisioning log, like
``approve-deletes``. The next cycle adopts each approved one whose object still matches the same
target object. Approving writes the store: it takes the store's single-writer lock like ``sync``
(exit 2 naming the holder, or ``--wait``).
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from hybridsync.engine.cli.util import offline_engine, short_time
from hybridsync.engine.runtime.admin import UnknownTarget


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", metavar="NAME", help="only this target's pending adoptions")
    parser.add_argument("--id", metavar="N", type=int, action="append", dest="ids",
                        help="approve the pending adoption with this id (repeatable; ids as listed)")
    parser.add_argument("--all", action="store_true", help="approve every pending adoption (of --target)")
    parser.add_argument("--wait", action="store_true",
                        help="when another process writes the store, wait for it instead of exit 2")


def _list(engine: Any, target: str | None) -> int:
    pending = engine.pending_adoptions(target)
    scope = f"target {target!r}" if target else "any target"
    if not pending:
        print(f"No adoption is waiting for approval for {scope}.")
        return 0
    print(f"{len(pending)} adoption(s) waiting for approval (approve with --id N or --all):")
    for name in sorted({h.target for h in pending}):
        print(f"target {name}:")
        for h in (h for h in pending if h.target == name):
            print(f"  {h.id:>6}  {h.dn or h.anchor} -> target object {h.target_id or '-'} "
                  f"(held {short_time(h.held_at)})")
    return 0


def _approve(args: argparse.Namespace, engine: Any, _stop: threading.Event) -> int:
    approval = engine.approve_adoptions(args.target, ids=None if args.all else args.ids)
    scope = f"target {args.target!r}" if args.target else "all targets"
    if not approval.count:
        print(f"No matching adoption is waiting for approval for {scope}.")
        return 0
    for h in approval.approved:
        print(f"approved {h.id}: {h.target}: {h.dn or h.anchor} -> target object {h.target_id or '-'}")
    print(f"Approved {approval.count} adoption(s) for {scope}, by {approval.by} at "
          f"{approval.at:%Y-%m-%d %H:%M:%S}Z. The next sync cycle adopts them.")
    return 0


def run(args: argparse.Namespace) -> int:
    approving = bool(args.all or args.ids)
    if args.all and args.ids:
        print("hybridsync approve-adoptions: --id and --all exclude each other", file=sys.stderr)
        return 2
    engine, code = offline_engine(args, "approve-adoptions", writable=approving)
    if engine is None:
        return code
    try:
        with engine:
            if engine.store is None:
                print(f"No state store at {engine.config.state.path} yet: no adoption is waiting.")
                return 0
            if not approving:
                return _list(engine, args.target)
            from hybridsync.engine.cli.lead import leading

            return leading(args, engine, _approve, command="approve-adoptions", announce=False)
    except UnknownTarget as exc:
        print(f"hybridsync approve-adoptions: {exc}", file=sys.stderr)
        return 2

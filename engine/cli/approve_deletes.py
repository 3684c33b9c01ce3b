"""``hybridsync approve-deletes [--target NAME]``: release deletes held by the threshold.

Marks every waiting hold (of one target, or all) approved, recording who (the OS user) and when
on each hold and as an ``approval`` entry in the provisioning log. The next cycle applies the
approved actions and closes the holds.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from hybridsync.engine.cli.util import config_without_secrets
from hybridsync.statestore.records import StoreCorrupt, utcnow

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", metavar="NAME", help="only this target's held deletes")


def os_user() -> str:
    """The OS user running the command (who approved)."""
    try:
        return getpass.getuser()
    except Exception:  # no login name in this environment: fall back to the uid
        return f"uid:{os.getuid()}"


def run(args: argparse.Namespace) -> int:
    from hybridsync.statestore.store import Store

    config = config_without_secrets(args)
    names = [t.name for t in config.targets]
    if args.target is not None and args.target not in names:
        print(f"hybridsync approve-deletes: no target named {args.target!r} in {config.path} "
              f"(targets: {', '.join(names) or 'none'})", file=sys.stderr)
        return 2
    path = str(config.state.path)
    if not os.path.exists(path):
        print(f"No state store at {path} yet: nothing is held.")
        return 0
    try:
        store = Store.open(path)
    except StoreCorrupt as exc:
        print(f"hybridsync approve-deletes: {exc.path}: not a readable state store ({exc.detail})",
              file=sys.stderr)
        return 2
    who, when = os_user(), utcnow()
    with store:
        count = store.approve_held(args.target, by=who, at=when)
        approved = [h for h in store.held(args.target, include_approved=True)
                    if h.approved_at == when and h.approved_by == who]
    scope = f"target {args.target!r}" if args.target else "all targets"
    if not count:
        print(f"Nothing is held for {scope}.")
        return 0
    kinds: dict[str, int] = {}
    for h in approved:
        kinds[str(h.action.kind)] = kinds.get(str(h.action.kind), 0) + 1
    what = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    print(f"Approved {count} held action(s) ({what}) for {scope}, by {who} at "
          f"{when:%Y-%m-%d %H:%M:%S}Z. The next sync cycle applies them.")
    return 0

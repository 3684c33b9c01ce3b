"""``hybridsync plan [--json]``: the plan of the next cycle, applying and writing nothing.

``--json`` prints one JSON object per action (``Action.to_json``), usable as a test fixture.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="JSON Lines, one action per line")
    parser.add_argument("--full", action="store_true", help="plan a complete full read")
    parser.add_argument("--all", action="store_true", help="also show no-op actions")


def run(args: argparse.Namespace) -> int:
    from hybridsync.engine.cli.sync import open_engine

    with open_engine(args.config, dry_run=True) as engine:
        report = engine.run_once(dry_run=True, full=args.full)
    for action in report.planned:
        if str(action.kind) == "noop" and not args.all and not args.json:
            continue
        if args.json:
            print(action.to_json())
        else:
            why = "; ".join(f"{r.rule}{': ' + r.detail if r.detail else ''}" for r in action.reasons)
            print(f"{action.kind:<15} {action.object_kind:<7} {action.dn or action.anchor} -> {action.target}"
                  f"{'  [' + why + ']' if why else ''}")
    deferred = report.members_deferred
    if deferred and not args.json:
        print(f"note: {deferred} groups' member changes wait for members a later page reads; the cycle "
              "sends them after its last page (not shown here)")
    for p in report.problems:
        print(f"problem: {p['stage']} {p['dn'] or p['anchor']}: {p['message']}")
    for src, err in report.source_errors.items():
        print(f"source {src}: {err}")
    return 1 if report.source_errors else 0

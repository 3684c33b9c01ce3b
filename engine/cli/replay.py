"""``hybridsync replay SNAPSHOT [--until T] [--explain OBJECT]``: re-run the recorded cycles
offline (no AD, no target) and show that every decision reproduces (exit 0) or the first
divergence (exit 1). ``--explain`` prints one object's replayed timeline. Needs no config: the
snapshot carries it (without secrets)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from hybridsync.engine.runtime.explain import NoSuchObject, explain
from hybridsync.engine.audit.replay import replay_snapshot
from hybridsync.engine.runtime.snapshot import SnapshotError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("snapshot", metavar="SNAPSHOT", help="a file written by `hybridsync snapshot`")
    parser.add_argument("--until", help="stop after the cycles started at or before this ISO time")
    parser.add_argument("--explain", metavar="OBJECT", help="print this object's replayed timeline")


def _time(text: str) -> datetime:
    t = datetime.fromisoformat(text)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def run(args: argparse.Namespace) -> int:
    try:
        until = _time(args.until) if args.until else None
    except ValueError:
        print(f"hybridsync replay: --until {args.until!r} is not an ISO date/time", file=sys.stderr)
        return 2
    try:
        report = replay_snapshot(args.snapshot, until=until)
    except SnapshotError as exc:
        print(f"hybridsync replay: {exc}", file=sys.stderr)
        return 2
    if args.explain:
        try:
            for e in explain(report.store, args.explain):
                print("\n".join(e.lines()))
        except NoSuchObject as exc:
            print(str(exc), file=sys.stderr)
            return 2
    if report.divergence is not None:
        print("\n".join(report.divergence.lines()))
        print(f"replayed {report.cycles} cycle(s): diverged")
        return 1
    print(f"replayed {report.cycles} cycle(s), {report.decisions} decision(s): every decision reproduced")
    return 0

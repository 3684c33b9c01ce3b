"""``hybridsync provision OBJECT [--ignore-scope] [--dry-run] [--wait]``: provision one object right now
(a view of ``Engine.provision``).

Prints each step: the read from the source, the scope decision with the clause behind it, the
match, the attribute diff, the action and the target's response. The outcome is recorded in the
store like any cycle's (the source cursor does not move). Unless ``--dry-run`` it takes the
store's single-writer lock like ``sync``: another writer is exit 2 naming its pid and host, or
``--wait`` waits for it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from typing import Any

from hybridsync.engine.runtime.provision import ProvisionReport


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("object", metavar="OBJECT", help="objectGUID, DN, sAMAccountName or userPrincipalName")
    parser.add_argument("--ignore-scope", action="store_true", help="provision even if the object is out of scope")
    parser.add_argument("--dry-run", action="store_true", help="show the steps without applying")
    parser.add_argument("--wait", action="store_true",
                        help="when another process writes the store, wait for it instead of exit 2")


def lines(report: ProvisionReport) -> Iterator[str]:
    """The report as the lines ``hybridsync provision`` prints."""
    obj = report.object
    if obj is None:
        yield f"{report.ref}: not found in any source"
        return
    yield f"read    {report.source}: {obj.dn} ({obj.kind}, anchor {obj.anchor})"
    for attr, values in sorted(obj.attributes.items()):
        yield f"          {attr}: {', '.join(values)[:120]}"
    for step in report.steps:
        yield f"target  {step.target}"
        for line in step.scope:
            yield f"  scope   {line}"
        for line in step.match:
            yield f"  match   {line}"
        if step.diff:
            yield "  diff    " + json.dumps(step.diff, ensure_ascii=False, default=str)
        yield f"  action  {step.kind}" + (f" ({'; '.join(step.lifecycle)})" if step.lifecycle else "")
    for r in report.responses:
        yield (f"  result  {r.target}: {r.action} -> {r.result}"
               f"{' (HTTP ' + str(r.status) + ')' if r.status else ''}{f' {r.detail}' if r.detail else ''}")
    if report.dry_run:
        yield "  (dry run: nothing applied)"
    for p in report.problems:
        yield f"problem {p.stage}: {p.message}"


def provision(engine: Any, ref: str, *, ignore_scope: bool = False, dry_run: bool = False,
              out: Callable[[str], Any] = print) -> int:
    """``engine.provision(ref)``, printed step by step through ``out``; returns the exit code."""
    report = engine.provision(ref, ignore_scope=ignore_scope, dry_run=dry_run)
    for line in lines(report):
        out(line)
    return report.exit_code()


def run(args: argparse.Namespace) -> int:
    from hybridsync.engine.cli.lead import leading
    from hybridsync.engine.cli.sync import open_engine

    with open_engine(args.config, dry_run=args.dry_run) as engine:
        if args.dry_run:  # writes nothing: no writer's lock
            return provision(engine, args.object, ignore_scope=args.ignore_scope, dry_run=True)
        return leading(args, engine, lambda a, e, _stop: provision(e, a.object, ignore_scope=a.ignore_scope),
                       command="provision", announce=False)

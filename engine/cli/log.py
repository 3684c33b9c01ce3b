"""``hybridsync log [--object OBJECT] [--since T] [--json]``: the provisioning log (a view of
``Engine.offline(config).log(...)``).

One record per object outcome (a decision in the store's history): time, cycle, object (anchor,
DN, UPN), target, action, result, the target's response status and detail, the reason chain.
A table by default, JSON Lines with ``--json``. ``--since`` takes an ISO date/time (UTC unless it
says otherwise) or a relative age such as ``30m``, ``2h``, ``7d``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime, timedelta, timezone

from hybridsync.engine.cli.util import offline_engine, short_time
from hybridsync.engine.runtime.admin import NoSuchObject, ProvisioningLog

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--object", metavar="OBJECT",
                        help="objectGUID, DN, sAMAccountName or userPrincipalName")
    parser.add_argument("--since", metavar="T", help="ISO time (UTC default) or age: 30m, 2h, 7d")
    parser.add_argument("--json", action="store_true", help="JSON Lines, one record per line")


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``2026-11-23``, ``2026-11-23T12:00``, ``...+01:00`` or an age (``90s``, ``2h``, ``7d``)."""
    now = now or datetime.now(timezone.utc)
    m = _AGE.match(text)
    if m:
        return now - timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since {text!r}: not an ISO date/time or an age like 30m, 2h, 7d") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def run(args: argparse.Namespace) -> int:
    engine, code = offline_engine(args, "log")
    if engine is None:
        return code
    with engine:
        try:
            since = parse_since(args.since) if args.since else None
        except ValueError as exc:
            print(f"hybridsync log: {exc}", file=sys.stderr)
            return 2
        try:
            records = engine.log(object=args.object, since=since)
        except NoSuchObject as exc:
            print(f"hybridsync log: {exc}", file=sys.stderr)
            return 2
    if not records.store_found:
        print(f"No state store at {engine.config.state.path} yet: nothing has been logged.")
        return 0
    if args.json:
        for rec in records:
            print(json.dumps(rec.to_dict(), ensure_ascii=False, sort_keys=True))
        return 0
    if not len(records):
        print("The provisioning log is empty" + (" for that time range." if since else "."))
        return 0
    render(records)
    return 0


def render(log: ProvisioningLog) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console() if sys.stdout.isatty() else Console(width=200)
    table = Table(title=f"Provisioning log ({len(log)} records)")
    for col in ("time", "cycle", "object", "target", "action", "result", "response", "why"):
        table.add_column(col)
    for r in log:
        a = r.action
        status = "" if r.status is None else str(r.status)
        response = " ".join(x for x in (status, r.detail or "") if x) or "-"
        edge = f" {a.from_state}->{a.to_state}" if a is not None and a.to_state else ""
        why = "; ".join(x.rule + (f" ({x.detail})" if x.detail else "") for x in r.reasons)
        table.add_row(short_time(r.at), str(r.cycle_id or "-"), r.upn or r.dn or r.anchor, r.target or "-",
                      (str(a.kind) if a is not None else "-") + edge, r.result or "-", response, why or "-")
    console.print(table)

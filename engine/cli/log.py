"""``hybridsync log [--object OBJECT] [--since T] [--json]``: the provisioning log.

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
from typing import Any

from hybridsync.engine.cli.status import open_store_readonly, short_time
from hybridsync.engine.cli.util import config_without_secrets
from hybridsync.statestore.records import time_to_text

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


def log_records(store: Any, *, anchors: list[str] | None, since: datetime | None):
    """(HistoryRecord, ObjectState | None) for every decision, oldest first."""
    objects: dict[str, Any] = {}
    for rec in store.decisions(anchor=anchors, since=since):
        if rec.anchor not in objects:
            found = [o for o in store.find_objects(rec.anchor) if o.anchor == rec.anchor]
            objects[rec.anchor] = found[0] if found else None
        yield rec, objects[rec.anchor]


def to_json(rec: Any, obj: Any) -> dict[str, Any]:
    action = rec.action
    upn = obj.attributes.get("userprincipalname", (None,))[0] if obj is not None else None
    return {
        "time": time_to_text(rec.at),
        "cycle": rec.cycle_id,
        "object": {"anchor": rec.anchor, "dn": rec.dn or (obj.dn if obj else None), "upn": upn,
                   "kind": str(rec.object_kind) if rec.object_kind else None},
        "target": rec.target,
        "action": str(action.kind) if action else None,
        "from_state": action.from_state if action else None,
        "to_state": action.to_state if action else None,
        "result": rec.result,
        "status": rec.status,
        "detail": rec.detail,
        "reasons": [r.to_dict() for r in rec.reasons],
    }


def run(args: argparse.Namespace) -> int:
    config = config_without_secrets(args)
    path = str(config.state.path)
    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as exc:
        print(f"hybridsync log: {exc}", file=sys.stderr)
        return 2
    store, code = open_store_readonly("log", path)
    if store is None:
        if code:
            return code
        if args.object:
            return _no_match(args.object)
        print(f"No state store at {path} yet: nothing has been logged.")
        return 0
    with store:
        anchors = None
        if args.object:
            anchors = [o.anchor for o in store.find_objects(args.object)] if not store.is_empty() else []
            if not anchors:
                return _no_match(args.object)
        rows = [to_json(rec, obj) for rec, obj in log_records(store, anchors=anchors, since=since)]
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False, sort_keys=True))
        return 0
    if not rows:
        print("The provisioning log is empty" + (" for that time range." if since else "."))
        return 0
    render(rows)
    return 0


def _no_match(ref: str) -> int:
    print(f"hybridsync log: no object matches {ref!r} "
          "(tried objectGUID, DN, sAMAccountName, UPN)", file=sys.stderr)
    return 2


def render(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console() if sys.stdout.isatty() else Console(width=200)
    table = Table(title=f"Provisioning log ({len(rows)} records)")
    for col in ("time", "cycle", "object", "target", "action", "result", "response", "why"):
        table.add_column(col)
    for r in rows:
        obj = r["object"]
        status = "" if r["status"] is None else str(r["status"])
        response = " ".join(x for x in (status, r["detail"] or "") if x) or "-"
        edge = f" {r['from_state']}->{r['to_state']}" if r["to_state"] else ""
        why = "; ".join(x["rule"] + (f" ({x['detail']})" if x["detail"] else "") for x in r["reasons"])
        table.add_row(short_time(r["time"]), str(r["cycle"] or "-"),
                      obj["upn"] or obj["dn"] or obj["anchor"], r["target"] or "-",
                      (r["action"] or "-") + edge, r["result"] or "-", response, why or "-")
    console.print(table)

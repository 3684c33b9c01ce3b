"""``hybridsync status [--json]``: what the state store knows, read-only (a view of
``Engine.offline(config).status()``).

Per source and DC the watermark (cursor type, USN or cookie length -- never the cookie), the
delta mode and privilege facts, the last cycle and its duration; counts per lifecycle state per
target; the detected SCIM dialect; quarantined targets with reason and next retry; deletes held
by the threshold; every object in escrow for more than a day with its last error, and the
mapping errors (attribute and expression) of the last cycle. A missing or empty store is said
plainly (exit 0); a file that is not a state store exits 2 naming it. Nothing secret is in the store, so nothing secret can be printed.
"""

from __future__ import annotations

import argparse
import json
import sys

from hybridsync.engine.cli.util import offline_engine, short_time
from hybridsync.engine.runtime.status import Status, WatermarkStatus


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def run(args: argparse.Namespace) -> int:
    engine, code = offline_engine(args, "status")
    if engine is None:
        return code
    with engine:
        status = engine.status()
    if status.empty:
        print(json.dumps(status.to_dict()) if args.json else status.message)
    elif args.json:
        print(json.dumps(status.to_dict(), indent=2, sort_keys=True, ensure_ascii=False))
    else:
        render(status)
    return 0


def _watermark(w: WatermarkStatus | None) -> str:
    if w is None:
        return "none (full read due)"
    mark = {"usn": lambda: f"USN {w.usn}",
            "dirsync": lambda: f"DirSync cookie ({w.cookie_bytes} bytes)",
            "refresh": lambda: f"refresh ({w.reason or 'full read due'})"}[w.type]()
    return mark if w.active else mark + " (inactive)"


def render(status: Status) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console() if sys.stdout.isatty() else Console(width=160)
    console.print(f"State store [bold]{status.store}[/] (format {status.format_version})")
    if status.retention is not None:
        console.print(status.retention.describe())
    src = Table(title="Sources", show_lines=False)
    for col in ("source", "objects", "DC", "watermark", "delta", "facts", "last cycle", "duration"):
        src.add_column(col)
    for s in status.sources:
        last = s.last_cycle
        cycle = "-" if last is None else f"#{last.id} {last.mode} {last.status or 'running'}"
        duration = "-" if not last or last.duration_s is None else f"{last.duration_s:.2f} s"
        facts = ", ".join(f"{k}={v}" for k, v in sorted(s.facts.items())) or "-"
        rows: list[WatermarkStatus | None] = list(s.watermarks) or [None]
        for i, w in enumerate(rows):
            first = i == 0
            src.add_row(s.name if first else "", str(s.objects) if first else "", w.dc if w else "-", _watermark(w),
                        (s.delta or "-") if first else "", facts if first else "", cycle if first else "",
                        duration if first else "")
    console.print(src)
    for s in status.sources:
        if s.leader:
            lead = s.leader
            until = f", lease until {lead['lease_expires']}" if lead.get("lease_expires") else ""
            standbys = ", ".join(f"pid {b['pid']} on {b['host']}" for b in lead.get("standbys") or ()) or "none"
            who = f"led by pid {lead['pid']} on {lead['host']} (epoch {lead['epoch']}{until})" \
                if lead.get("pid") is not None else "led by nobody (a standby takes it over)"
            console.print(f"source {s.name}: {who}; standbys: {standbys}")
        for problem in s.scope_problems:
            console.print(f"[bold red]scope of {s.name}:[/] {problem} (its scope-exit disables are blocked)")
    tgt = Table(title="Targets")
    for col in ("target", "lifecycle states", "dialect", "quarantine", "held deletes", "threshold window"):
        tgt.add_column(col)
    for t in status.targets:
        states = ", ".join(f"{k}: {v}" for k, v in sorted(t.states.items())) or "-"
        q = t.quarantine
        quar = "-" if q is None else f"{q.reason} (next retry {short_time(q.next_retry)})"
        window = f"{t.window_used}/{t.window_threshold} in {t.window_seconds / 3600:g}h"
        tgt.add_row(t.name, states, t.dialect or "-", quar, str(t.held_deletes), window)
    console.print(tgt)
    if status.held:
        held = Table(title="Held deletes (release with: hybridsync approve-deletes)")
        for col in ("id", "target", "action", "object", "reason", "held at"):
            held.add_column(col)
        for h in status.held:
            held.add_row(str(h.id), h.target, h.action, h.dn or h.anchor, h.reason, short_time(h.held_at))
        console.print(held)
    if status.adoptions:
        pending = Table(title="Pending adoptions (approve with: hybridsync approve-adoptions)")
        for col in ("id", "target", "object", "would adopt", "held at"):
            pending.add_column(col)
        for h in status.adoptions:
            pending.add_row(str(h.id), h.target, h.dn or h.anchor, h.target_id or "-", short_time(h.held_at))
        console.print(pending)
    if status.stuck:
        stuck = Table(title="Objects that need a person (in escrow over a day, or a mapping error)")
        for col in ("target", "object", "stage", "since", "retries", "last reason"):
            stuck.add_column(col)
        for x in status.stuck:
            stuck.add_row(x.target, x.dn or x.anchor, x.stage, short_time(x.since), str(x.retries), x.reason)
        console.print(stuck)
    if status.pending_intents:
        console.print(f"{status.pending_intents} pending target operation(s) will be settled "
                      "by the next cycle.")

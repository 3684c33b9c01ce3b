"""``hybridsync status [--json]``: what the state store knows, read-only.

Per source and DC the watermark (cursor type, USN or cookie length -- never the cookie), the
delta mode and privilege facts, the last cycle and its duration; counts per lifecycle state per
target; the detected SCIM dialect; quarantined targets with reason and next retry; deletes held
by the threshold. A missing or empty store is said plainly (exit 0); a file that is not a state
store exits 2 naming it. Nothing secret is in the store, so nothing secret can be printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from hybridsync.engine.cli.util import config_without_secrets
from hybridsync.statestore.records import StoreCorrupt, time_to_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def open_store_readonly(command: str, path: str) -> tuple[Any, int | None]:
    """(store, None) or (None, exit code) with the message printed. Shared by log/approve."""
    from hybridsync.statestore.store import Store

    if path == ":memory:" or not Path(path).exists():
        return None, 0
    try:
        return Store.open(path, readonly=True), None
    except StoreCorrupt as exc:
        print(f"hybridsync {command}: {exc.path}: not a readable state store ({exc.detail})",
              file=sys.stderr)
        return None, 2


def cursor_summary(cursor: Any) -> dict[str, Any]:
    """A cursor as facts safe to print: type and USN or cookie length."""
    from hybridsync.engine.core.values import DirSyncCookie, UsnWatermark

    if isinstance(cursor, UsnWatermark):
        return {"type": "usn", "usn": cursor.usn}
    if isinstance(cursor, DirSyncCookie):
        return {"type": "dirsync", "cookie_bytes": len(cursor.cookie)}
    return {"type": "refresh", "reason": getattr(cursor, "reason", "")}


def gather(store: Any, config: Any) -> dict[str, Any]:
    """Everything status shows, as plain JSON-able data."""
    configured = [s.name for s in config.sources] if config is not None else []
    marks = store.watermarks()
    cycles = store.last_cycles(200)
    names = list(dict.fromkeys(configured + [w.source for w in marks] + [c.source for c in cycles]))
    sources = []
    for name in names:
        cfg = next((s for s in config.sources if s.name == name), None) if config else None
        last = next((c for c in cycles if c.source == name), None)
        rnd = store.last_complete_round(name)
        sources.append({
            "name": name,
            "delta": cfg.delta if cfg else None,
            "facts": store.source_facts(name),
            "watermarks": [
                {"dc": w.dc, "active": w.active, "version": w.version,
                 "updated_at": time_to_text(w.updated_at), **cursor_summary(w.cursor)}
                for w in marks if w.source == name
            ],
            "objects": store.count_objects(name, include_deleted=False),
            "last_full_read": None if rnd is None else {
                "round": rnd[0], "count": rnd[1], "finished_at": time_to_text(rnd[2])},
            "last_cycle": None if last is None else {
                "id": last.id, "mode": last.mode, "status": last.status,
                "started_at": time_to_text(last.started_at),
                "finished_at": time_to_text(last.finished_at),
                "duration_s": last.duration_s, "counts": dict(last.counts)},
        })
    counts = store.counts_by_state()
    profiles = store.target_profiles()
    quarantined = {q.target: q for q in store.quarantined()}
    held = store.held()
    tnames = list(dict.fromkeys(
        ([t.name for t in config.targets] if config else []) + list(counts) + list(profiles)
        + list(quarantined) + [h.target for h in held]))
    targets = []
    for name in tnames:
        profile = profiles.get(name) or {}
        q = quarantined.get(name)
        targets.append({
            "name": name,
            "states": counts.get(name, {}),
            "dialect": profile.get("profile") or profile.get("dialect"),
            "profile": {k: v for k, v in profile.items() if isinstance(v, (bool, int, str))},
            "quarantine": None if q is None else {
                "reason": q.reason, "since": time_to_text(q.since),
                "next_retry": time_to_text(q.until), "count": q.count},
            "held_deletes": sum(1 for h in held if h.target == name),
        })
    return {
        "store": store.path,
        "format_version": store.format_version,
        "empty": False,
        "sources": sources,
        "targets": targets,
        "held": [{"id": h.id, "target": h.target, "anchor": h.anchor, "action": str(h.action.kind),
                  "dn": h.action.dn, "reason": h.reason, "held_at": time_to_text(h.held_at)}
                 for h in held],
        "pending_intents": len(store.pending_intents()),
    }


def run(args: argparse.Namespace) -> int:
    config = config_without_secrets(args)
    path = str(config.state.path)
    store, code = open_store_readonly("status", path)
    if store is None:
        if code:
            return code
        if path == ":memory:":
            return _say_empty(args, path, "The state store is in memory (state.path = "
                                          "\":memory:\"): nothing persists between runs.")
        return _say_empty(args, path, f"No state store at {path} yet: nothing has been synced.")
    with store:
        if store.is_empty():
            return _say_empty(args, path, f"The state store {path} is empty: nothing has been "
                                          "synced yet.")
        data = gather(store, config)
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))
    else:
        render(data)
    return 0


def _say_empty(args: argparse.Namespace, path: str, message: str) -> int:
    if args.json:
        print(json.dumps({"store": path, "empty": True, "message": message}))
    else:
        print(message)
    return 0


def short_time(text: str | None) -> str:
    """Stored UTC time text -> ``2026-11-23 12:00:00Z`` for tables."""
    return "-" if not text else text[:19].replace("T", " ") + "Z"


def render(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console() if sys.stdout.isatty() else Console(width=160)
    console.print(f"State store [bold]{data['store']}[/] (format {data['format_version']})")
    src = Table(title="Sources", show_lines=False)
    for col in ("source", "objects", "DC", "watermark", "delta", "facts", "last cycle", "duration"):
        src.add_column(col)
    for s in data["sources"]:
        last = s["last_cycle"]
        cycle = "-" if last is None else f"#{last['id']} {last['mode']} {last['status'] or 'running'}"
        duration = "-" if not last or last["duration_s"] is None else f"{last['duration_s']:.2f} s"
        facts = ", ".join(f"{k}={v}" for k, v in sorted(s["facts"].items())) or "-"
        rows = s["watermarks"] or [{"dc": "-", "type": "none", "active": True}]
        for i, w in enumerate(rows):
            mark = {"usn": lambda w: f"USN {w['usn']}",
                    "dirsync": lambda w: f"DirSync cookie ({w['cookie_bytes']} bytes)",
                    "refresh": lambda w: f"refresh ({w.get('reason') or 'full read due'})",
                    "none": lambda w: "none (full read due)"}[w["type"]](w)
            if not w.get("active"):
                mark += " (inactive)"
            first = i == 0
            src.add_row(s["name"] if first else "", str(s["objects"]) if first else "", w["dc"], mark, (s["delta"] or "-") if first else "",
                        facts if first else "", cycle if first else "", duration if first else "")
    console.print(src)
    tgt = Table(title="Targets")
    for col in ("target", "lifecycle states", "dialect", "quarantine", "held deletes"):
        tgt.add_column(col)
    for t in data["targets"]:
        states = ", ".join(f"{k}: {v}" for k, v in sorted(t["states"].items())) or "-"
        q = t["quarantine"]
        quar = "-" if q is None else f"{q['reason']} (next retry {short_time(q['next_retry'])})"
        tgt.add_row(t["name"], states, t["dialect"] or "-", quar, str(t["held_deletes"]))
    console.print(tgt)
    if data["held"]:
        held = Table(title="Held deletes (release with: hybridsync approve-deletes)")
        for col in ("id", "target", "action", "object", "reason", "held at"):
            held.add_column(col)
        for h in data["held"]:
            held.add_row(str(h["id"]), h["target"], h["action"], h["dn"] or h["anchor"],
                         h["reason"], short_time(h["held_at"]))
        console.print(held)
    if data["pending_intents"]:
        console.print(f"{data['pending_intents']} pending target operation(s) will be settled "
                      "by the next cycle.")

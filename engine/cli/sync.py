"""``hybridsync sync [--once] [--dry-run] [--full]``: run reconcile cycles.

Signals are handled here, in the CLI layer: SIGINT/SIGTERM set the stop event and the engine
returns after the object in flight. A rich progress bar shows a full read when stdout is a
terminal. One writer at a time: the process holds the store's lease (engine/cli/lead.py).
Exit codes: 0 ok, 1 some objects failed, 2 config error or the store is held by another
process (without ``--wait``) or the lease was lost, 3 stopped by a safety rule.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true", help="run one reconcile cycle, then exit")
    parser.add_argument("--dry-run", action="store_true", help="plan without applying; writes nothing anywhere")
    parser.add_argument("--full", action="store_true", help="force a complete full read")
    parser.add_argument("--wait", action="store_true",
                        help="when another process writes the store (leads the sources), wait to take over "
                             "instead of exiting 2")


def open_engine(config_path: str, *, dry_run: bool = False, verbose: bool = False) -> Any:
    """Build the Engine for a CLI command; a dry run opens the store read-only (or in memory)."""
    from hybridsync.engine.cli.logsetup import configure_from
    from hybridsync.engine.config.loader import load_config
    from hybridsync.engine.runtime.engine import Engine

    config = load_config(config_path)
    configure_from(config, verbose=verbose)
    store = None
    if dry_run:
        from hybridsync.statestore import Store
        from hybridsync.statestore.factory import open_existing

        store = open_existing(config.state, readonly=True) or Store.open(":memory:")
    return Engine(config, store=store)


def summary_line(report: Any) -> str:
    counts = ", ".join(f"{k}={v}" for k, v in sorted(report.counts.items())) or "no changes"
    extra = []
    if report.quarantined:
        extra.append(f"quarantined: {', '.join(report.quarantined)}")
    if report.held:
        extra.append(f"held: {report.held} (run approve-deletes)")
    for src, err in report.source_errors.items():
        extra.append(f"source {src}: {err}")
    tail = f" [{'; '.join(extra)}]" if extra else ""
    return f"cycle {report.cycle_id or '-'}: {counts}{tail}"


def _progress(engine: Any) -> Any:
    """A progress bar on a terminal (objects read / planned / applied, rate, ETA), else None."""
    if not sys.stdout.isatty():
        return None
    from hybridsync.engine.cli.progress import SyncProgress

    return SyncProgress(transient=True)


def _start_metrics(engine: Any) -> Any:
    """Serve Prometheus metrics when ``[metrics] listen`` is set (the CLI owns the server)."""
    listen = engine.config.metrics.listen
    if not listen:
        return None
    from hybridsync.engine.runtime.metrics import Metrics

    metrics = Metrics()
    host, port = metrics.serve(listen)
    print(f"metrics: http://{host}:{port}/metrics", flush=True)
    return metrics


def run(args: argparse.Namespace) -> int:
    engine = open_engine(args.config, dry_run=args.dry_run, verbose=getattr(args, "verbose", False))
    with engine:
        if args.dry_run:
            return _run(args, engine, threading.Event())
        from hybridsync.engine.cli.lead import leading

        return leading(args, engine, _run)


def _run(args: argparse.Namespace, engine: Any, stop: threading.Event) -> int:
    if args.once or args.dry_run:
        bar = _progress(engine)
        if bar is not None:
            with bar:
                report = engine.run_once(dry_run=args.dry_run, full=args.full, progress=bar.update, followups=2)
        else:
            report = engine.run_once(dry_run=args.dry_run, full=args.full, followups=2)
        if args.dry_run:
            for action in report.planned:
                if str(action.kind) != "noop":
                    print(f"would {action.kind} {action.object_kind} {action.dn or action.anchor} -> {action.target}")
        print(summary_line(report))
        return report.exit_code()
    last: list[int] = [0]
    metrics = _start_metrics(engine)

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    loop_bar = None
    if sys.stdout.isatty():
        from hybridsync.engine.cli.progress import LoopProgress

        loop_bar = LoopProgress()
    try:
        def on_report(report: Any) -> None:
            if loop_bar is not None:
                loop_bar.end_cycle()
            last[0] = report.exit_code()
            if metrics is not None:
                metrics.observe(report, store=engine.store, targets=tuple(engine.targets))
            if report.counts:
                print(summary_line(report), flush=True)

        engine.run_forever(stop, on_report=on_report, progress=loop_bar.update if loop_bar else None)
    finally:
        if loop_bar is not None:
            loop_bar.end_cycle()
        for s, h in previous.items():
            signal.signal(s, h)
        if metrics is not None:
            metrics.close()
    return 0 if last[0] in (0, 1) else last[0]

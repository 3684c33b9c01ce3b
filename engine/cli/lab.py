"""``hybridsync lab [--keep] [--dir DIR]``: the demo of the main job on real services.

Provisions (from the lab cache) a Samba AD DC on a free loopback address and a scim2-server on
127.0.0.1, writes a config, runs a full sync, shows what landed, then makes live AD changes
with the engine running and shows each arriving with its latency. Stops everything it started
unless ``--keep``. Needs root and Samba (``scripts/bootstrap.sh`` installs it).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep", action="store_true", help="leave the DC and the SCIM server running")
    parser.add_argument("--dir", default="lab-run", help="where to write the config and state (default ./lab-run)")
    parser.add_argument("--target", choices=("scim", "entra"), default="scim",
                        help="scim: a real scim2-server; entra: the documentation-based fake Microsoft Graph "
                             "(not live Graph)")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from hybridsync.engine.lab.changes import live_changes, summary
    from hybridsync.engine.lab.demo import Lab, full_sync, show_target

    from hybridsync.engine.cli.logsetup import configure
    from hybridsync.engine.cli.progress import SyncProgress

    console = Console()
    lab = Lab(Path(args.dir).resolve(), console, keep=args.keep, target=getattr(args, "target", "scim"))
    log_file = lab.workdir / "hybridsync.log"
    configure(fmt="console", verbose=getattr(args, "verbose", False), file=log_file)
    console.print(f"Per-object log lines go to [bold]{log_file}[/] (JSON Lines; --verbose also shows them here)")
    code = 1
    try:
        lab.start()
        report = full_sync(lab, SyncProgress)
        show_target(lab)
        results = live_changes(lab)
        code = summary(lab, results, report)
        if args.keep and lab.graph is not None:
            assert lab.dc is not None
            console.print(
                f"\n[bold]Left running[/] until this process ends (the fake Graph lives in it):\n"
                f"  config:      {lab.config_path}\n  Graph (fake): {lab.graph.graph_url}")
        elif args.keep:
            assert lab.dc is not None and lab.scim is not None
            console.print(
                f"\n[bold]Left running[/] (--keep):\n"
                f"  config:      {lab.config_path}\n"
                f"  AD (LDAPS):  {lab.dc.ldaps_url}  CA {lab.dc.ca_file}\n"
                f"  SCIM:        {lab.scim.url}  (bearer token in {lab.workdir / 'secrets/app.token'})\n"
                f"  try:         hybridsync status -c {lab.config_path}\n"
                f"               hybridsync explain -c {lab.config_path} lab.alice@lab.test\n"
                f"               hybridsync sync -c {lab.config_path}\n"
                f"  stop:        kill {lab.scim._proc.pid if lab.scim._proc else '?'} $(cat {lab.dc.workdir}/run/samba.pid)"
            )
    finally:
        if not args.keep:
            lab.stop()
    return code

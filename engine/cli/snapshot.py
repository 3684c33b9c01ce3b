"""``hybridsync snapshot OUT``: a self-contained snapshot (state, history, recorded source
batches, the config without secrets), a view of ``Engine.offline(config).snapshot(out)``. See
``engine.audit.snapshot`` for the format."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hybridsync.engine.cli.util import offline_engine
from hybridsync.engine.runtime.admin import NoStateStore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", metavar="OUT", help="file to write (.gz: gzip-compressed)")


def run(args: argparse.Namespace) -> int:
    engine, code = offline_engine(args, "snapshot")
    if engine is None:
        return code
    config_text = Path(engine.config.path or args.config).read_text(encoding="utf-8")
    try:
        with engine:
            written = engine.snapshot(args.out, config_text=config_text)
    except NoStateStore as exc:
        print(f"hybridsync snapshot: {exc}", file=sys.stderr)
        return 2
    note = f"; {written.redactions} secret-like value(s) redacted" if written.redactions else ""
    print(f"snapshot written: {args.out} ({written.size} bytes{note})")
    return 0

"""``hybridsync snapshot OUT``: a self-contained snapshot (state, history, recorded source
batches, the config without secrets). See ``engine.snapshot`` for the format."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hybridsync import __version__
from hybridsync.engine.cli.util import config_without_secrets, open_existing_store
from hybridsync.engine.audit.snapshot import write_snapshot


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", metavar="OUT", help="file to write (.gz: gzip-compressed)")


def run(args: argparse.Namespace) -> int:
    config = config_without_secrets(args)
    store = open_existing_store(config)
    if store is None:
        print(f"hybridsync snapshot: the state store {config.state.path} does not exist yet", file=sys.stderr)
        return 2
    with store:
        n = write_snapshot(store, args.out, config_text=Path(config.path or args.config).read_text(encoding="utf-8"),
                           secrets=config.secret_values(), version=__version__)
    size = Path(args.out).stat().st_size
    note = f"; {n} secret-like value(s) redacted" if n else ""
    print(f"snapshot written: {args.out} ({size} bytes{note})")
    return 0

"""The ``hybridsync`` command line: a thin layer over the library.

Each command lives in its own module ``hybridsync.engine.cli.<name>`` exposing
``add_arguments(parser)`` (optional) and ``run(args) -> int``. This file only builds the parser
and dispatches. Exit codes: 0 success; 1 cycle finished with some objects failed; 2 usage or
config error; 3 stopped by a safety rule.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, str] = {
    "lab": "Run the demo lab: Samba AD DC + SCIM server on loopback, seeded, synced, changes shown.",
    "check-config": "Validate the config; exit 2 naming file, key and problem.",
    "sync": "Run reconcile cycles (--once: one cycle; default: the scheduler loop).",
    "plan": "Show the plan of the next cycle without applying it.",
    "provision": "Provision one object now, printing each step.",
    "explain": "Show an object's timeline: every change and decision with its reasons.",
    "status": "Per source and DC: watermark, last cycle, lifecycle counts, quarantine, held deletes.",
    "log": "The provisioning log: one record per object outcome.",
    "approve-deletes": "Let deletes held by the accidental-delete threshold proceed.",
    "approve-adoptions": "List the adoptions waiting for approval ([matching] adopt = \"approve\"), or approve some.",
    "snapshot": "Write a self-contained snapshot (state, history, recorded source batches; no secrets).",
    "replay": "Re-run recorded decisions offline and show that they reproduce.",
    "migrate-store": "Copy the state store into PostgreSQL (--to postgresql://...) or back into SQLite, verified by a dump comparison.",
}

NO_CONFIG = {"lab", "replay"}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; command modules are imported only for ``only`` (or all when ``only="*"``),
    so one command's import trouble can never take the others down."""
    parser = argparse.ArgumentParser(
        prog="hybridsync",
        description="Keep a cloud directory in step with on-premises Active Directory.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "-c",
            "--config",
            default="hybridsync.toml",
            help="config file (default: ./hybridsync.toml)",
        )
        p.add_argument("-v", "--verbose", action="store_true",
                       help="also show every event on the terminal, one line per object included")
        if only not in ("*", name):
            continue
        module = _command_module(name)
        if module is not None and hasattr(module, "add_arguments"):
            module.add_arguments(p)
    return parser


def _command_module(name: str):
    try:
        return importlib.import_module(f"hybridsync.engine.cli.{name.replace('-', '_')}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("hybridsync.engine.cli."):
            return None
        raise


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    module = _command_module(args.command)
    if module is None:
        print(f"hybridsync {args.command}: not available in this build", file=sys.stderr)
        return 2
    from hybridsync.engine.core.errors import ConfigError

    from hybridsync.engine.cli.logsetup import configure

    configure(verbose=args.verbose)  # a command that loads a config applies its [log] section
    try:
        return int(module.run(args) or 0)
    except ConfigError as exc:
        print(f"hybridsync {args.command}: configuration error", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

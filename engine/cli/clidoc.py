"""Generate docs/cli.md, the command reference, from the CLI parser itself.

    python -m hybridsync.engine.cli.clidoc > docs/cli.md

A test fails when the committed file is stale, so the reference can't drift from the code.
"""

from __future__ import annotations

import argparse
import os

from hybridsync.engine.cli import COMMANDS, build_parser

HEADER = """# hybridsync command reference

Generated from the CLI by `python -m hybridsync.engine.cli.clidoc` (a test keeps it fresh).
Every command takes `-c/--config FILE` (default `./hybridsync.toml`). Exit codes: 0 success;
1 cycle finished with some objects failed; 2 usage or config error; 3 stopped by a safety rule
(delete threshold, quarantine, unsafe watermark).

## What the terminal shows, and where the per-object lines go

The library never configures logging; the CLI does, from `[log]` in the config and `-v/--verbose`:

| where it runs | terminal (stdout) | stderr | `[log] file` |
|---|---|---|---|
| a terminal (`format = "auto"` or `"console"`) | one summary line per cycle; a progress bar on a full read (read / planned / applied, rate, ETA) | warnings and errors about the run (a DC failed over, a target quarantined, a source read failed); with `--verbose` every event, one line per object included | every event as JSON Lines, per-object outcomes included |
| systemd, a pipe, cron (`"auto"` off a terminal, or `"json"`) | one summary line per cycle | every event as one JSON object per line, per-object outcomes included, for journald and log shippers (`journalctl -u hybridsync -o cat \\| jq`) | the same JSON Lines |

```toml
[log]
format = "auto"            # "console" or "json" to force one
file = "hybridsync.log"    # optional; relative to the config file; appended to
```

`hybridsync lab` writes its per-object lines to `<dir>/hybridsync.log` and says so once; the
terminal keeps the progress bar, the tables and the live changes (`--verbose` adds every event).
Whatever the sink, the provisioning log in the state store (`hybridsync log`) keeps one record
per object outcome.
"""


def render() -> str:
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal: make the text reproducible
    try:
        return _render()
    finally:
        if saved is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved


def _render() -> str:
    parser = build_parser("*")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    out = [HEADER]
    for name in COMMANDS:
        p = sub.choices[name]
        p.prog = f"hybridsync {name}"
        out.append(f"\n## `hybridsync {name}`\n\n{COMMANDS[name]}\n\n```text\n{p.format_help().rstrip()}\n```\n")
    return "".join(out)


if __name__ == "__main__":  # pragma: no cover
    print(render(), end="")

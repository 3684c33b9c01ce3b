"""Logging for the ``hybridsync`` command line (the library itself never configures logging).

Where each event goes, decided once here and documented in docs/cli.md:

- ``[log] file`` (and ``hybridsync lab``'s run folder): every event, per-object outcomes
  included, as JSON Lines -- the full record to grep or ship.
- the terminal (stderr) when ``format`` is "console", or "auto" on a terminal: warnings and
  errors that concern the run (a DC failed over, a target quarantined, a source read failed),
  never one line per object; ``--verbose`` adds every event, per-object lines included. The
  command itself prints one summary line per cycle on stdout.
- stderr when ``format`` is "json", or "auto" off a terminal (systemd, a pipe): every info event
  as one JSON object per line, per-object outcomes included, for journald and log shippers.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import IO, Any

import structlog

from hybridsync.engine.core.redact import log_processor

PER_OBJECT_EVENTS = frozenset({
    "object_outcome", "object_problem", "recreate_took_over", "journal_settle_deferred", "ad.object_error",
})
LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


class Router:
    """The last structlog processor: writes each event to the file and/or the terminal, then
    drops it. The terminal stream is looked up per event (``sys.stderr``), so a rich progress
    bar that redirects stderr keeps its place under the lines."""

    def __init__(self, *, terminal: str, verbose: bool, file: IO[str] | None) -> None:
        self.terminal = terminal  # "console" or "json"
        self.verbose = verbose
        self.file = file
        self._lock = threading.Lock()
        self._console = structlog.dev.ConsoleRenderer(colors=False)

    def shows(self, event: dict[str, Any]) -> bool:
        level = LEVELS.get(str(event.get("level", "info")), 20)
        if self.verbose:
            return True
        if self.terminal == "json":
            return level >= LEVELS["info"]
        return level >= LEVELS["warning"] and event.get("event") not in PER_OBJECT_EVENTS

    def __call__(self, logger: Any, method: str, event: dict[str, Any]) -> Any:
        with self._lock:
            if self.file is not None and LEVELS.get(str(event.get("level")), 20) >= LEVELS["info"]:
                self.file.write(json.dumps(event, default=str, sort_keys=False) + "\n")
                self.file.flush()
            if self.shows(event):
                out = sys.stderr
                if self.terminal == "json":
                    out.write(json.dumps(event, default=str) + "\n")
                else:
                    out.write(self._console(logger, method, dict(event)) + "\n")
                out.flush()
        raise structlog.DropEvent


_open_file: IO[str] | None = None


def configure(*, fmt: str = "auto", verbose: bool = False, file: str | Path | None = None) -> Router:
    """Configure structlog for this CLI process (again: a later call replaces an earlier one)."""
    global _open_file
    if _open_file is not None:
        _open_file.close()
        _open_file = None
    if file is not None:
        path = Path(file)
        path.parent.mkdir(parents=True, exist_ok=True)
        _open_file = path.open("a", encoding="utf-8")
    terminal = fmt if fmt in ("console", "json") else ("console" if sys.stderr.isatty() else "json")
    router = Router(terminal=terminal, verbose=verbose, file=_open_file)
    structlog.configure(
        processors=[
            log_processor,  # every secret read is masked, in every spelling, before anything is written
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            router,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(10),
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=False,
    )
    return router


def configure_from(config: Any, *, verbose: bool = False) -> Router:
    """From a loaded config's ``[log]`` section."""
    return configure(fmt=config.log.format, verbose=verbose, file=config.log.file)

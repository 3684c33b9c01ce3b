"""Small helpers the commands that need no connector share (status, log, explain,
approve-deletes, snapshot): the config without secrets and an offline ``Engine`` over its store."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from hybridsync.engine.core.errors import ConfigError


def config_without_secrets(args: argparse.Namespace) -> Any:
    """The config named by ``-c`` (secrets not resolved: these commands never need them)."""
    from hybridsync.engine.config.loader import load_config

    path = Path(args.config)
    if not path.exists():
        raise ConfigError.single(str(path), "-c/--config", "config file not found")
    return load_config(path, check_secrets=False)


def offline_engine(args: argparse.Namespace, command: str, *, writable: bool = False) -> tuple[Any, int]:
    """``(Engine.offline(config), 0)``, or ``(None, 2)`` with the reason printed when the state
    store is not a readable state store."""
    from hybridsync.engine.runtime.engine import Engine
    from hybridsync.statestore import StoreCorrupt

    config = config_without_secrets(args)
    try:
        return Engine.offline(config, writable=writable), 0
    except StoreCorrupt as exc:
        print(f"hybridsync {command}: {exc.path}: not a readable state store ({exc.detail})", file=sys.stderr)
        return None, 2


def short_time(value: datetime | str | None) -> str:
    """A UTC time (or its stored text) -> ``2026-11-23 12:00:00Z`` for tables."""
    from hybridsync.statestore.records import time_to_text

    text = time_to_text(value) if isinstance(value, datetime) else value
    return "-" if not text else text[:19].replace("T", " ") + "Z"

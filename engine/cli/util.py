"""Small helpers the read-only admin commands share (explain, snapshot, log, status)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hybridsync.engine.core.errors import ConfigError


def config_without_secrets(args: argparse.Namespace) -> Any:
    """The config named by ``-c`` (secrets not resolved: read-only commands never need them)."""
    from hybridsync.engine.config.loader import load_config

    path = Path(args.config)
    if not path.exists():
        raise ConfigError.single(str(path), "-c/--config", "config file not found")
    return load_config(path, check_secrets=False)


def open_existing_store(config: Any) -> Any | None:
    """The state store the config names, or None when it does not exist yet."""
    from hybridsync.statestore.store import Store

    path = Path(config.state.path)
    if not path.exists():
        return None
    return Store.open(path)

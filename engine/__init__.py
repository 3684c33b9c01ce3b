"""hybridsync's engine: the pure planner, the reconcile loop and the host API.

    from hybridsync.engine import Engine, load_config
    engine = Engine(load_config("hybridsync.toml"))
    report = engine.run_once()
"""

from __future__ import annotations

from typing import Any

__all__ = ["Engine", "load_config", "RunReport"]


def __getattr__(name: str) -> Any:  # lazy, so importing values never drags in I/O modules
    if name == "load_config":
        from hybridsync.engine.config.loader import load_config

        return load_config
    if name in ("Engine", "RunReport"):
        from hybridsync.engine.runtime import engine as loop

        return getattr(loop, name)
    raise AttributeError(name)

"""The state store: hybridsync's only memory (embedded SQLite through sqlite-utils)."""

from hybridsync.statestore.records import (
    StaleWatermark,
    StoreCorrupt,
    StoreError,
    StoreMisuse,
    WatermarkRegression,
)
from hybridsync.statestore.protocol import StateStore
from hybridsync.statestore.store import Store

__all__ = [
    "StateStore",
    "Store",
    "StoreError",
    "StoreCorrupt",
    "StaleWatermark",
    "StoreMisuse",
    "WatermarkRegression",
]

"""Retention that the engine runs on its own: history and recordings older than ``[state]
retain_days`` / ``record_days`` are pruned at most once a day (``PRUNE_EVERY``), the time of the
last run kept in the store's meta (``PRUNED_AT``) so that every process sharing the store agrees."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog

from hybridsync.engine.core.config import StateConfig
from hybridsync.statestore import StateStore

log = structlog.get_logger("hybridsync.engine")
PRUNE_EVERY = timedelta(days=1)  # retention runs at most this often
PRUNED_AT = "engine.pruned_at"  # meta key: when retention last ran


def run_retention(store: StateStore, st: StateConfig, now: datetime, *, known: datetime | None,
                  force: bool = False) -> tuple[dict[str, int] | None, datetime | None]:
    """Prune when due (``force``: now). ``known`` is when this process last saw retention run on
    this store. Returns the rows deleted per table (None when not due or not configured) and the
    time of the last run now known (None when nothing new was learnt)."""
    if not (st.retain_days > 0 or st.record_days > 0):
        return None, None
    if not force and known is not None and now - known < PRUNE_EVERY:
        return None, None  # it only moves forward: what this engine last read or wrote is not due yet
    text = store.meta_get(PRUNED_AT)
    last = datetime.fromisoformat(text) if text is not None else None
    if not force and last is not None and now - last < PRUNE_EVERY:
        return None, last
    before = now - timedelta(days=st.retain_days) if st.retain_days > 0 else None
    rec = now - timedelta(days=st.record_days) if st.record_days > 0 else None
    counts = store.prune(before, recordings_before=rec)
    store.meta_set(PRUNED_AT, now.isoformat())
    compact: Any = getattr(store, "compact", None)  # SQLite: the file shrinks only by a VACUUM
    released = compact() if compact is not None and not st.url else 0
    log.info("store_pruned", retain_days=st.retain_days, record_days=st.record_days, released_bytes=released,
             **counts)
    return counts, now

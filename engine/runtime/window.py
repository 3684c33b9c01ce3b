"""The delete threshold's rolling window, kept across cycles: per target, the access removals
(disables, deletes, updates setting ``active`` false) applied within ``delete_threshold_window``.

``evidence.window_counts`` counts them with one query per cycle that visits every decision in
the window -- after a full sync, one per object (O(directory) per delta cycle). ``RemovalWindow``
reads the whole window once, then only the history rows added since its last look (by primary
key), and drops the ones the window slid past: a cycle's cost follows the changes, not N.
That needs history ids that become visible in increasing order, which only a single-writer store
promises (``history_ids_in_commit_order``); other stores are counted whole every cycle (with
the cycle's opening questions: ``StateStore.cycle_opening(removals_since=...)``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from hybridsync.engine.runtime import evidence


def reads_incrementally(window: RemovalWindow | None, store: Any) -> bool:
    """Whether ``window`` counts ``store``'s removals itself (else the cycle counts them whole)."""
    return window is not None and getattr(store, "access_removal_times", None) is not None and \
        bool(getattr(store, "history_ids_in_commit_order", False))


class RemovalWindow:
    """Per target, (history id, time) of each access removal in the window (one per engine)."""

    def __init__(self) -> None:
        self._store: Any = None
        self._since: datetime | None = None
        self._through: dict[str, int] = {}  # target -> last history id read
        self._times: dict[str, list[tuple[int, datetime]]] = {}

    def counts(self, store: Any, safety: Any, targets: Iterable[str], now: datetime) -> dict[str, int]:
        targets = list(targets)
        read = getattr(store, "access_removal_times", None)
        if read is None or not getattr(store, "history_ids_in_commit_order", False):
            # a store without the incremental query, or one whose history ids are not given in
            # commit order (PostgreSQL: several writers, id blocks reserved per commit unit -- a
            # row with a smaller id can commit after a larger one was read): count the whole window
            return evidence.window_counts(store, safety, targets, now)
        since = now - timedelta(seconds=safety.delete_threshold_window)
        upto = int(store.last_history_id())
        if store is not self._store or (self._since is not None and since < self._since) or \
                any(upto < t for t in self._through.values()):
            self._store, self._through, self._times = store, {}, {}  # another store, clock or a prune: reread
        self._since = since
        out: dict[str, int] = {}
        for name in targets:
            after = self._through.get(name)
            kept = [x for x in self._times.get(name, []) if x[1] >= since] if after is not None else []
            kept += read(name, since, after_id=after or 0, upto_id=upto)
            self._times[name], self._through[name] = kept, upto
            out[name] = len(kept)
        return out


__all__ = ["RemovalWindow", "reads_incrementally"]

"""Issue 14, finding 7: a failed periodic full read is retried with backoff, not a full interval
(24 h by default) later."""

from __future__ import annotations

import threading
import time

import attrs

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.runtime import engine as engine_mod

from .enginekit import make_engine, user


def test_a_failed_periodic_full_read_is_retried_with_backoff(monkeypatch):
    monkeypatch.setattr(engine_mod, "FULL_READ_RETRY_BASE", 0.05, raising=False)
    src, tgt = MemorySource(page_size=5), MemoryTarget()
    for i in range(1, 6):
        src.put(user(i))
    engine = make_engine(src, {"app": tgt})
    engine.config = attrs.evolve(engine.config, sources=(attrs.evolve(engine.config.sources[0],
                                                                      full_read_interval=3600.0),))
    engine.run_once()
    src.fail_full_read_after_pages = 0
    engine._last_full["corp"] = time.monotonic() - 7200  # the periodic full read is due
    before = src.reads.count("full")
    stop = threading.Event()
    th = threading.Thread(target=engine.run_forever, args=(stop,))
    th.start()
    time.sleep(1.5)
    stop.set()
    th.join(5)
    assert src.reads.count("full") - before >= 3  # retried, backing off, well before an hour
    assert src.reads.count("full") - before <= 8  # and backing off, not every poll

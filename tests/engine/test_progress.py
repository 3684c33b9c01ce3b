"""The full-sync progress: the engine reports read / planned / applied after each page, in
run_once and in the scheduler loop; the CLI's loop bar shows only while a full read runs."""

from __future__ import annotations

import io
import threading

from rich.console import Console

from hybridsync.connectors.testing.memory import MemoryTarget
from hybridsync.engine.cli.progress import LoopProgress, SyncProgress
from hybridsync.engine.core.values import CycleProgress

from hybridsync.connectors.testing.memory import MemorySource

from .enginekit import make_engine, user


def directory(n_users: int = 7) -> MemorySource:
    src = MemorySource(page_size=3)
    for i in range(1, n_users + 1):
        src.put(user(i))
    return src


def test_run_once_reports_read_planned_and_applied_after_each_page():
    src, tgt = directory(), MemoryTarget()
    engine = make_engine(src, {"app": tgt})
    seen: list[CycleProgress] = []
    engine.run_once(progress=seen.append)
    assert seen and str(seen[-1].mode) == "full"
    last = seen[-1]
    assert last.read == last.planned > 0 and last.applied >= len(tgt.store) > 0
    assert all(a.read <= b.read and a.applied <= b.applied for a, b in zip(seen, seen[1:]))


def test_run_forever_passes_progress_to_its_cycles():
    src, tgt = directory(), MemoryTarget()
    engine = make_engine(src, {"app": tgt})
    stop = threading.Event()
    seen: list[CycleProgress] = []

    def on_report(report):
        stop.set()

    engine.run_forever(stop, on_report=on_report, progress=seen.append)
    assert seen and str(seen[0].mode) == "full" and seen[-1].read > 0


def test_the_loop_bar_shows_only_during_a_full_read():
    out = io.StringIO()
    bar = LoopProgress(Console(file=out, force_terminal=True, width=120))
    bar.update(CycleProgress(mode="delta", read=3, planned=3, applied=1))
    assert bar.current is None
    bar.update(CycleProgress(mode="full", read=10, planned=10, applied=4, expected=20))
    assert isinstance(bar.current, SyncProgress)
    bar.end_cycle()
    assert bar.current is None and "read" in out.getvalue()

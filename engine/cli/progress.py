"""The full-sync progress bar of ``hybridsync sync`` and ``hybridsync lab``: objects read,
planned and applied, the read rate, and an ETA when the size of the directory is known (the
last complete full read, or the caller's estimate)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class SyncProgress:
    """A context manager whose ``update`` is the engine's ``progress`` callback."""

    def __init__(self, console: Console | None = None, *, expected: int | None = None,
                 transient: bool = False, label: str = "sync") -> None:
        self.expected = expected
        self.bar = Progress(
            TextColumn("[bold]{task.fields[label]}[/]"), BarColumn(),
            TextColumn("read {task.fields[read]:>6,} · planned {task.fields[planned]:>6,} · "
                       "applied {task.fields[applied]:>6,} · {task.fields[rate]:>5,.0f}/s"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=console, transient=transient)
        self.task = self.bar.add_task("sync", total=expected, label=label, read=0, planned=0, applied=0, rate=0.0)
        self.started = time.perf_counter()
        self.last: Any = None

    def __enter__(self) -> SyncProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)

    def update(self, p: Any) -> None:
        """``p`` is a ``CycleProgress``."""
        self.last = p
        total = self.expected or p.expected
        if total is not None:
            total = max(total, p.read)
        rate = p.read / max(time.perf_counter() - self.started, 1e-6)
        self.bar.update(self.task, completed=p.read, total=total, label=f"{p.mode} sync", read=p.read,
                        planned=p.planned, applied=p.applied, rate=rate)


class LoopProgress:
    """For the scheduler loop: a progress bar only while a full read runs (the first sync, the
    periodic safety read), gone when its cycle ends; delta cycles show nothing but their line."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console
        self.current: SyncProgress | None = None

    def update(self, p: Any) -> None:
        if str(p.mode) != "full":
            return
        if self.current is None:
            self.current = SyncProgress(self.console, transient=True).__enter__()
        self.current.update(p)

    def end_cycle(self) -> None:
        if self.current is not None:
            self.current.__exit__(None, None, None)
            self.current = None

"""Issue 17: pages are read ahead in a thread (``runtime.readahead``), bounded, in order, each
recorded for replay when the cycle takes it; a failure surfaces at its page; a stop closes the read."""

from __future__ import annotations

import threading
import time

import pytest

from hybridsync.engine.core.values import DcIdentity, ReadMode, Refresh, SourceBatch
from hybridsync.engine.runtime.readahead import read_ahead
from hybridsync.engine.runtime.recording import Recorder, RecordingSource

DC = DcIdentity(url="ldap://x", invocation_id="inv")


def page(i: int, last: bool = False) -> SourceBatch:
    return SourceBatch(objects=(), cursor=Refresh(f"p{i}"), mode=ReadMode.FULL, dc=DC, last=last, complete=last)


class Pages:
    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.n, self.fail_at, self.taken, self.closed = n, fail_at, 0, False
        self.threads: set[str] = set()

    def read_(self, cursor):
        try:
            for i in range(self.n):
                if i == self.fail_at:
                    raise ConnectionError(f"lost at page {i}")
                self.taken += 1
                self.threads.add(threading.current_thread().name)
                yield page(i, last=i == self.n - 1)
        finally:
            self.closed = True

    def read(self, cursor):
        return self.read_(cursor)


def test_pages_come_in_order_read_ahead_in_a_thread_and_bounded_by_the_depth():
    src = Pages(10)
    it = read_ahead(src, Refresh("x"), depth=2)
    first = next(it)
    time.sleep(0.3)  # the reader fills the queue, then waits
    assert first.cursor == Refresh("p0")
    assert src.taken <= 1 + 2 + 1  # the one taken, the queue, the one waiting to be put
    assert [b.cursor for b in it] == [Refresh(f"p{i}") for i in range(1, 10)]
    assert src.threads == {"hybridsync-read"} and src.closed


def test_a_batch_is_recorded_when_the_cycle_takes_it():
    rec = Recorder()
    src = RecordingSource(Pages(5), rec, "corp")
    it = read_ahead(src, Refresh("x"), depth=3)
    next(it)
    time.sleep(0.3)
    assert len(rec._batches) == 1  # read ahead, but recorded only as taken (one commit unit each)
    list(it)
    assert len(rec._batches) == 5


def test_a_failed_read_raises_at_its_page_after_the_pages_before_it():
    src = Pages(10, fail_at=4)
    got = []
    with pytest.raises(ConnectionError, match="page 4"):
        for b in read_ahead(src, Refresh("x"), depth=2):
            got.append(b.cursor)
    assert got == [Refresh(f"p{i}") for i in range(4)]


def test_a_read_that_fails_to_start_raises_in_the_cycle():
    class Broken:
        def read(self, cursor):
            raise ConnectionError("no DC")

    with pytest.raises(ConnectionError, match="no DC"):
        list(read_ahead(Broken(), Refresh("x")))


def test_stopping_early_stops_the_reader_and_closes_the_read():
    src = Pages(1000)
    it = read_ahead(src, Refresh("x"), depth=2)
    next(it)
    it.close()
    assert src.closed and src.taken < 10
    assert not any(t.name == "hybridsync-read" for t in threading.enumerate())

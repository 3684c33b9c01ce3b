"""Reading ahead: a source's pages are read in a thread of their own while the cycle merges,
plans, applies and commits the page before (issue 17: a full sync at the speed of the slower
side, not the sum of both).

``read_ahead(source, cursor, depth)`` yields the batches of ``source.read(cursor)`` in order,
each read up to ``depth`` pages before the cycle takes it: memory stays bounded by ``depth``
pages, not by the directory. The commit units do not change: a page is committed (and the
watermark moved) only by the cycle's thread, in read order, after its outcomes.

- A batch is *recorded* for replay (``RecordingSource``) when the cycle takes it, not when it is
  read, so each page's commit unit holds exactly the batches it covers.
- The source is used by one thread at a time: the reader's until the read ends, then the
  cycle's (a last page's absence check looks objects up through the same source). The cycle
  waits for the reader to finish before it handles the last page.
- A read that fails raises in the cycle's thread at the page where it failed (the pages before
  it are handled first); a cycle that stops early stops the reader and closes the read.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

from hybridsync.engine.core.values import Cursor, SourceBatch
from hybridsync.engine.runtime.recording import RecordingSource

DEPTH = 2  # pages read ahead of the one being handled
_END = object()


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def read_ahead(source: Any, cursor: Cursor, depth: int = DEPTH, *, record: bool = True) -> Iterator[SourceBatch]:
    """The batches of ``source.read(cursor)``, read ``depth`` pages ahead in a thread. With
    ``record=False`` the caller records each batch itself (``record_batch``): the pipeline takes
    page N+1 before page N commits, and records it after."""
    recorder = source if isinstance(source, RecordingSource) else None
    inner = source.inner if recorder is not None else source
    if depth <= 0:
        yield from (source.read(cursor) if record else inner.read(cursor))
        return
    pages: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                pages.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def reader() -> None:
        it: Any = None
        try:
            it = inner.read(cursor)
            for batch in it:
                if not put(batch):
                    return
            put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the cycle's thread, raised there
            put(_Failed(exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=reader, name="hybridsync-read", daemon=True)
    thread.start()
    try:
        while True:
            item = pages.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.exc
            if item.last:
                thread.join()  # the read is over: the source is the cycle's from here on
            if recorder is not None and record:
                recorder.recorder.batch(recorder.name, item)
            yield item
    finally:
        stop.set()
        thread.join()


def record_batch(source: Any, batch: SourceBatch) -> None:
    """Record ``batch`` for replay when ``source`` records (taken from ``read_ahead(record=False)``)."""
    if isinstance(source, RecordingSource):
        source.recorder.batch(source.name, batch)


__all__ = ["DEPTH", "read_ahead", "record_batch"]

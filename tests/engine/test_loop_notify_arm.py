"""``run_forever`` opens the change notification before its first cycle.

The AD source's notification search is opened by its first ``wait_for_change`` and reports only
what changes after that. Armed only by the first wait (after the first cycle), a change committed
while that first cycle ran -- the slow one, it opens every connection -- was never notified and
waited a whole poll interval: the first live change of ``hybridsync lab`` (a create) was its
slowest."""

from __future__ import annotations

import threading

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget

from .enginekit import guid, make_engine, user


class NotifiesOnceArmed(MemorySource):
    """A change wakes ``wait_for_change`` only if it came after the first call (as AD's
    notification search, opened by that call, reports only later changes)."""

    def __init__(self) -> None:
        super().__init__(page_size=3)
        self.armed = False
        self.calls: list[object] = []
        self.woken: list[bool] = []  # what each real (non-zero) wait answered
        self.change_during_first_read = True

    def read(self, cursor):
        self.calls.append("read")
        yield from super().read(cursor)
        if self.change_during_first_read:  # an admin's change committed while the first cycle runs
            self.change_during_first_read = False
            self.modify(guid(1), title="Changed meanwhile")

    def wait_for_change(self, timeout: float, stop: threading.Event) -> bool:
        self.calls.append(("wait", timeout))
        if not self.armed:
            self.armed = True
            self._changed.clear()  # a fresh notification search: nothing before it is reported
        answer = super().wait_for_change(timeout, stop)
        if timeout > 0:
            self.woken.append(answer)
        return answer


def test_the_notification_is_armed_before_the_first_cycle_so_a_change_made_during_it_wakes_the_next():
    src, tgt = NotifiesOnceArmed(), MemoryTarget()
    for i in (1, 2, 3):
        src.put(user(i))
    engine = make_engine(src, {"app": tgt})
    stop = threading.Event()
    reports: list[object] = []

    def on_report(report: object) -> None:
        reports.append(report)
        if len(reports) >= 2:
            stop.set()

    worker = threading.Thread(target=engine.run_forever, args=(stop,), kwargs={"on_report": on_report})
    worker.start()
    worker.join(30)
    assert not worker.is_alive()
    assert src.calls[0] == ("wait", 0.0), src.calls[:4]  # armed before the first read
    assert src.calls.index(("wait", 0.0)) < src.calls.index("read")
    # the change committed during the first cycle woke the wait after it (not the poll's timeout)
    assert src.woken and src.woken[0] is True, src.calls

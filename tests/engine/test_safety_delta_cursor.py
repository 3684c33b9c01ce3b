"""Issue 14, finding 9: the in-memory source gives each delta page its own cursor (like the AD
source), so a delta failing midway never moves the watermark past what was read."""

from __future__ import annotations

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.values import Refresh, UsnWatermark

from .enginekit import guid, make_engine, user, users_at


def test_each_delta_page_carries_a_cursor_that_covers_only_what_was_read_so_far():
    src = MemorySource(page_size=3)
    for i in range(1, 11):
        src.put(user(i))
    top = list(src.read(Refresh()))[-1].cursor
    src.modify(guid(1), title="a")
    for i in range(2, 11):
        src.modify(guid(i), title="b")
    src.modify(guid(1), title="c")
    pages = list(src.read(top))
    assert len(pages) == 4
    assert all(p.cursor.usn < src._seq for p in pages[:-1]) and pages[-1].cursor.usn == src._seq
    # resuming from any page's cursor delivers every change not yet read
    for k, page in enumerate(pages[:-1]):
        read = {o.anchor for p in pages[: k + 1] for o in p.objects}
        later = {o.anchor for p in src.read(page.cursor) for o in p.objects}
        assert read | later == {guid(i) for i in range(1, 11)}
        assert guid(1) in later or all(o.get("title") == ("c",) for p in pages[: k + 1] for o in p.objects
                                       if o.anchor == guid(1))


def test_a_delta_failing_midway_loses_no_change():
    src, tgt = MemorySource(page_size=3), MemoryTarget()
    for i in range(1, 11):
        src.put(user(i))
    engine = make_engine(src, {"app": tgt})
    engine.run_once()
    for i in range(1, 11):
        src.modify(guid(i), displayName=f"Renamed {i}")
    src.fail_delta_after_pages = 1
    report = engine.run_once()
    assert "corp" in report.source_errors
    stored = engine.store.get_cursor("corp")
    assert isinstance(stored, UsnWatermark) and stored.usn < src._seq
    src.fail_delta_after_pages = None
    engine.run_once()
    assert {r["attributes"]["displayName"] for r in users_at(tgt).values()} == {f"Renamed {i}" for i in range(1, 11)}

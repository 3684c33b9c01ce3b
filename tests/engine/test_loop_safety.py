"""Safety in the loop: mass-delete traps, held deletes, the time-driven hard delete, CAS watermarks."""

from __future__ import annotations

import attrs

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.config import SafetyConfig
from hybridsync.engine.core.values import UsnWatermark

from .enginekit import OTHER, Clock, guid, make_engine, user, users_at


def population(n: int = 20) -> MemorySource:
    src = MemorySource(page_size=7)
    for i in range(1, n + 1):
        src.put(user(i))
    return src


def disabled_count(tgt: MemoryTarget) -> int:
    return sum(1 for r in users_at(tgt).values() if not r["active"])


def test_moving_60_percent_out_of_scope_holds_the_disables_while_a_new_user_is_still_created():
    src, tgt = population(20), MemoryTarget()
    engine = make_engine(src, {"app": tgt}, safety=SafetyConfig(delete_threshold=5))
    engine.run_once()
    for i in range(1, 13):
        src.move(guid(i), f"CN=u{i},{OTHER}")
    src.put(user(21))
    report = engine.run_once()
    assert report.exit_code() == 3 and report.held == 12
    assert disabled_count(tgt) == 0 and "u21@lab.test" in users_at(tgt)
    assert len(engine.store.held("app")) == 12
    engine.run_once()
    assert disabled_count(tgt) == 0  # still held on the next cycle
    engine.store.approve_held("app", by="test")
    engine.run_once()
    assert disabled_count(tgt) == 12 and engine.store.held("app") == []


def test_an_empty_full_read_disables_nothing():
    src, tgt = population(20), MemoryTarget()
    engine = make_engine(src, {"app": tgt})
    engine.run_once()
    src.hidden = {o.anchor for o in src.objects()}
    report = engine.run_once(full=True)
    assert disabled_count(tgt) == 0 and report.counts.get("disable", 0) == 0
    src.hidden = set()
    engine.run_once(full=True)
    assert disabled_count(tgt) == 0 and len(users_at(tgt)) == 20


def test_a_truncated_full_read_disables_nothing_and_does_not_count_as_complete():
    src, tgt = population(20), MemoryTarget()
    engine = make_engine(src, {"app": tgt})
    engine.run_once()
    src.fail_full_read_after_pages = 1
    src.put(user(21))
    report = engine.run_once(full=True)
    assert report.exit_code() == 1 and "corp" in report.source_errors
    assert disabled_count(tgt) == 0
    src.fail_full_read_after_pages = None
    engine.run_once()  # the stored cursor is still Refresh: the full read starts over
    assert src.reads[-1] == "full" and "u21@lab.test" in users_at(tgt) and disabled_count(tgt) == 0


def test_a_user_gone_from_a_complete_full_read_is_disabled_then_hard_deleted_after_the_grace():
    src, tgt, clock = population(5), MemoryTarget(), Clock()
    engine = make_engine(src, {"app": tgt}, clock=clock, safety=SafetyConfig(soft_delete_days=30))
    engine.run_once()
    src.vanish(guid(3))  # vanished without a tombstone we saw (confirmed gone by a lookup by GUID)
    engine.run_once(full=True)
    assert users_at(tgt)["u3@lab.test"]["active"] is False
    clock.advance(days=29)
    engine.run_once()
    assert "u3@lab.test" in users_at(tgt)
    clock.advance(days=2)
    engine.run_once()
    assert "u3@lab.test" not in users_at(tgt) and len(users_at(tgt)) == 4


def test_a_cursor_moved_by_someone_else_stops_the_cycle_as_unsafe():
    src, tgt = population(5), MemoryTarget()
    engine = make_engine(src, {"app": tgt})
    engine.run_once()
    cur = engine.store.get_cursor("corp")
    src.modify(guid(1), title="x")
    engine.store.advance_watermark("corp", src.dc.invocation_id, cur, UsnWatermark(src.dc.invocation_id, cur.usn + 1))
    # the engine read from cursor A, but the store moved to B meanwhile: simulate by a second engine
    other = make_engine(src, {"app": tgt}, store=engine.store)
    original = other.store.cycle_opening
    other.store.cycle_opening = lambda *a, **k: attrs.evolve(original(*a, **k), cursor=cur)  # it saw the old position
    report = other.run_once()
    other.store.cycle_opening = original
    assert report.status["corp"] == "unsafe_watermark" and report.exit_code() == 3
    assert engine.store.get_cursor("corp") == UsnWatermark(src.dc.invocation_id, cur.usn + 1)

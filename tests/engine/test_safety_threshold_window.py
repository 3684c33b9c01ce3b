"""Issue 14, finding 3: the delete threshold counts per target over a rolling window
(``[safety] delete_threshold_window``), not per cycle."""

from __future__ import annotations

import attrs

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.config import SafetyConfig

from .enginekit import OTHER, Clock, guid, make_engine, user, users_at


def population(n: int) -> MemorySource:
    src = MemorySource(page_size=7)
    for i in range(1, n + 1):
        src.put(user(i))
    return src


def disabled(tgt: MemoryTarget) -> int:
    return sum(1 for r in users_at(tgt).values() if not r["active"])


def test_five_disables_per_cycle_cannot_walk_past_a_threshold_of_five_inside_the_window():
    src, tgt, clock = population(40), MemoryTarget(), Clock()
    engine = make_engine(src, {"app": tgt}, clock=clock, safety=SafetyConfig(delete_threshold=5))
    engine.run_once()
    for cycle in range(8):
        for i in range(cycle * 5 + 1, cycle * 5 + 6):
            src.move(guid(i), f"CN=u{i},{OTHER}")
        src.put(user(100 + cycle))  # creates go on
        engine.run_once()
        clock.advance(minutes=1)
    assert disabled(tgt) == 5
    assert len(engine.store.held("app")) == 35
    assert all(f"u{100 + c}@lab.test" in users_at(tgt) for c in range(8))


def test_the_window_rolls_so_later_disables_proceed_after_it():
    src, tgt, clock = population(20), MemoryTarget(), Clock()
    engine = make_engine(src, {"app": tgt}, clock=clock,
                         safety=SafetyConfig(delete_threshold=5, delete_threshold_window=3600.0))
    engine.run_once()
    for i in range(1, 6):
        src.move(guid(i), f"CN=u{i},{OTHER}")
    engine.run_once()
    assert disabled(tgt) == 5
    clock.advance(hours=2)
    for i in range(6, 11):
        src.move(guid(i), f"CN=u{i},{OTHER}")
    engine.run_once()
    assert disabled(tgt) == 10 and engine.store.held("app") == []


def test_status_shows_the_windows_count():
    src, tgt, clock = population(10), MemoryTarget(), Clock()
    engine = make_engine(src, {"app": tgt}, clock=clock, safety=SafetyConfig(delete_threshold=50))
    engine.run_once()
    for i in range(1, 4):
        src.move(guid(i), f"CN=u{i},{OTHER}")
    engine.run_once()
    from datetime import timedelta
    assert engine.store.access_removals("app", since=clock.t - timedelta(days=1)) == 3


def test_the_window_is_configured_as_a_duration(tmp_path):
    from hybridsync.engine.config import schema

    assert schema.duration_seconds("24h") == (86400.0, None)
    assert schema.duration_seconds("30m") == (1800.0, None)
    assert schema.duration_seconds(90) == (90.0, None)
    assert schema.duration_seconds("inf")[0] is None and schema.duration_seconds("0h")[0] is None
    assert schema.duration_seconds("400d")[0] is None and schema.duration_seconds(True)[0] is None


def test_status_shows_the_window_count_and_threshold():
    src, tgt, clock = population(10), MemoryTarget(), Clock()
    engine = make_engine(src, {"app": tgt}, clock=clock, safety=SafetyConfig(delete_threshold=50))
    engine.run_once()
    for i in range(1, 4):
        src.move(guid(i), f"CN=u{i},{OTHER}")
    engine.run_once()
    # status reads the wall clock; the engine's clock is in 2026-01-01, so widen the window
    engine.config = attrs.evolve(engine.config, safety=attrs.evolve(engine.config.safety,
                                                                    delete_threshold_window=366 * 86400.0))
    app = next(t for t in engine.status().targets if t.name == "app")
    assert (app.window_used, app.window_threshold) == (3, 50)
    assert app.to_dict()["threshold_window"]["used"] == 3


def test_ad_disables_count_toward_the_window():
    from datetime import timedelta

    src, tgt, clock = population(10), MemoryTarget(), Clock()
    engine = make_engine(src, {"app": tgt}, clock=clock, safety=SafetyConfig(delete_threshold=50))
    engine.run_once()
    for i in range(1, 4):
        src.modify(guid(i), userAccountControl="514")
    engine.run_once()
    assert disabled(tgt) == 3
    assert engine.store.access_removals("app", since=clock.t - timedelta(hours=1)) == 3

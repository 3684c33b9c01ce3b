"""Issue 17: the engine runs the retention policy itself (``[state] retain_days``, default 30;
``record_days`` for the recordings, default 7), at most once a day; history keeps only what
changed something; ``status`` shows the store size and what retention keeps."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.config import StateConfig
from hybridsync.engine.runtime.engine import Engine
from hybridsync.statestore import Store

from .enginekit import Clock, config, guid, user
from .test_config_loader import SOURCE, TARGET, problems_of


def engine_at(tmp_path, clock, **state):
    src = MemorySource(page_size=5)
    for i in range(1, 11):
        src.put(user(i))
    cfg = attrs.evolve(config(), state=StateConfig(path=str(tmp_path / "s.db"), **state))
    eng = Engine(cfg, store=Store.open(tmp_path / "s.db"), sources={"corp": src}, targets={"app": MemoryTarget()},
                 clock=clock, record=True)
    return src, eng


def rows(store, table):
    return store._handle.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: SLF001


def test_the_engine_prunes_on_its_own_once_a_day_keeping_retain_days_of_history(tmp_path):
    clock = Clock()
    src, eng = engine_at(tmp_path, clock)
    eng.run_once()
    first = sum(1 for _ in eng.store.history())
    assert first >= 20 and rows(eng.store, "batches") > 0  # 10 observed + 10 created
    for day in range(1, 32):  # a month of churn: one title change a day
        clock.advance(days=1)
        src.modify(guid(1 + day % 10), title=f"day {day}")
        eng.run_once()
    history = list(eng.store.history())
    assert all(h.at >= clock() - timedelta(days=31) for h in history)  # pruned within a day of 30 days
    assert len(history) < first + 2 * 31  # the first sync's rows are gone
    assert {h.at for h in history if h.kind == "decision"}  # the recent ones are kept
    batch_times = [b.at for b in eng.store.iter_batches()]
    assert batch_times and min(batch_times) >= clock() - timedelta(days=8)  # recordings: record_days (7) + a day
    assert eng.store.meta_get("engine.pruned_at") is not None


def test_retention_runs_at_most_once_a_day(tmp_path):
    clock = Clock()
    _, eng = engine_at(tmp_path, clock)
    eng.run_once()
    assert eng.retain() is None  # ran with the sync just now
    clock.advance(hours=23)
    assert eng.retain() is None
    clock.advance(hours=2)
    assert eng.retain() is not None


def test_zero_keeps_everything(tmp_path):
    clock = Clock()
    src, eng = engine_at(tmp_path, clock, retain_days=0, record_days=0)
    eng.run_once()
    n = sum(1 for _ in eng.store.history())
    clock.advance(days=400)
    eng.run_once()
    assert eng.retain(force=True) is None and sum(1 for _ in eng.store.history()) == n


def test_a_full_read_that_changes_nothing_adds_no_history(tmp_path):
    clock = Clock()
    _, eng = engine_at(tmp_path, clock)
    eng.run_once()
    n = sum(1 for _ in eng.store.history())
    clock.advance(minutes=5)
    eng.run_once(full=True)
    assert sum(1 for _ in eng.store.history()) == n


def test_status_shows_the_store_size_and_what_retention_keeps(tmp_path):
    clock = Clock()
    _, eng = engine_at(tmp_path, clock, retain_days=10)
    eng.run_once()
    r = eng.status().retention
    assert r is not None and r.store_bytes and r.store_bytes > 0 and r.retain_days == 10 and r.record_days == 7
    assert "provisioning log 10 days" in r.describe() and "MB" in r.describe()
    assert eng.status().to_dict()["retention"]["retain_days"] == 10


def test_retain_days_is_validated(tmp_path):
    p = problems_of(f"[state]\nretain_days = -1\n[[source]]\n{SOURCE}\n[[target]]\n{TARGET}\n", tmp_path)
    assert any(k == "state.retain_days" for k, _ in p)
    p = problems_of(f"[state]\nretain_days = 0.5\n[safety]\ndelete_threshold_window = \"2d\"\n"
                    f"[[source]]\n{SOURCE}\n[[target]]\n{TARGET}\n", tmp_path)
    assert any(k == "state.retain_days" and "window" in m for k, m in p)

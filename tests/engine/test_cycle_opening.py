"""A cycle asks the store what it needs before it reads in ONE call (``StateStore.cycle_opening``;
on PostgreSQL one round trip, tests/statestore/test_pg_round_trips.py), not question by question;
the journal is settled only when the opening shows intents of this source, and read again after."""

from __future__ import annotations

import collections

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.values import Action, ActionKind, ObjectKind

from .enginekit import guid, make_engine, user

QUESTIONS = ("cycle_opening", "get_cursor", "last_complete_round", "pending_intents", "quarantined",
             "approved_actions", "due_retries", "access_removals", "meta_get", "cycle_source")


def counting(store) -> collections.Counter[str]:
    calls: collections.Counter[str] = collections.Counter()
    for name in QUESTIONS:
        def wrap(*args, _orig=getattr(store, name), _name=name, **kwargs):
            calls[_name] += 1
            return _orig(*args, **kwargs)
        setattr(store, name, wrap)
    return calls


def population(n: int = 6) -> MemorySource:
    src = MemorySource(page_size=4)
    for i in range(1, n + 1):
        src.put(user(i))
    return src


def test_a_delta_cycle_asks_its_opening_questions_once_and_nothing_one_by_one():
    src = population()
    engine = make_engine(src, {"app": MemoryTarget(), "hr": MemoryTarget()})
    engine.run_once()
    engine.run_once()
    calls = counting(engine.store)
    src.modify(guid(2), title="x")
    report = engine.run_once()
    assert report.counts.get("update") == 2, report.counts  # one per target
    assert dict(calls) == {"cycle_opening": 1}


def _intent(anchor: str) -> Action:
    return Action(kind=ActionKind.UPDATE, target="app", anchor=anchor, object_kind=ObjectKind.USER,
                  attributes={"title": "x"})


def test_the_journal_is_settled_only_when_the_opening_shows_this_source_s_intents():
    src = population()
    engine = make_engine(src, {"app": MemoryTarget()})
    engine.run_once()
    store = engine.store
    branch = store.begin_cycle("branch", "delta")
    theirs = store.journal_intent(branch, _intent(guid(1)))  # another source's leader settles it
    calls = counting(store)
    engine.run_once()
    assert calls["pending_intents"] == 0 and calls["cycle_opening"] == 1  # settle_pending not run
    assert [i.id for i in store.pending_intents()] == [theirs]
    ours = store.journal_intent(store.last_cycles(1, source="corp")[0].id, _intent(guid(2)))
    calls.clear()
    engine.run_once()
    assert calls["pending_intents"] == 1 and calls["cycle_opening"] == 2  # settled, then asked again
    assert [i.id for i in store.pending_intents()] == [theirs] and ours != theirs


def test_the_cycle_is_begun_by_its_opening_once_even_when_the_journal_is_settled_between():
    """Wave 8: the cycle's row is written by the opening itself (``cycle_opening(begin_cycle_at=...)``;
    PostgreSQL: the same round trip), not by a ``begin_cycle`` call of its own; the opening asked
    again after settling begins nothing, and the cycle ends on the row the first one began."""
    src = population()
    engine = make_engine(src, {"app": MemoryTarget()})
    store = engine.store
    calls = collections.Counter()
    for name in ("begin_cycle", "cycle_opening"):
        def wrap(*args, _orig=getattr(store, name), _name=name, **kwargs):
            calls[_name, kwargs.get("begin_cycle_at") is not None] += 1
            return _orig(*args, **kwargs)
        setattr(store, name, wrap)
    engine.run_once()
    assert dict(calls) == {("cycle_opening", True): 1}
    assert [(c.mode, c.status) for c in store.last_cycles(5)] == [("full", "ok")]
    store.journal_intent(store.last_cycles(1)[0].id, _intent(guid(2)))  # left by a cycle that died
    calls.clear()
    src.modify(guid(3), title="y")
    report = engine.run_once()
    assert report.counts.get("update") == 1, report.counts
    assert dict(calls) == {("cycle_opening", True): 1, ("cycle_opening", False): 1}  # settled, asked again
    assert [(c.mode, c.status) for c in store.last_cycles(5)] == [("delta", "ok"), ("full", "ok")]
    assert store.pending_intents() == []

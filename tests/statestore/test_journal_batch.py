"""Many intents in one commit, and settled intents that leave no row behind."""

from __future__ import annotations

import pytest

from hybridsync.engine.core.values import Action, ActionKind, ObjectKind
from hybridsync.statestore import Store, StoreMisuse


def act(n: int, kind: ActionKind = ActionKind.CREATE) -> Action:
    return Action(kind=kind, target="app", anchor=f"A{n:04d}", object_kind=ObjectKind.USER,
                  attributes={"userName": f"u{n}"}, to_state="pending_create")


def test_many_intents_are_committed_at_once_and_survive_a_reopen_in_order(tmp_path):
    with Store.open(tmp_path / "s.db") as s:
        ids = s.journal_intents(7, [act(n) for n in range(300)])
        assert len(ids) == 300 and ids == sorted(ids)
    with Store.open(tmp_path / "s.db") as s:
        pending = s.pending_intents()
        assert [p.id for p in pending] == ids
        assert [p.action for p in pending] == [act(n) for n in range(300)]
        assert {p.cycle_id for p in pending} == {7}


def test_journaling_many_intents_inside_a_transaction_is_refused_and_writes_nothing():
    store = Store.open(":memory:")
    with store.atomic():
        with pytest.raises(StoreMisuse, match="inside a transaction"):
            store.journal_intents(1, [act(1), act(2)])
    assert store.pending_intents() == []


def test_no_intents_journal_nothing():
    store = Store.open(":memory:")
    assert store.journal_intents(1, []) == [] and store.pending_intents() == []


def test_intents_settled_with_their_outcomes_leave_no_row(tmp_path):
    with Store.open(tmp_path / "s.db") as s:
        ids = s.journal_intents(1, [act(n) for n in range(1200)])
        with s.atomic():
            s.journal_done(ids[:1100])
        assert [p.id for p in s.pending_intents()] == ids[1100:]
        assert s._conn.execute("SELECT count(*) FROM journal").fetchone()[0] == 100


def test_intents_settled_in_a_unit_that_rolls_back_stay_pending(tmp_path):
    with Store.open(tmp_path / "s.db") as s:
        ids = s.journal_intents(1, [act(1), act(2)])
        with pytest.raises(RuntimeError):
            with s.atomic():
                s.journal_done(ids)
                raise RuntimeError("crash before the commit")
        assert [p.id for p in s.pending_intents()] == ids

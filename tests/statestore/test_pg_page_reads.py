"""Wave 8 (issue 19, the 10-change delta ratio): the waits of a cycle on PostgreSQL that the
engine's calls made one by one, now one round trip each -- a page's objects and target states
(``read_page``), the cycle's row with its opening (``cycle_opening(begin_cycle_at=...)``) -- and
the journal's intents as ONE statement in autocommit mode (no BEGIN / COMMIT), still durable."""

from __future__ import annotations

import pytest

from hybridsync.engine.core.values import ObjectKind, TargetState, UsnWatermark, Refresh
from hybridsync.statestore.postgres.handle import LeaseLost
from hybridsync.statestore.postgres.store import PostgresStore
from hybridsync.statestore.testing.samples import T0, group_state, intent, obj
from tests.statestore.test_pg_round_trips import waits
from tests.statestore.pgkit import sent, store  # noqa: F401 - fixtures


def _unflushed(store: PostgresStore) -> bool:
    return bool(store._raw.execute("SELECT pg_current_wal_flush_lsn() < pg_current_wal_insert_lsn()").fetchone()[0])


@pytest.mark.postgres
def test_a_page_s_objects_and_target_states_are_one_round_trip(store, monkeypatch):
    with store.atomic():
        for i in range(20):
            store.put_object(obj(f"A{i}", kind=ObjectKind.GROUP, members=frozenset({f"m{i}"})) if i % 5 == 0
                             else obj(f"A{i}"))
            store.put_target_state(group_state(f"A{i}", {f"m{i}"}) if i % 5 == 0 else TargetState(
                anchor=f"A{i}", target="app", kind=ObjectKind.USER, state="provisioned"))
    asked = [f"A{i}" for i in range(25)]
    with waits(monkeypatch) as counts:
        got = store.read_page("corp", asked, ["app", "other"])
    assert sum(counts.values()) == 1, counts  # were 1 + 1 per target (get_objects, get_target_states)
    assert got.objects == store.get_objects("corp", asked)
    assert got.target_states == {"app": store.get_target_states("app", asked), "other": {}}
    assert got.objects["A5"].members == {"m5"} and got.target_states["app"]["A5"].members_sent == {"m5"}


@pytest.mark.postgres
def test_an_opening_that_begins_the_cycle_is_one_round_trip_and_the_row_is_not_flushed_by_it(store, monkeypatch,
                                                                                              sent):
    """One statement (a data-modifying CTE) answers the opening and writes the cycle's row with
    ``synchronous_commit`` off for its own transaction, as ``begin_cycle`` alone: right after it
    the WAL is not flushed up to it (asked three times: one flush of the WAL writer between
    cannot fail this), and the session's setting stays on."""
    store.advance_watermark("corp", "dc1", Refresh(), UsnWatermark("dc1", 3))
    relaxed = []
    for n in range(3):
        sent.clear()
        with waits(monkeypatch) as counts:
            got = store.cycle_opening("corp", ["app"], T0, meta_keys=["k"], begin_cycle_at=T0)
        texts = list(sent)
        relaxed.append(_unflushed(store))
        assert sum(counts.values()) == 1, counts  # the opening, then begin_cycle: 2
        assert len(texts) == 1 and not any(s.split()[0] in ("BEGIN", "COMMIT", "SET") for s in texts), texts
        assert got.cycle_mode == "delta" and got.cursor == UsnWatermark("dc1", 3)
    assert any(relaxed), relaxed
    assert store._raw.execute("SHOW synchronous_commit").fetchone()[0] == "on"
    assert [c.mode for c in store.last_cycles(5)] == ["delta"] * 3


@pytest.mark.postgres
def test_a_fenced_opening_begins_the_cycle_in_a_fenced_unit(store, monkeypatch):
    """Fenced, the opening with the cycle's row is a unit whose fence check goes with its
    COMMIT: one wait still (it was the opening, then ``begin_cycle``'s unit); a stale epoch
    begins nothing."""
    store._handle.conn.execute("INSERT INTO hybridsync_leases (key, epoch) VALUES ('source:corp', 3)")
    store.set_fence("source:corp", 3)
    with waits(monkeypatch) as counts:
        got = store.cycle_opening("corp", ["app"], T0, begin_cycle_at=T0)
    assert sum(counts.values()) == 1, counts
    assert store._raw.execute("SHOW synchronous_commit").fetchone()[0] == "on"
    assert [c.id for c in store.last_cycles(5)] == [got.cycle_id] and got.cycle_mode == "full"
    store._raw.execute("UPDATE hybridsync_leases SET epoch = 4 WHERE key = 'source:corp'")  # taken over
    with pytest.raises(LeaseLost):
        store.cycle_opening("corp", ["app"], T0, begin_cycle_at=T0)
    store.set_fence("source:corp", None)
    assert [c.id for c in store.last_cycles(5)] == [got.cycle_id]


@pytest.mark.postgres
def test_unfenced_intents_are_one_statement_without_begin_or_commit_and_durable(store, monkeypatch, sent):
    """ONE ``INSERT ... RETURNING`` in autocommit mode is its own transaction, durable at once
    (an intent is on disk before its target call): the WAL is flushed up to it when it
    returns; the next unit's id blocks come in the same statement, drawn after its rows."""
    store.journal_done(store.journal_intents(None, [intent(0)]))  # the first reads the column types (once)
    with store.atomic():  # and the first batch of history rows reads that table's column types
        first = store.record_observation(None, "corp", "a0", None, None, {"x": 0})
    sent.clear()
    with waits(monkeypatch) as counts:
        ids = store.journal_intents(None, [intent(n) for n in (5, 1, 9)])
    texts = list(sent)
    assert not _unflushed(store)
    assert sum(counts.values()) == 1, counts
    assert len(texts) == 1 and texts[0].startswith("WITH ins AS (INSERT INTO journal"), texts  # was 4 statements
    assert [(i.id, i.action.anchor) for i in store.pending_intents()] == list(zip(ids, ["A0005", "A0001", "A0009"]))
    with waits(monkeypatch) as counts:
        with store.atomic():
            later = store.record_observation(None, "corp", "a1", None, None, {"x": 1})
    assert sum(counts.values()) == 1, counts  # its ids were reserved by the journal's statement
    assert first < later

"""Replay from a store whose recordings are compressed (format 5, statestore/codec.py), and from
one whose rows are plain JSON as an older format wrote them: both reproduce every decision."""

from __future__ import annotations

from hybridsync.engine.audit.replay import replay_store
from hybridsync.statestore import Store
from hybridsync.statestore.codec import ZLIB, unpack

from .test_replay import CONFIG, record_history


def stored(store: Store) -> list[str]:
    return [r[0] for r in store._conn.execute("SELECT batch_json FROM batches ORDER BY id")]


def test_replay_reads_compressed_recordings_and_reproduces_every_decision():
    store = Store.open(":memory:")
    record_history(store)
    kept = stored(store)
    assert sum(k.startswith(ZLIB) for k in kept) >= 3  # the full read's pages were kept compressed
    report = replay_store(store, CONFIG)
    assert report.reproduced, report.divergence and report.divergence.lines()
    assert report.decisions == sum(1 for _ in store.decisions()) > 10


def test_replay_reads_plain_rows_of_an_older_format_alike():
    store = Store.open(":memory:")
    record_history(store)
    with store.atomic():  # what a store of format <= 4 holds: every row plain JSON
        for (row_id, text) in list(store._conn.execute("SELECT id, batch_json FROM batches")):
            store._conn.execute("UPDATE batches SET batch_json = ? WHERE id = ?", [unpack(text), row_id])
        for (row_id, text) in list(store._conn.execute("SELECT id, call_json FROM target_calls")):
            store._conn.execute("UPDATE target_calls SET call_json = ? WHERE id = ?", [unpack(text), row_id])
    assert not any(k.startswith("~") for k in stored(store))
    report = replay_store(store, CONFIG)
    assert report.reproduced, report.divergence and report.divergence.lines()
    assert report.decisions == sum(1 for _ in store.decisions()) > 10

"""Format 5 (``m005_compressed_recordings``) on a store migrated in place: the plain recordings
an older format wrote stay readable as they are (no row is rewritten), new ones are compressed
beside them, and replay-facing reads give back the texts exactly. SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from hybridsync.statestore import Store
from hybridsync.statestore import migrations as mig
from hybridsync.statestore.codec import ZLIB

OLD = [json.dumps({"objects": [{"anchor": f"a{i}", "dn": f"CN=Ü{i}"} for i in range(100)]}, ensure_ascii=False),
       '{"page": 2}']
CALL = json.dumps({"op": "list_owned", "key": "k", "result": {"found": [{"id": i} for i in range(100)]}})
NEW = json.dumps({"objects": [{"anchor": f"n{i}"} for i in range(100)]})
AT = "2026-01-01T00:00:00.000000+00:00"


def write_old_rows(execute) -> None:
    """Rows as a format-3 store holds them: plain JSON, written without the codec."""
    for text in OLD:
        execute("INSERT INTO batches (cycle_id, source, at, batch_json) VALUES (1, 'corp', ?, ?)", [AT, text])
    execute("INSERT INTO target_calls (cycle_id, target, at, call_json) VALUES (1, 'app', ?, ?)", [AT, CALL])


def check_migrated(store, kept) -> None:
    assert store.format_version == mig.FORMAT_VERSION
    assert kept("batches", "batch_json") == OLD  # not rewritten
    store.record_batch(2, "corp", NEW)
    assert [b.batch_json for b in store.iter_batches()] == [*OLD, NEW]
    assert [c.call_json for c in store.iter_calls()] == [CALL]
    assert kept("batches", "batch_json")[2].startswith(ZLIB)


def test_a_format_3_sqlite_store_keeps_its_plain_recordings_readable(tmp_path):
    old = Store.open(tmp_path / "s.db", _stop_before="m004_reports_by_manager")
    assert old.format_version == 3
    write_old_rows(lambda sql, p: old._conn.execute(sql, p))
    old.close()
    with Store.open(tmp_path / "s.db") as s:
        check_migrated(s, lambda t, c: [r[0] for r in s._conn.execute(f"SELECT {c} FROM {t} ORDER BY id")])


@pytest.mark.postgres
def test_a_format_3_postgres_schema_keeps_its_plain_recordings_readable(pg_server, pg_schema):
    from hybridsync.statestore.postgres.store import PostgresStore

    pw = pg_server.connect_kwargs()["password"]
    old = PostgresStore.open(pg_server.url, schema=pg_schema, password=pw, _stop_before="m004_reports_by_manager")
    try:
        assert old.format_version == 3
        write_old_rows(lambda sql, p: old._raw.execute(sql.replace("?", "%s"), p))
    finally:
        old.close()
    s = PostgresStore.open(pg_server.url, schema=pg_schema, password=pw)
    try:
        check_migrated(s, lambda t, c: [r[c] for r in s._handle.rows(f"SELECT {c} FROM {t} ORDER BY id")])
    finally:
        s.close()

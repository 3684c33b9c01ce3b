"""The SQLite store: it passes the store conformance kit (``StoreContract``), plus what only a
SQLite file can show (WAL and sync settings, migrations, foreign files, the member diff)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import IO

import pytest

from hybridsync.engine.core.values import ObjectKind, evolve
from hybridsync.statestore import StateStore, Store, StoreCorrupt
from hybridsync.statestore import migrations as mig
from hybridsync.statestore.testing.contract import StoreContract
from hybridsync.statestore.testing.samples import G, intent, obj


class TestSqliteStore(StoreContract):
    def make_store(self, path: Path) -> StateStore:
        return Store.open(path / "state.db")

    def load_store(self, fp: IO[str], path: Path) -> StateStore:
        return Store.load(fp, path / "state.db")

    def scratch_store(self, tmp_path_factory: pytest.TempPathFactory) -> StateStore:
        return Store.open(":memory:")  # the model test's examples need no file


@pytest.fixture
def store():
    s = Store.open(":memory:")
    yield s
    s.close()


def test_a_file_store_is_in_wal_mode_with_full_sync_and_records_its_format(tmp_path):
    with Store.open(tmp_path / "s.db") as s:
        assert s._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert s.format_version == mig.FORMAT_VERSION
    with Store.open(tmp_path / "s.db") as s:  # reopening migrates nothing twice
        assert [m.name for m in mig.migrations.applied(s._db)] == ["m001_initial_schema", "m002_target_calls",
                                                                  "m003_write_only_salt", "m004_reports_by_manager",
                                                                  "m005_compressed_recordings"]


def test_a_cycle_s_rows_commit_without_a_sync_of_their_own_and_every_unit_stays_full(tmp_path):
    """``begin_cycle`` / ``end_cycle`` alone commit with ``synchronous = NORMAL`` (no fsync of the
    WAL; the next FULL commit syncs it, them included): 2 syncing commits per delta cycle, not
    4. Inside a unit, and for every other write, FULL as before."""
    with Store.open(tmp_path / "s.db") as s:
        said: list[str] = []
        s._conn.set_trace_callback(said.append)
        cid = s.begin_cycle("corp", "delta")
        with s.atomic():
            s.put_object(obj("A1"))
        s.end_cycle(cid, status="ok", counts={}, duration_s=0.1)
        s._conn.set_trace_callback(None)
        pragmas = [q for q in said if q.startswith("PRAGMA synchronous =")]
        assert pragmas == ["PRAGMA synchronous = NORMAL", "PRAGMA synchronous = 2"] * 2, said
        begin, unit = said.index("PRAGMA synchronous = 2"), [i for i, q in enumerate(said) if "INTO objects" in q]
        assert unit and begin < unit[0] and not [q for q in said[begin:unit[-1]] if "NORMAL" in q]
        assert s._conn.execute("PRAGMA synchronous").fetchone()[0] == 2
        said.clear()
        s._conn.set_trace_callback(said.append)
        with s.atomic():  # inside a unit: the unit's own commit decides
            s.end_cycle(s.begin_cycle("corp", "delta"), status="ok", counts={}, duration_s=0.1)
        s._conn.set_trace_callback(None)
        assert not [q for q in said if q.startswith("PRAGMA")], said
    with Store.open(tmp_path / "n.db", synchronous="NORMAL") as s:  # NORMAL already: nothing to relax
        said = []
        s._conn.set_trace_callback(said.append)
        s.begin_cycle("corp", "delta")
        s._conn.set_trace_callback(None)
        assert not [q for q in said if q.startswith("PRAGMA synchronous =")], said


def test_a_format_1_store_is_migrated_to_record_target_calls_and_keeps_its_rows(tmp_path):
    old = Store.open(tmp_path / "v1.db", _stop_before="m002_target_calls")
    assert old.format_version == 1
    old.meta_set("kept", "yes")
    old.close()
    with Store.open(tmp_path / "v1.db") as s:
        assert s.format_version == mig.FORMAT_VERSION == 5 and s.meta_get("kept") == "yes"
        s.record_call(7, "app", '{"op": "create"}')
        assert [(c.cycle_id, c.target) for c in s.iter_calls(cycle_id=7)] == [(7, "app")]


def test_a_non_sqlite_file_raises_store_corrupt_naming_the_file(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"\x00garbage" * 512)
    with pytest.raises(StoreCorrupt) as info:
        Store.open(bad)
    assert info.value.path == str(bad) and str(bad) in str(info.value)


def test_a_store_from_a_newer_hybridsync_is_refused_not_migrated(tmp_path):
    path = tmp_path / "s.db"
    with Store.open(path) as s:
        s.meta_set("format_version", mig.FORMAT_VERSION + 1)
    with pytest.raises(StoreCorrupt, match="newer"):
        Store.open(path)


def test_another_programs_database_is_not_taken_over(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE photos (id INTEGER)")
    with pytest.raises(StoreCorrupt, match="not a hybridsync state store"):
        Store.open(path)
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"photos"}


def test_a_readonly_open_never_creates_a_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        Store.open(tmp_path / "missing.db", readonly=True)
    assert not (tmp_path / "missing.db").exists()


def test_a_large_group_change_writes_only_the_member_diff(store):
    big = frozenset(f"m{i:05d}" for i in range(50_000))
    group = obj(kind=ObjectKind.GROUP, members=big)
    store.put_object(group)
    changes: list[str] = []
    store._conn.set_trace_callback(changes.append)
    store.put_object(evolve(group, members=(big - {"m00001"}) | {"new"}))
    store._conn.set_trace_callback(None)
    writes = [c for c in changes if c.startswith(("INSERT INTO object_members", "DELETE FROM object_members"))]
    assert len(writes) == 2, writes
    assert store.get_object("corp", G).members == (big - {"m00001"}) | {"new"}



def test_intents_settled_with_their_outcomes_leave_no_row(tmp_path):
    with Store.open(tmp_path / "s.db") as s:
        ids = s.journal_intents(1, [intent(n) for n in range(1200)])
        with s.atomic():
            s.journal_done(ids[:1100])
        assert [p.id for p in s.pending_intents()] == ids[1100:]
        assert s._conn.execute("SELECT count(*) FROM journal").fetchone()[0] == 100

"""The PostgreSQL store passes the store conformance kit (``StoreContract``, with its
Hypothesis state machine) against the lab PostgreSQL, plus what only PostgreSQL shows: the
translated schema equals SQLite's, migrations recorded once, a foreign or newer schema refused,
the password never shown, and a SQLite dump loading into PostgreSQL and dumping back the same."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import IO

import pytest

from hybridsync.statestore import StateStore, Store, StoreCorrupt
from hybridsync.statestore import migrations as mig
from hybridsync.statestore.postgres import schema as pgschema
from hybridsync.statestore.postgres.store import PostgresStore, redact
from hybridsync.statestore.testing.contract import StoreContract
from hybridsync.statestore.testing.samples import G, intent, obj

pytestmark = pytest.mark.postgres


def schema_for(path: Path) -> str:
    return "kit_" + hashlib.sha1(str(path).encode()).hexdigest()[:16]


@pytest.fixture
def pg(pg_server):
    def open_store(schema: str, **kw) -> PostgresStore:
        return PostgresStore.open(pg_server.url, schema=schema, password=pw(pg_server), **kw)
    return open_store


def pw(pg_server) -> str:
    return pg_server.connect_kwargs()["password"]


class TestPostgresStore(StoreContract):
    @pytest.fixture(autouse=True)
    def _server(self, pg_server):
        self.server = pg_server

    def _password(self) -> str:
        return self.server.connect_kwargs()["password"]

    def make_store(self, path: Path) -> StateStore:
        return PostgresStore.open(self.server.url, schema=schema_for(path), password=self._password())

    def load_store(self, fp: IO[str], path: Path) -> StateStore:
        return PostgresStore.load(fp, self.server.url, schema=schema_for(path), password=self._password())

    def scratch_store(self, tmp_path_factory: pytest.TempPathFactory) -> StateStore:
        # one schema for every example, emptied: creating a schema per example costs ~10x more
        s = PostgresStore.open(self.server.url, schema="kit_scratch", password=self._password())
        with s.atomic():
            for table in mig.TABLES:
                s._handle.conn.execute(f"TRUNCATE {table} RESTART IDENTITY")
            pgschema.set_format_version(s._raw)
        return s


def _columns_sqlite(store: Store) -> dict[str, list[str]]:
    return {t: [r[1] for r in store._conn.execute(f"PRAGMA table_info({t})")] for t in mig.TABLES}


def test_the_schema_has_sqlites_tables_and_columns_in_the_same_order(pg, pg_schema):
    with Store.open(":memory:") as lite, pg(pg_schema) as s:
        assert {t: pgschema.columns(s._raw, t) for t in mig.TABLES} == _columns_sqlite(lite)
        assert s.format_version == mig.FORMAT_VERSION
        assert pgschema.applied_migrations(s._raw) == ["m001_initial_schema", "m002_target_calls",
                                                       "m003_write_only_salt", "m004_reports_by_manager",
                                                       "m005_compressed_recordings"]
    with pg(pg_schema) as s:  # reopening migrates nothing twice
        assert pgschema.applied_migrations(s._raw) == ["m001_initial_schema", "m002_target_calls",
                                                       "m003_write_only_salt", "m004_reports_by_manager",
                                                       "m005_compressed_recordings"]


def test_a_format_1_schema_is_migrated_and_keeps_its_rows(pg, pg_schema):
    old = pg(pg_schema, _stop_before="m002_target_calls")
    assert old.format_version == 1
    old.meta_set("kept", "yes")
    old.close()
    with pg(pg_schema) as s:
        assert s.format_version == mig.FORMAT_VERSION and s.meta_get("kept") == "yes"
        assert s.meta_get("write_only_salt")["from_cycle"] == 1  # made by the migration
        s.record_call(7, "app", '{"op": "create"}')
        assert [c.cycle_id for c in s.iter_calls(cycle_id=7)] == [7]


def test_a_foreign_schema_or_a_newer_format_is_refused(pg, pg_server, pg_schema):
    with pg_server.connect(autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{pg_schema}"')
        conn.execute(f'CREATE TABLE "{pg_schema}".invoices (id int)')
    with pytest.raises(StoreCorrupt, match="not a hybridsync state store"):
        pg(pg_schema)
    with pg_server.connect(autocommit=True) as conn:
        conn.execute(f'DROP TABLE "{pg_schema}".invoices')
    with pg(pg_schema) as s:
        s.meta_set("format_version", 99)
    with pytest.raises(StoreCorrupt, match="upgrade hybridsync"):
        pg(pg_schema)


def test_the_password_is_never_in_the_path_or_an_error(pg_server):
    url = pg_server.url.replace("hybridsync@", "hybridsync:wrong-secret@")
    assert "wrong-secret" not in redact(url)
    with pytest.raises(StoreCorrupt) as info:
        PostgresStore.open(url, schema="nowhere")
    assert "wrong-secret" not in str(info.value) and "127.0.0.1" in str(info.value)


def test_a_read_only_store_reads_but_never_writes(pg, pg_schema):
    with pg(pg_schema) as s:
        s.put_object(obj())
    with pg(pg_schema, readonly=True) as ro:
        assert ro.get_object("corp", G) is not None
        with pytest.raises(Exception, match="read-only"):
            ro.meta_set("x", 1)


def test_a_sqlite_dump_loads_into_postgres_and_dumps_back_the_same(pg_server, pg_schema, tmp_path):
    with Store.open(tmp_path / "s.db") as lite:
        lite.put_object(obj(attributes={"displayName": "Ünïcode \x00 \ue000"}))
        lite.journal_intent(1, intent(1))
        lite.begin_cycle("corp", "full")
        buf = io.StringIO()
        lite.dump(buf)
    buf.seek(0)
    with PostgresStore.load(buf, pg_server.url, schema=pg_schema, password=pw(pg_server)) as s:
        out = io.StringIO()
        s.dump(out)
        assert out.getvalue() == buf.getvalue()
        assert s.begin_cycle("corp", "delta") == 2  # the identity moved past the loaded ids
        buf.seek(0)
        with pytest.raises(FileExistsError):
            PostgresStore.load(buf, pg_server.url, schema=pg_schema, password=pw(pg_server))


@pytest.mark.slow
class TestFencedPostgresStore(TestPostgresStore):
    """The whole kit again with every commit unit fenced by a lease epoch that stays current:
    fencing changes nothing a leader sees (what a stale epoch does is in test_lease.py)."""

    def _fenced(self, store: PostgresStore) -> PostgresStore:
        store._handle.conn.execute(
            "INSERT INTO hybridsync_leases (key, epoch) VALUES ('source:corp', 7) ON CONFLICT (key) DO UPDATE SET epoch = 7")
        store.set_fence("source:corp", 7)
        return store

    def make_store(self, path: Path) -> StateStore:
        return self._fenced(super().make_store(path))

    def load_store(self, fp: IO[str], path: Path) -> StateStore:
        return self._fenced(super().load_store(fp, path))

    def scratch_store(self, tmp_path_factory: pytest.TempPathFactory) -> StateStore:
        return self._fenced(super().scratch_store(tmp_path_factory))


def test_a_fenced_store_refuses_every_kind_of_commit_once_its_epoch_is_stale(pg, pg_schema):
    from hybridsync.statestore.postgres.handle import LeaseLost

    with pg(pg_schema) as s:
        s._handle.conn.execute("INSERT INTO hybridsync_leases (key, epoch) VALUES ('source:corp', 3)")
        s.set_fence("source:corp", 2)
        for write in (lambda: s.put_object(obj()), lambda: s.meta_set("k", 1),
                      lambda: s.journal_intent(1, intent(1)), lambda: s.begin_cycle("corp", "delta")):
            with pytest.raises(LeaseLost, match="epoch 2 is no longer current"):
                write()
        with pytest.raises(LeaseLost), s.atomic():
            s.put_object(obj())
        assert s.stale_refusals == 5
        s.set_fence("source:corp", None)
        assert s.get_object("corp", G) is None and s.meta_get("k") is None and s.pending_intents() == []
        assert s.last_cycles() == []


def test_a_commit_units_buffered_writes_are_seen_by_its_reads_and_go_with_a_savepoint(pg, pg_schema):
    """Inside a unit, inserts take reserved ids and writes are buffered (``PgDb.defer``): every
    read in the unit still sees them, a rolled-back savepoint takes its own with it, and the ids
    grow in the order of the calls."""
    from hybridsync.engine.core.values import ActionKind, ObjectKind, TargetState
    from hybridsync.statestore.testing.samples import act

    with pg(pg_schema) as s:
        with s.atomic():
            s.put_object(obj())
            first = s.record_decision(1, act(ActionKind.UPDATE), result="done")
            assert s.get_object("corp", G) is not None  # read-your-writes through the buffer
            s.put_target_state(TargetState(anchor=G, target="app", kind=ObjectKind.USER, state="provisioned"))
            assert s.get_target_state("app", G).state == "provisioned"
            assert [r.id for r in s.decisions()] == [first]
            with pytest.raises(RuntimeError), s.atomic():
                s.record_decision(2, act(ActionKind.DELETE), result="done")
                s.put_target_state(TargetState(anchor=G, target="app", kind=ObjectKind.USER, state="disabled"))
                raise RuntimeError("roll the savepoint back")
            second = s.record_decision(3, act(ActionKind.CREATE), result="done")
            assert second > first
        assert [(r.id, r.cycle_id) for r in s.decisions()] == [(first, 1), (second, 3)]
        assert s.get_target_state("app", G).state == "provisioned"
        with pytest.raises(RuntimeError), s.atomic():  # a failed unit leaves nothing, buffered or not
            s.record_decision(4, act(ActionKind.UPDATE), result="done")
            s.put_object(obj(anchor="OTHERAAAAAAAAAAAAAAAAA=="))
            raise RuntimeError("boom")
        assert [r.cycle_id for r in s.decisions()] == [1, 3] and s.get_object("corp", "OTHERAAAAAAAAAAAAAAAAA==") is None


def test_batched_writes_of_a_unit_store_what_one_statement_per_row_stores(pg, pg_schema, tmp_path, monkeypatch):
    """A unit's buffered inserts, upserts and deletes go out as one statement over arrays
    (``send.send_many``, ``parts._put_objects``), and the writes of one flush as one statement of
    data-modifying CTEs (``send.send_groups``); they store the same rows as SQLite (one statement
    per row): NUL and U+E000 in values, NULLs, a DN change seen by dn_history, group members
    written and dropped, history rows of two kinds, and an anchor written twice in one unit (which
    the array form may not do: it falls back)."""
    import psycopg

    from hybridsync.engine.core.values import ActionKind, ObjectKind, TargetState
    from hybridsync.statestore.postgres import parts, send
    from hybridsync.statestore.testing.samples import act

    sent: list[str] = []
    real_shape, real_objects, real_execute = send._batch_shape, parts._put_objects, psycopg.Cursor.execute
    monkeypatch.setattr(send, "_batch_shape", lambda sql: (sent.append(sql[:30]), real_shape(sql))[1])
    monkeypatch.setattr(psycopg.Cursor, "execute", lambda cur, query, *a, **k: (
        sent.append("combined") if str(query).startswith("WITH hs_w") else None, real_execute(cur, query, *a, **k))[1])
    monkeypatch.setitem(send.BATCH_FORMS, parts._PUT_OBJECT,
                        lambda db, cur, rows: (sent.append("objects"), real_objects(db, cur, rows))[1])
    anchors = [f"A{i:03d}AAAAAAAAAAAAAAAAA==" for i in range(40)]

    def work(s) -> None:
        with s.atomic():
            for i, a in enumerate(anchors):
                s.put_object(obj(anchor=a, attributes={"cn": (f"x\x00{i}\ue000",), "title": ("t", "u\ue0000")},
                                 usn=i, deleted=i % 7 == 0))
                s.put_target_state(TargetState(anchor=a, target="app", kind=ObjectKind.USER, state="provisioned",
                                               target_id=None if i % 3 else f"id\x00{i}", last_error=None))
        with s.atomic():
            for i, a in enumerate(anchors[:20]):
                s.put_object(obj(anchor=a, dn=f"CN=moved{i},OU=Staff,DC=lab,DC=test", usn=100 + i))
                s.put_target_state(TargetState(anchor=a, target="app", kind=ObjectKind.USER, state="disabled"))
            for i, a in enumerate(anchors[20:30]):  # the same DN again: no new dn_history row
                s.put_object(obj(anchor=a, usn=300 + i))
        with s.atomic():  # groups with members, then without; history of objects and of target calls
            for i, a in enumerate(anchors[30:]):
                members = frozenset(anchors[:i + 1]) if i % 2 else frozenset()
                s.put_object(obj(anchor=a, kind=ObjectKind.GROUP, members=members, usn=400 + i))
                s.put_target_state(TargetState(anchor=a, target="app", kind=ObjectKind.GROUP, state="provisioned",
                                               members_sent=members))
                s.record_observation(None, "corp", a, f"CN={a}", None, {"n": i})
                s.record_decision(None, act(ActionKind.UPDATE, anchor=a), result="done")
        with s.atomic():
            for i, a in enumerate(anchors[30:]):
                members = frozenset() if i % 2 else frozenset(anchors[-3:])
                s.put_object(obj(anchor=a, kind=ObjectKind.GROUP, members=members, usn=500 + i))
                s.put_target_state(TargetState(anchor=a, target="app", kind=ObjectKind.GROUP, state="provisioned",
                                               members_sent=members))
        with s.atomic():
            s.put_object(obj(anchor=anchors[2], dn="CN=other,OU=Staff,DC=lab,DC=test", usn=199))
            s.put_object(obj(anchor=anchors[0], dn="CN=twice,OU=Staff,DC=lab,DC=test", usn=200))  # same key again
            s.put_target_state(TargetState(anchor=anchors[1], target="app", kind=ObjectKind.USER, state="deleted"))

    def seen(s) -> tuple:
        return (s.get_objects("corp", anchors), s.get_target_states("app", anchors),
                [(r.kind, r.anchor, r.change, r.result) for r in s.history(anchor=anchors)],
                {a: [dn for dn, _ in s.dn_history("corp", a)] for a in anchors},
                sorted((t.anchor, t.state, t.target_id) for t in s.iter_target_states("app")))

    lite = Store.open(tmp_path / "lite.db")
    work(lite)
    with pg(pg_schema) as s:
        work(s)
        assert seen(s) == seen(lite)
        assert s.get_object("corp", anchors[0]).dn.startswith("CN=twice")
    lite.close()
    assert "objects" in sent and any("INSERT INTO target_states" in x for x in sent), sent  # the array paths ran
    assert "combined" in sent, sent  # and several of a flush's writes went as one statement


@pytest.mark.parametrize("refused_at", range(8))
def test_a_refused_commit_unit_leaves_the_connection_able_to_commit(pg, pg_server, pg_schema, refused_at):
    """Found by test_ha_machine: psycopg prepares a statement on its 6th run (prepare_threshold 5)
    by sending a Parse in the pipeline. When that run falls in a unit whose fence check fails, the
    server skips the Parse but psycopg keeps the name; it forgets its names on a ROLLBACK only the
    first time it sees one. So after a second refusal every later unit failed on that connection
    with 'prepared statement "_pg3_2" does not exist' (the COMMIT): a process that had lost a
    lease twice could never commit again (it took leases and lost them, hundreds of epochs).
    Whichever unit is refused, the next one under a current epoch commits."""
    import psycopg

    from hybridsync.statestore.postgres.handle import LeaseLost

    with pg(pg_schema) as s, psycopg.connect(**pg_server.connect_kwargs(), autocommit=True) as other:
        def take(n: int) -> None:  # another process takes the lease
            other.execute(f'UPDATE "{pg_schema}".hybridsync_leases SET epoch = %s WHERE key = %s', [n, "source:corp"])

        def unit(i: int, epoch: int) -> None:  # what leads() writes (history: ids reserved), and a meta row
            with s.atomic():
                s.record_leader("corp", host="h", pid=i, epoch=epoch)
                s.meta_set("k", i)

        other.execute(f'INSERT INTO "{pg_schema}".hybridsync_leases (key, epoch) VALUES (%s, 1)', ["source:corp"])
        s.set_fence("source:corp", 1)
        unit(0, 1)
        take(2)
        with pytest.raises(LeaseLost):  # a first refusal (psycopg's first ROLLBACK)
            unit(-1, 1)
        s.set_fence("source:corp", 2)  # taken back
        for i in range(refused_at):
            unit(i + 1, 2)
        take(3)
        with pytest.raises(LeaseLost):  # a second one, its unit at each run count in turn
            unit(-2, 2)
        s.set_fence("source:corp", 3)  # taken back again
        for i in range(8):  # every statement of a unit past its prepare threshold
            unit(100 + i, 3)
        assert s.meta_get("k") == 107
        assert [r.change["epoch"] for r in s.history(kinds=["leader"])] == [1] + [2] * refused_at + [3] * 8


@pytest.mark.parametrize("runs_before", range(8))
def test_a_failed_savepoint_leaves_its_unit_and_the_connection_able_to_commit(pg, pg_schema, runs_before):
    """The same psycopg hazard inside a unit: a statement promoted to prepared behind a failed
    statement of a savepoint (a nested ``atomic``) was never prepared; the unit and every later
    one must still commit its runs of that statement."""
    import psycopg

    with pg(pg_schema) as s:
        raw = s._handle.conn.raw
        with s.atomic():
            s.meta_set("seen", "first")  # psycopg's first ROLLBACK is behind us
            with pytest.raises(psycopg.Error), s.atomic():
                raw.execute("SELECT 1/0")
        for i in range(runs_before):
            with s.atomic():
                s.meta_set("k", i)
        with s.atomic():
            with pytest.raises(psycopg.Error), s.atomic():
                raw.execute("SELECT 1/0")  # fails the savepoint: what follows it is skipped
                s.meta_set("k", "skipped")
            for i in range(8):
                s.meta_set("k", f"in the unit {i}")
        for i in range(8):
            with s.atomic():
                s.meta_set("k", f"after {i}")
        assert s.meta_get("k") == "after 7" and s.meta_get("seen") == "first"

"""Round trips and statement texts on PostgreSQL: ``cycle_opening`` answers its questions in ONE
statement, and a delta cycle of the engine asks the store's per-cycle questions through it -- a
10-change delta cycle waits for the server 10 times (it was 23: each question alone; the
journal's intents are one INSERT ... RETURNING whose ids come with the COMMIT, and that COMMIT's
wait also reserves the id blocks of the page's commit unit, which then waits only for the
watermark check and its COMMIT).

A round trip is a blocking wait of psycopg for the server (``Connection.wait``), not counting
the sends of a pipeline (``_execute_gen`` in pipeline mode: nothing to wait for) and entering one.
A long ``IN (?, ...)`` list goes as one array parameter (``collapse_in``): one statement text for
any length, which psycopg parses once (it re-parses a text with more than 50 parameters).
"""

from __future__ import annotations

import base64
import collections
import contextlib
import traceback
from collections.abc import Iterator
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import Connection

from hybridsync.connectors.testing.memory import GeneratedSource, MemoryTarget
from hybridsync.engine.core.config import Config, ScopeConfig, SourceConfig, StateConfig, TargetConfig
from hybridsync.engine.core.values import ObjectKind, SourceObject, TargetState
from hybridsync.engine.runtime.engine import Engine
from hybridsync.statestore.postgres.batch import collapse_in
from hybridsync.statestore.postgres.store import PostgresStore
from hybridsync.statestore.testing.samples import T0, act, obj

STAFF = "OU=Staff,DC=lab,DC=test"


@contextlib.contextmanager
def waits(monkeypatch: pytest.MonkeyPatch) -> Iterator[collections.Counter[str]]:
    """Counts the round trips made inside the block, by the store method that made them."""
    counts: collections.Counter[str] = collections.Counter()
    orig = Connection.wait

    def wait(self, gen, *args, **kwargs):  # type: ignore[no-untyped-def]
        name = getattr(gen, "__name__", "")
        if name != "_enter_gen" and not (self._pipeline is not None and name == "_execute_gen"):
            methods = [f.name for f in traceback.extract_stack() if "/statestore/" in f.filename
                       and "/tests/" not in f.filename and not f.filename.endswith("handle.py")]
            counts[methods[0] if methods else "?"] += 1
        return orig(self, gen, *args, **kwargs)

    monkeypatch.setattr(Connection, "wait", wait)
    yield counts
    monkeypatch.setattr(Connection, "wait", orig)


@pytest.fixture
def store(pg_server, pg_schema):
    s = PostgresStore.open(pg_server.url, schema=pg_schema, password=pg_server.connect_kwargs()["password"])
    yield s
    s.close()


@pytest.mark.postgres
def test_the_cycle_opening_is_one_round_trip_whatever_it_asks(store, monkeypatch):
    store.hold(act(anchor="h1"), "threshold", at=T0)
    store.approve_held("app", by="alice", at=T0)
    store.quarantine("other", "5xx", T0, at=T0)
    store.meta_set("k", 1)
    with waits(monkeypatch) as counts:
        got = store.cycle_opening("corp", ["app", "other", "hr"], T0, removals_since=T0 - timedelta(days=1),
                                  meta_keys=["k", "engine.grace_scan_at.app"])
    assert sum(counts.values()) == 1, counts
    assert [h.anchor for h in got.approved["app"]] == ["h1"] and got.meta == {"k": 1}
    with waits(monkeypatch) as counts:  # the same questions one by one
        store.get_cursor("corp"), store.last_complete_round("corp"), store.pending_intents(), store.quarantined()
        for name in ("app", "other", "hr"):
            store.approved_actions(name), store.due_retries(name, T0), store.access_removals(name, T0)
        store.meta_get("k"), store.meta_get("engine.grace_scan_at.app")
    assert sum(counts.values()) == 15, counts


def _engine(store: PostgresStore, n: int) -> tuple[Engine, GeneratedSource]:
    def guid(i: int) -> str:
        return base64.b64encode(i.to_bytes(16, "big")).decode()

    def factory(i: int) -> SourceObject:
        if i == 0:
            return SourceObject(anchor=guid(0), object_guid=guid(0), kind=ObjectKind.GROUP, dn=f"CN=g0,{STAFF}",
                                attributes={"cn": "g0"}, members=frozenset(guid(j) for j in range(1, n)))
        return SourceObject(anchor=guid(i), object_guid=guid(i), kind=ObjectKind.USER, dn=f"CN=u{i},{STAFF}",
                            attributes={"userprincipalname": f"u{i}@lab.test", "givenname": f"G{i}", "sn": f"S{i}",
                                        "displayname": f"User {i}", "useraccountcontrol": "512"})

    src = GeneratedSource(n, factory)
    config = Config(sources=(SourceConfig(name="corp", kind="memory", base_dn="DC=lab,DC=test",
                                          scope=ScopeConfig(include_ous=(STAFF,))),),
                    targets=(TargetConfig(name="app", kind="memory"),), state=StateConfig(path=":memory:"))
    engine = Engine(config, store=store, sources={"corp": src}, targets={"app": MemoryTarget("app", lean=True)})
    return engine, src


@pytest.mark.postgres
def test_a_delta_cycle_asks_its_opening_questions_in_one_round_trip(store, monkeypatch):
    engine, src = _engine(store, 40)
    try:
        engine.run_once()
        engine.run_once()
        with waits(monkeypatch) as counts:
            report = engine.run_once()
        assert report.exit_code() == 0
        # the opening, begin_cycle, end_cycle, and the commit unit of the (empty) page
        assert counts["cycle_opening"] == 1 and sum(counts.values()) <= 6, counts
        for one_by_one in ("get_cursor", "meta_get", "quarantined", "pending_intents", "approved_actions",
                           "due_retries", "access_removals", "last_complete_round"):
            assert counts[one_by_one] == 0, counts
        for i in range(1, 11):
            src.modify(base64.b64encode(i.to_bytes(16, "big")).decode(), title="t")
        with waits(monkeypatch) as counts:
            report = engine.run_once()
        assert report.counts.get("update") == 10, report.counts
        # 23 when each question was its own round trip; 10 while a page's objects and target
        # states each read their rows, then their members, and the CAS read its row; 7 while
        # begin_cycle, the page's objects and its target states waited once each (wave 8): the
        # opening with the cycle's row, the page's reads, journal, the page's COMMIT and end
        assert sum(counts.values()) <= 5, counts
        assert counts["read_page"] == 1 and counts["cycle_opening"] == 1, counts
        assert counts["get_objects"] == counts["get_target_states"] == counts["begin_cycle"] == 0, counts
        assert counts["record_observation"] == 0, counts  # its ids were reserved with the journal's COMMIT
        assert counts["advance_watermark"] == 0, counts  # checked against the row its last CAS left
    finally:
        engine.close()


def test_a_long_in_list_becomes_one_array_parameter_and_short_ones_stay():
    marks = ",".join("?" * 20)
    sql, params = collapse_in(f"SELECT 1 FROM t WHERE s = ? AND a IN ({marks}) AND i NOT IN ({marks}) AND z = ?",
                              ["s", *(f"a{i}" for i in range(20)), *range(20), "z"])
    assert sql == ("SELECT 1 FROM t WHERE s = ? AND a = ANY(string_to_array(?, E'\\x1f', E'\\x1e')) "
                   "AND i <> ALL(string_to_array(?, ',', 'N')::bigint[]) AND z = ?")
    assert params == ["s", "\x1f".join(f"a{i}" for i in range(20)), ",".join(map(str, range(20))), "z"]
    awkward = ["x"] * 19 + ["a\x00b"]  # not joinable: a text array, escaped by nul.py's dumper
    assert collapse_in(f"SELECT 1 FROM t WHERE a IN ({marks})", awkward) == (
        "SELECT 1 FROM t WHERE a = ANY(?::text[])", [awkward])
    short = "SELECT 1 FROM t WHERE a IN (?,?)"
    assert collapse_in(short, ["a", "b"]) == (short, ["a", "b"])
    mixed = [1] * 19 + ["x"]
    assert collapse_in(f"SELECT 1 FROM t WHERE a IN ({marks})", mixed)[1] == mixed


@pytest.mark.postgres
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=st.lists(st.sampled_from(["", "\x00", "\ue000", "a\x1fb", "\x1e", "ä€😀", "o'q", "{x,y}", '"q"', "N"])
                      | st.text(max_size=5), max_size=30, unique=True))
def test_objects_and_target_states_by_many_anchors_come_back_whatever_the_anchor(store, extra):
    anchors = list(dict.fromkeys([f"A{i:03d}" for i in range(20)] + extra))
    members = {a: frozenset(extra[:i % 4] + [f"m{i}"]) if i % 3 == 0 else frozenset() for i, a in enumerate(anchors)}
    with store.atomic():
        for a in anchors:
            kind = ObjectKind.GROUP if members[a] else ObjectKind.USER
            store.put_object(obj(a, kind=kind, members=members[a]))
            store.put_target_state(TargetState(anchor=a, target="app", kind=kind, state="provisioned",
                                               members_sent=members[a]))
    asked = anchors + ["missing"]
    got = store.get_objects("corp", asked)
    assert sorted(got) == sorted(anchors)
    assert {a: o.members for a, o in got.items()} == members  # with its members, in the same statement
    states = store.get_target_states("app", asked)
    assert sorted(states) == sorted(anchors) and {a: t.members_sent for a, t in states.items()} == members
    assert store.get_objects("corp", [a + "-not" for a in anchors]) == {}


@pytest.mark.postgres
def test_journal_intents_are_one_round_trip_with_ids_in_the_order_of_the_actions(store, monkeypatch):
    from hybridsync.statestore.testing.samples import intent

    store.journal_done(store.journal_intents(None, [intent(0)]))  # the first reads the column types (once)
    with waits(monkeypatch) as counts:
        ids = store.journal_intents(None, [intent(n) for n in (5, 1, 9, 3)])
    assert sum(counts.values()) == 1, counts
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert [(i.id, i.action.anchor) for i in store.pending_intents()] == list(zip(ids, ["A0005", "A0001", "A0009",
                                                                                         "A0003"]))
    assert store.journal_intents(None, []) == []


@pytest.mark.postgres
def test_the_journal_commit_reserves_the_next_units_ids_which_grow_and_a_new_fence_drops(store, monkeypatch):
    from hybridsync.statestore.testing.samples import intent

    store.journal_done(store.journal_intents(None, [intent(0)]))  # the first reads the column types (once)
    with store.atomic():  # and the first batch of history rows reads that table's column types
        first = max(store.record_observation(None, "corp", "a0", None, None, {"x": n}) for n in (0, 1))
    store.journal_intents(None, [intent(1)])
    with waits(monkeypatch) as counts:
        with store.atomic():
            ids = [store.record_observation(None, "corp", f"a{n}", None, None, {"x": n}) for n in (1, 2)]
    assert sum(counts.values()) == 1, counts  # the COMMIT alone: no nextval
    assert first < ids[0] < ids[1]
    with waits(monkeypatch) as counts:  # the reserved blocks lived as long as that unit
        with store.atomic():
            later = store.record_observation(None, "corp", "a3", None, None, {"x": 3})
    assert sum(counts.values()) == 2, counts
    assert later > ids[1]
    store.journal_intents(None, [intent(2)])
    store.set_fence("other-lease", 7)  # a new epoch: blocks reserved before it are not used under it
    store.set_fence("other-lease", None)
    with waits(monkeypatch) as counts:
        with store.atomic():
            store.record_observation(None, "corp", "a4", None, None, {"x": 4})
    assert sum(counts.values()) == 2, counts


@pytest.mark.postgres
def test_a_fenced_unit_waits_once_its_fence_check_going_with_the_commit(store, monkeypatch):
    from hybridsync.statestore.postgres.handle import LeaseLost

    store._handle.conn.execute("INSERT INTO hybridsync_leases (key, epoch) VALUES ('source:corp', 3), ('source:b', 1)")
    store.set_fence("source:corp", 3)
    store.set_fence("source:b", 1)
    with waits(monkeypatch) as counts:
        with store.atomic():
            store.put_object(obj("A1"))
            store.meta_set("k", 1)
    assert sum(counts.values()) == 1, counts  # the check read before the COMMIT was a wait of its own
    store._raw.execute("UPDATE hybridsync_leases SET epoch = 4 WHERE key = 'source:corp'")  # taken over
    with pytest.raises(LeaseLost, match="'source:corp': epoch 3 is no longer current \\(now 4\\)"):
        with store.atomic():
            store.put_object(obj("A2"))
    store._raw.execute("DELETE FROM hybridsync_leases WHERE key = 'source:b'")  # released
    store.set_fence("source:corp", 4)
    with pytest.raises(LeaseLost, match="'source:b': epoch 1 is no longer current \\(now released\\)"):
        store.meta_set("k", 2)
    assert store.stale_refusals == 2
    store.set_fence("source:b", None)
    assert store.get_object("corp", "A1") is not None and store.get_object("corp", "A2") is None
    assert store.meta_get("k") == 1


@pytest.mark.postgres
def test_a_cycle_s_rows_wait_once_each_fenced_and_leave_the_session_durable(store, monkeypatch):
    """``begin_cycle`` / ``end_cycle`` commit with ``synchronous_commit`` off for their own
    transaction only (no WAL flush of their own: the cycle's next commit unit makes them
    durable) and wait for the server once each, fenced too (a fenced write alone was a sync
    for the statement, then one for the COMMIT)."""
    from hybridsync.statestore.postgres.handle import LeaseLost

    store._handle.conn.execute("INSERT INTO hybridsync_leases (key, epoch) VALUES ('source:corp', 3)")
    store.set_fence("source:corp", 3)
    with waits(monkeypatch) as counts:
        cid = store.begin_cycle("corp", "delta", at=T0)
    assert sum(counts.values()) == 1, counts
    assert store._raw.execute("SHOW synchronous_commit").fetchone()[0] == "on"
    with waits(monkeypatch) as counts:
        store.end_cycle(cid, status="ok", counts={"update": 1}, duration_s=0.1, at=T0)
    assert sum(counts.values()) == 1, counts
    assert store._raw.execute("SHOW synchronous_commit").fetchone()[0] == "on"
    store._raw.execute("UPDATE hybridsync_leases SET epoch = 4 WHERE key = 'source:corp'")  # taken over
    with pytest.raises(LeaseLost):
        store.begin_cycle("corp", "delta", at=T0)
    with pytest.raises(LeaseLost):
        store.end_cycle(cid, status="stale", counts={}, duration_s=0.1, at=T0)
    store.set_fence("source:corp", None)
    assert [(c.id, c.status) for c in store.last_cycles(5)] == [(cid, "ok")]
    with pytest.raises(KeyError, match="no cycle"):
        store.end_cycle(cid + 10**6, status="ok", counts={}, duration_s=0.0)


@pytest.mark.postgres
def test_the_cas_after_this_store_s_own_checks_without_a_wait_and_a_foreign_move_fails_its_unit(store, pg_server,
                                                                                                  pg_schema, monkeypatch):
    """After a CAS this store committed, the next one of that source checks against the row it
    left (no read: the unit waits once, for its COMMIT) and sends one guarded UPDATE; another
    writer's move in between fails the unit at its COMMIT with ``StaleWatermark`` and nothing
    of the unit is committed; a unit that rolls back forgets the row."""
    from hybridsync.engine.core.values import Refresh, UsnWatermark
    from hybridsync.statestore.errors import StaleWatermark, WatermarkRegression

    u = lambda n: UsnWatermark("dc1", n)  # noqa: E731
    assert store.advance_watermark("corp", "dc1", Refresh(), u(100)) == 1  # read and checked: no row known yet
    with store.atomic():
        store.put_object(obj("A0"))  # the first batch of objects reads that table's column types (once)
    with waits(monkeypatch) as counts:
        with store.atomic():
            store.put_object(obj("A1"))
            assert store.advance_watermark("corp", "dc1", u(100), u(200)) == 2
    assert sum(counts.values()) == 1, counts  # the COMMIT alone (the CAS read was a wait of its own)
    with pytest.raises(WatermarkRegression, match="backwards"):  # checked against the row it left
        store.advance_watermark("corp", "dc1", u(200), u(150))
    with pytest.raises(StaleWatermark):
        store.advance_watermark("corp", "dc1", u(100), u(300))
    other = PostgresStore.open(pg_server.url, schema=pg_schema, password=pg_server.connect_kwargs()["password"])
    try:
        assert other.advance_watermark("corp", "dc1", u(200), u(300)) == 3  # another writer moves it
    finally:
        other.close()
    with pytest.raises(StaleWatermark) as stale:  # this store still knows u(200): its unit fails at COMMIT
        with store.atomic():
            store.put_object(obj("A2"))
            store.advance_watermark("corp", "dc1", u(200), u(400))
    assert stale.value.stored == u(300)
    assert store.get_object("corp", "A2") is None and store.get_cursor("corp") == u(300)
    with pytest.raises(RuntimeError), store.atomic():  # read and checked again; then rolled back
        store.advance_watermark("corp", "dc1", u(300), u(400))
        raise RuntimeError("rolled back")
    assert store.get_cursor("corp") == u(300)
    assert store.advance_watermark("corp", "dc1", u(300), u(400)) == 4  # forgotten: read and checked
    assert store.advance_watermark("corp", "dc1", u(400), Refresh("full read due")) == 5
    with pytest.raises(WatermarkRegression, match="backwards"):  # the high USN kept through a Refresh
        store.advance_watermark("corp", "dc1", Refresh(), u(399))
    assert [(w.version, w.cursor) for w in store.watermarks("corp")] == [(5, Refresh("full read due"))]


@pytest.mark.postgres
def test_many_settled_intents_leave_no_dead_journal_pages_behind(store):
    """PostgreSQL keeps deleted journal rows (and their pending-index entries, which every
    cycle's opening reads) until a vacuum: after ``VACUUM_JOURNAL_AFTER`` settled intents the
    store vacuums the journal once the unit committed, and its file shrinks to what is pending."""
    from hybridsync.statestore.postgres.parts import VACUUM_JOURNAL_AFTER
    from hybridsync.statestore.testing.samples import intent

    ids = store.journal_intents(None, [intent(n) for n in range(VACUUM_JOURNAL_AFTER + 50)])
    assert store._raw.execute("SELECT pg_relation_size('journal')").fetchone()[0] > 8192 * 10
    with store.atomic():
        store.journal_done(ids[1:])  # the one left pending is in the first page
        assert store._raw.execute("SELECT pg_relation_size('journal')").fetchone()[0] > 0  # not inside the unit
    assert [i.id for i in store.pending_intents()] == ids[:1]
    assert store._raw.execute("SELECT pg_relation_size('journal')").fetchone()[0] <= 8192 * 2


@pytest.mark.postgres
def test_a_cycle_s_rows_unfenced_are_one_statement_each_and_not_flushed_by_their_commit(store, monkeypatch):
    """Unfenced, ``begin_cycle`` / ``end_cycle`` are ONE statement each (its own transaction in
    autocommit mode: no BEGIN, SET LOCAL and COMMIT) and still commit without a WAL flush of
    their own: right after either, the WAL is not flushed up to its commit (a durable commit
    flushes up to itself before it returns; the WAL writer flushes later, every
    ``wal_writer_delay``: asked three times so that one flush of it between cannot fail this)."""
    import psycopg

    sent: list[str] = []
    orig = psycopg.Cursor.execute

    def execute(self, query, *args, **kwargs):  # type: ignore[no-untyped-def]
        sent.append(str(query))
        return orig(self, query, *args, **kwargs)

    def unflushed() -> bool:
        return bool(store._raw.execute("SELECT pg_current_wal_flush_lsn() < pg_current_wal_insert_lsn()").fetchone()[0])

    relaxed = []
    for _ in range(3):
        monkeypatch.setattr(psycopg.Cursor, "execute", execute)
        with waits(monkeypatch) as counts:
            cid = store.begin_cycle("corp", "delta", at=T0)
        monkeypatch.setattr(psycopg.Cursor, "execute", orig)
        after_begin = unflushed()
        monkeypatch.setattr(psycopg.Cursor, "execute", execute)
        store.end_cycle(cid, status="ok", counts={"update": 1}, duration_s=0.1, at=T0)
        monkeypatch.setattr(psycopg.Cursor, "execute", orig)
        relaxed.append((after_begin, unflushed()))
        assert sum(counts.values()) == 1, counts
    assert len(sent) == 6 and not any(s.split()[0] in ("BEGIN", "COMMIT", "SET") for s in sent), sent
    assert any(b for b, _ in relaxed) and any(e for _, e in relaxed), relaxed
    assert store._raw.execute("SHOW synchronous_commit").fetchone()[0] == "on"
    with store.atomic():  # a durable unit flushes up to itself
        store.meta_set("k", 1)
    assert not unflushed()
    assert [c.status for c in store.last_cycles(3)] == ["ok"] * 3


@pytest.mark.postgres
def test_the_guarded_cas_takes_the_source_s_advisory_lock_in_its_own_statement(store, pg_server, monkeypatch):
    """The CAS checked against the row this store left is ONE statement that takes the per-source
    advisory lock itself (it was a statement of its own): while another session holds that lock,
    the unit waits; once it is released the unit commits; and the journal's settled intents go
    out with the unit's other writes (no DELETE of their own)."""
    import threading

    import psycopg

    from hybridsync.engine.core.values import Refresh, UsnWatermark
    from hybridsync.statestore.postgres.parts import CAS_LOCK
    from hybridsync.statestore.testing.samples import intent

    u = lambda n: UsnWatermark("dc1", n)  # noqa: E731
    store.advance_watermark("corp", "dc1", Refresh(), u(100))
    with store.atomic():
        store.put_object(obj("A0"))  # the first batch of objects reads that table's column types (once)
    ids = store.journal_intents(None, [intent(1), intent(2)])
    sent: list[str] = []
    orig = psycopg.Cursor.execute

    def execute(self, query, *args, **kwargs):  # type: ignore[no-untyped-def]
        sent.append(str(query))
        return orig(self, query, *args, **kwargs)

    other = psycopg.connect(pg_server.url, **pg_server.connect_kwargs())
    try:
        other.execute("SELECT pg_advisory_xact_lock(%s, hashtext('corp'))", [CAS_LOCK])  # held: a transaction
        done: list[object] = []

        def unit() -> None:
            try:
                with store.atomic():
                    store.put_object(obj("A1"))
                    store.journal_done(ids)
                    version = store.advance_watermark("corp", "dc1", u(100), u(200))
                done.append(version)  # committed
            except BaseException as exc:  # noqa: BLE001 - reported below
                done.append(exc)

        monkeypatch.setattr(psycopg.Cursor, "execute", execute)
        worker = threading.Thread(target=unit)
        worker.start()
        worker.join(0.5)
        assert worker.is_alive() and not done, done  # waiting for the lock
        other.rollback()
        worker.join(10)
        monkeypatch.setattr(psycopg.Cursor, "execute", orig)
    finally:
        other.close()
    assert done == [2]
    assert not any("pg_advisory_xact_lock" in s and "UPDATE watermarks" not in s for s in sent), sent
    assert not any(s.startswith("DELETE FROM journal") for s in sent), sent
    assert any("DELETE FROM journal" in s and s.startswith("WITH") for s in sent), sent
    assert store.pending_intents() == [] and store.get_object("corp", "A1") is not None

"""The PostgreSQL store's batched write paths keep the rows a statement per row would write:
columns sent as one joined string (and the fallback for values that cannot be), repeated upsert
keys in one unit (sent in rounds), ``mark_seen`` in one statement that skips unchanged rows, id
blocks reserved by one ``nextval`` per unit, and BEGIN/SAVEPOINT/COMMIT sent by hand in the
pipeline (a failed statement commits nothing; a savepoint rolls back alone)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybridsync.engine.core.values import ObjectKind, TargetState
from hybridsync.statestore.postgres.batch import column, rounds
from hybridsync.statestore.postgres.handle import ID_STEP
from hybridsync.statestore.postgres.nul import ESC
from hybridsync.statestore.postgres.store import PostgresStore
from hybridsync.statestore.testing.samples import act, obj

AWKWARD = ["", "plain", "\x1f", "\x1e", "a\x1fb", "\x00", ESC, "ä€😀", None]


def test_rounds_keep_each_keys_rows_in_order_and_never_repeat_a_key_in_a_part():
    rows = [("a", 1), ("b", 1), ("a", 2), ("a", 3), ("c", 1), ("b", 2)]
    parts = rounds(rows, (0,))
    assert parts == [[("a", 1), ("b", 1), ("c", 1)], [("a", 2), ("b", 2)], [("a", 3)]]
    assert all(len({r[0] for r in p}) == len(p) for p in parts)


def test_a_text_column_goes_as_one_string_unless_a_value_holds_a_separator_or_nul():
    assert column("text", str, ["x", None, "y"]) == ("string_to_array(%s, E'\\x1f', E'\\x1e')", "x\x1f\x1e\x1fy")
    for bad in ("a\x1fb", "\x1e", "\x00", ESC):
        expr, param = column("text", lambda v: v, ["x", bad])
        assert expr == "%b::text[]" and param == ["x", bad]
    assert column("bigint", int, [1, None, 3]) == ("string_to_array(%s, ',', 'N')::bigint[]", "1,N,3")
    assert column("bigint", int, [True, 2])[0] == "%b::bigint[]"  # a bool is not written as "True"


@pytest.fixture
def store(pg_server, pg_schema):
    s = PostgresStore.open(pg_server.url, schema=pg_schema, password=pg_server.connect_kwargs()["password"])
    yield s
    s.close()


def _state(anchor: str, error: str | None, since: datetime) -> TargetState:
    return TargetState(anchor=anchor, target="app", kind=ObjectKind.USER, state="provisioned",
                       target_id=error, projection={"v": error}, since=since, last_error=error)


@pytest.mark.postgres
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.sampled_from(AWKWARD) | st.text(max_size=4), min_size=2, max_size=12))
def test_a_batch_of_upserts_with_awkward_text_and_repeated_keys_ends_as_the_last_write(store, values):
    now = datetime(2026, 12, 3, tzinfo=UTC)
    anchors = [f"A{i % 3}" for i in range(len(values))]  # keys repeat within the unit
    with store.atomic():
        for anchor, value in zip(anchors, values):
            store.put_target_state(_state(anchor, value, now))
    last = dict(zip(anchors, values))
    for anchor, value in last.items():
        got = store.get_target_state("app", anchor)
        assert got is not None and got.last_error == value and got.target_id == value
        assert dict(got.projection) == {"v": value}


@pytest.mark.postgres
def test_an_object_put_twice_in_one_unit_keeps_its_last_state_and_both_dns(store):
    with store.atomic():
        store.put_object(obj("X" * 22 + "==", dn="CN=a,DC=lab,DC=test"))
        store.put_object(obj("Y" * 22 + "==", dn="CN=y,DC=lab,DC=test"))
        store.put_object(obj("X" * 22 + "==", dn="CN=b,DC=lab,DC=test"))
    got = store.get_object("corp", "X" * 22 + "==")
    assert got is not None and got.dn == "CN=b,DC=lab,DC=test"
    assert {dn for dn, _ in store.dn_history("corp", "X" * 22 + "==")} == {"CN=a,DC=lab,DC=test", "CN=b,DC=lab,DC=test"}


@pytest.mark.postgres
def test_mark_seen_updates_in_one_statement_and_leaves_rows_already_at_the_round(store):
    a, b = "A" * 22 + "==", "B" * 22 + "=="
    with store.atomic():
        store.put_object(obj(a, last_seen_round=3))
        store.put_object(obj(b, last_seen_round=2))
    raw = store._raw
    before = dict(raw.execute("SELECT anchor, xmin::text FROM objects").fetchall())
    store.mark_seen("corp", [a, b, "missing"], 3)
    after = dict(raw.execute("SELECT anchor, xmin::text FROM objects").fetchall())
    assert after[a] == before[a]  # already at round 3: no new row version
    assert after[b] != before[b]
    assert store.anchors_not_seen_since("corp", 3) == []


@pytest.mark.postgres
def test_ids_come_from_one_nextval_per_unit_and_grow_with_time(store):
    steps = {r[0] for r in store._raw.execute(
        "SELECT seqincrement FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema()")}
    assert steps == {ID_STEP}  # migration p004 on every identity sequence
    units = []
    for _ in range(3):
        with store.atomic():
            units.append([store.record_decision(None, act(), result="ok") for _ in range(3)])
    assert all(u == list(range(u[0], u[0] + 3)) for u in units)  # one block per unit
    assert [u[0] for u in units] == sorted(u[0] for u in units)
    last = store.record_decision(None, act(), result="ok")  # outside a unit: RETURNING id
    assert last > units[-1][-1]
    seq = store._raw.execute("SELECT pg_get_serial_sequence('history', 'id')").fetchone()[0]
    assert store._raw.execute(f"SELECT last_value FROM {seq}").fetchone()[0] == last


@pytest.mark.postgres
def test_a_failed_statement_commits_nothing_of_its_unit_and_the_store_goes_on(store):
    a, b = "A" * 22 + "==", "B" * 22 + "=="
    with pytest.raises(Exception, match="division by zero"):
        with store.atomic():
            store.put_object(obj(a))
            store._handle.conn.execute("SELECT 1/0")
            store.put_object(obj(b))
    assert store.get_object("corp", a) is None and store.get_object("corp", b) is None
    with store.atomic():
        store.put_object(obj(b))
    assert store.get_object("corp", b) is not None and not store._handle.in_transaction


@pytest.mark.postgres
def test_a_savepoint_rolls_back_alone_on_an_error_or_an_exception_and_the_unit_commits(store):
    a, b, c, d = ("%s" % ch * 22 + "==" for ch in "ABCD")
    with store.atomic():
        store.put_object(obj(a))
        with pytest.raises(ValueError):
            with store.atomic():
                store.put_object(obj(b))
                raise ValueError("in the savepoint")
        with pytest.raises(Exception, match="division by zero"):
            with store.atomic():  # a server error surfaces at the savepoint's edge
                store.put_object(obj(c))
                store._handle.conn.execute("SELECT 1/0")
        store.put_object(obj(d))
    assert [x for x in (a, b, c, d) if store.get_object("corp", x) is not None] == [a, d]

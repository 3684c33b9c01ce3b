"""The id blocks' reservation reads each sequence's step once per handle (wave 8, pgserver): the
first reservation asks the ``pg_sequence`` catalog, every later one -- the journal's statement,
the unit's ``nextval`` -- only draws ``nextval`` (``ids.RESERVE_KNOWN``: the catalog join was
~0.15 ms of server CPU per cycle). Ids stay unique, increasing and in one block per unit; a
sequence stepping by 1 is still handed out one ``nextval`` per id."""

from __future__ import annotations

import psycopg
import pytest

from hybridsync.statestore.postgres.handle import ID_STEP
from hybridsync.statestore.postgres.ids import ID_TABLES, RESERVE, RESERVE_KNOWN
from hybridsync.statestore.postgres.store import PostgresStore
from hybridsync.statestore.testing.samples import act
from tests.statestore.pgkit import sent, store  # noqa: F401 - fixtures


def _catalog(texts: list[str]) -> list[str]:
    return [t for t in texts if "pg_sequence" in t]


@pytest.mark.postgres
def test_the_step_is_read_once_then_each_reservation_only_draws_nextval(store, sent):
    cycle = store.begin_cycle("corp", "delta")
    ids = []
    for _ in range(3):  # the journal's statement reserves the next unit's blocks; the unit uses them
        ids += store.journal_intents(cycle, [act(), act()])
        with store.atomic():
            ids += [store.record_decision(cycle, act(), result="ok") for _ in range(3)]
            store.journal_done(ids[-5:-3])
    assert len(_catalog(sent)) == 1  # the first reservation of the handle
    assert store._handle.ids.steps == dict.fromkeys(ID_TABLES, ID_STEP)
    assert any("WHERE (SELECT count(*) FROM ins) > 0" in t and "pg_sequence" not in t for t in sent)
    decisions = [i for k, i in enumerate(ids) if k % 5 >= 2]
    assert decisions == sorted(decisions) and len(set(decisions)) == len(decisions)
    for u in range(3):  # one block per unit: consecutive ids
        unit = decisions[3 * u:3 * u + 3]
        assert unit == list(range(unit[0], unit[0] + 3))
    assert store._handle.ids.reserve_sql(list(ID_TABLES)) == RESERVE_KNOWN
    assert store._handle.ids.reserve_sql(["a_new_table"]) == RESERVE  # a step not known yet: asked


@pytest.mark.postgres
def test_a_sequence_stepping_by_one_is_learned_and_still_gives_one_id_per_nextval(pg_server, pg_schema):
    pw = pg_server.connect_kwargs()["password"]
    PostgresStore.open(pg_server.url, schema=pg_schema, password=pw).close()  # migrated
    with psycopg.connect(pg_server.url, password=pw, autocommit=True) as conn:
        conn.execute(f"SET search_path = {pg_schema}")
        seq = conn.execute("SELECT pg_get_serial_sequence('history', 'id')").fetchone()[0]
        conn.execute(f"ALTER SEQUENCE {seq} INCREMENT BY 1")
    store = PostgresStore.open(pg_server.url, schema=pg_schema, password=pw)
    try:
        got = []
        for _ in range(3):
            with store.atomic():
                got += [store.record_decision(None, act(), result="ok") for _ in range(2)]
        assert store._handle.ids.steps["history"] == 1
        assert got == sorted(got) and len(set(got)) == len(got)
        rows = store._raw.execute("SELECT count(*), count(DISTINCT id) FROM history").fetchone()
        assert rows == (6, 6)
    finally:
        store.close()

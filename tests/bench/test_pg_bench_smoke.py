"""``bench/pg_store_bench.py`` still runs at toy size against the lab PostgreSQL (shape, not timings)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import pg_store_bench  # noqa: E402

from hybridsync.statestore import Store  # noqa: E402
from hybridsync.statestore.postgres.store import PostgresStore  # noqa: E402


@pytest.mark.postgres
@pytest.mark.slow
def test_the_pg_bench_measures_both_stores_and_a_takeover(pg_server, pg_schema, tmp_path):
    with Store.open(tmp_path / "b.db") as lite:
        sqlite = pg_store_bench.workload(lite, 50, 5)
    with PostgresStore.open(pg_server.url, schema=pg_schema, password=pg_server.connect_kwargs()["password"]) as pg:
        postgres = pg_store_bench.workload(pg, 50, 5)
    assert set(sqlite) == set(postgres) and all(v > 0 for v in postgres.values())
    times = pg_store_bench.takeovers(pg_server, 1, 15.0, pg_store_bench.signal.SIGKILL)
    assert len(times) == 1 and 0 < times[0] < 10


@pytest.mark.postgres
@pytest.mark.slow
def test_the_pg_engine_bench_syncs_through_both_stores(pg_server, pg_schema, tmp_path):
    import pg_engine_bench

    lite = pg_engine_bench.run(Store.open(tmp_path / "e.db"), 200)
    pg = pg_engine_bench.run(PostgresStore.open(pg_server.url, schema=pg_schema,
                                                password=pg_server.connect_kwargs()["password"]), 200)
    assert set(lite) == set(pg) and all(v > 0 for v in pg.values())

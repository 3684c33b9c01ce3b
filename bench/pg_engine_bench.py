"""Engine throughput on the PostgreSQL store ÷ on the SQLite store: same engine, same data (issue 19).

    .venv/bin/python bench/pg_engine_bench.py [--objects 5000]

A generated in-memory source (users + 50-member groups, like ``engine_scale.py``) synced into an
in-memory target, so the store is the only thing that differs: one full sync (first sync), one
no-change delta cycle and a 10-change delta cycle (median of 3), on SQLite (synchronous=FULL)
and on a durable lab PostgreSQL (fsync and synchronous_commit on). Prints rates and ratios.
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import statistics
import tempfile
import time

import structlog

from hybridsync.connectors.testing.memory import GeneratedSource, MemoryTarget
from hybridsync.engine.core.config import Config, ScopeConfig, SourceConfig, StateConfig, TargetConfig
from hybridsync.engine.core.values import ObjectKind, SourceObject
from hybridsync.engine.lab.postgres import PostgresLab
from hybridsync.engine.runtime.engine import Engine
from hybridsync.statestore import Store
from hybridsync.statestore.postgres.store import PostgresStore

STAFF = "OU=Staff,DC=lab,DC=test"


def guid(i: int) -> str:
    return base64.b64encode(i.to_bytes(16, "big")).decode()


def run(store: object, n: int) -> dict[str, float]:
    n_groups = max(1, n // 500)

    def factory(i: int) -> SourceObject:
        if i < n_groups:
            members = frozenset(guid(n_groups + j) for j in range(i * 50, i * 50 + 50) if n_groups + j < n)
            return SourceObject(anchor=guid(i), object_guid=guid(i), kind=ObjectKind.GROUP, dn=f"CN=g{i},{STAFF}",
                                attributes={"cn": f"g{i}"}, members=members)
        return SourceObject(anchor=guid(i), object_guid=guid(i), kind=ObjectKind.USER, dn=f"CN=u{i},{STAFF}",
                            attributes={"userprincipalname": f"u{i}@lab.test", "givenname": f"G{i}", "sn": f"S{i}",
                                        "displayname": f"User {i}", "mail": f"u{i}@lab.test",
                                        "useraccountcontrol": "512", "department": f"D{i % 20}"})

    src = GeneratedSource(n, factory)
    config = Config(sources=(SourceConfig(name="corp", kind="memory", base_dn="DC=lab,DC=test",
                                          scope=ScopeConfig(include_ous=(STAFF,))),),
                    targets=(TargetConfig(name="app", kind="memory"),), state=StateConfig(path=":memory:"))
    engine = Engine(config, store=store, sources={"corp": src}, targets={"app": MemoryTarget("app", lean=True)})
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    report = engine.run_once()
    out["full sync (objects/s)"] = n / (time.perf_counter() - t0)
    assert report.exit_code() == 0, report.counts
    t0 = time.perf_counter()
    engine.run_once()
    out["no-change delta (cycles/s)"] = 1 / (time.perf_counter() - t0)
    times = []
    for rep in range(3):
        for k in range(10):
            src.modify(guid(n_groups + 7 * k + rep), title=f"t{rep}")
        t0 = time.perf_counter()
        r = engine.run_once()
        times.append(time.perf_counter() - t0)
        assert r.counts.get("update") == 10, r.counts
    out["10-change delta (cycles/s)"] = 1 / statistics.median(times)
    engine.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=5000)
    args = ap.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as tmp, PostgresLab(durable=True) as lab:
        sqlite = run(Store.open(os.path.join(tmp, "state.db")), args.objects)
        pg = run(PostgresStore.open(lab.url, schema="bench", password=lab.connect_kwargs()["password"]), args.objects)
    print(f"{'measure':30} {'SQLite':>9} {'PostgreSQL':>11} {'PG / SQLite':>12}")
    for key in sqlite:
        print(f"{key:30} {sqlite[key]:9,.1f} {pg[key]:11,.1f} {pg[key] / sqlite[key]:12.2f}")


if __name__ == "__main__":
    main()

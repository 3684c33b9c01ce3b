"""Engine throughput on the PostgreSQL store ÷ on the SQLite store: same engine, same data (issue 19).

    .venv/bin/python bench/pg_engine_bench.py [--objects 5000] [--rounds 3] [--target memory|scim]

A generated in-memory source (users + 50-member groups, like ``engine_scale.py``) synced into an
in-memory target, so the store is the only thing that differs: one full sync (first sync), one
no-change delta cycle and a 10-change delta cycle (median of ``--cycles``, 15), on SQLite (synchronous=FULL)
and on a durable lab PostgreSQL (fsync and synchronous_commit on). The stores take turns,
``--rounds`` times (a fresh SQLite file and PostgreSQL schema each round), so a change of the
machine's load hits both; printed: each round's rates and ratios, the median ratio and range,
and the CPU seconds of the full sync -- this process's (engine + store client; SQLite's own work
included) and, for PostgreSQL, its server's (summed over the server's processes) -- and the
round trips to the server of one 10-change delta cycle (psycopg's blocking waits, counted in the
last of those cycles; 5 until 2026-12-04 wave 6: a 5-cycle median of 10-20 ms cycles on the
shared machine moved by 2x between runs).

``--target scim``: the deployment-shaped variant -- the same generated source synced into the real
scim2-server of engine/lab/scim.py on loopback (the SCIM connector, HTTP, the server's own work),
emptied before each store's turn; the store's share of a cycle is then what a deployment sees.
The in-memory target (the default) is the store-bound figure: report both, not one for the other.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import attrs
import structlog

from hybridsync.connectors.testing.memory import GeneratedSource, MemoryTarget
from hybridsync.engine.core.config import Config, ScopeConfig, SourceConfig, StateConfig, TargetConfig
from hybridsync.engine.core.values import ObjectKind, SourceObject
from hybridsync.engine.lab.postgres import PostgresLab
from hybridsync.engine.runtime.engine import Engine
from hybridsync.statestore import Store
from hybridsync.statestore.postgres.store import PostgresStore

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import result, start_scim  # noqa: E402

STAFF = "OU=Staff,DC=lab,DC=test"


def guid(i: int) -> str:
    return base64.b64encode(i.to_bytes(16, "big")).decode()


def server_cpu(pid: int | None) -> dict[int, float]:
    """CPU seconds of the process ``pid`` and of each of its children (a PostgreSQL server's
    backends), by pid."""
    if pid is None:
        return {}
    tick, out = os.sysconf("SC_CLK_TCK"), {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:
            out[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def cpu_since(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two ``server_cpu`` snapshots by the processes alive at the second."""
    return sum(t - before.get(p, 0.0) for p, t in after.items())


class RoundTrips:
    """Counts psycopg's blocking waits for the server while ``on`` (a pipeline's sends and
    entering one wait for nothing and are not counted), and the statements sent (``statements``:
    each ``Cursor.execute``, each row of an ``executemany``)."""

    def __init__(self) -> None:
        import psycopg

        self.on, self.count, self.statements, self._cls = False, 0, 0, psycopg.Connection
        self._orig = orig = psycopg.Connection.wait
        self._cur = cur = psycopg.Cursor
        self._execute, self._many = execute, many = cur.execute, cur.executemany

        def counted(c: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            self.statements += self.on
            return execute(c, query, *args, **kwargs)

        def counted_many(c: Any, query: Any, rows: Any, *args: Any, **kwargs: Any) -> Any:
            rows = list(rows)
            self.statements += len(rows) if self.on else 0
            return many(c, query, rows, *args, **kwargs)

        cur.execute, cur.executemany = counted, counted_many  # type: ignore[method-assign]

        def wait(conn: Any, gen: Any, *args: Any, **kwargs: Any) -> Any:
            name = getattr(gen, "__name__", "")
            if self.on and name != "_enter_gen" and not (conn._pipeline is not None and name == "_execute_gen"):
                self.count += 1
            return orig(conn, gen, *args, **kwargs)

        psycopg.Connection.wait = wait  # type: ignore[method-assign]

    def close(self) -> None:
        self._cls.wait = self._orig  # type: ignore[method-assign]
        self._cur.execute, self._cur.executemany = self._execute, self._many  # type: ignore[method-assign]


def run(store: object, n: int, server: int | None = None, cpu: dict[str, float] | None = None,
        trips: RoundTrips | None = None, cycles: int = 15, scim: tuple[Any, str] | None = None) -> dict[str, float]:
    """Rates of the three measures; ``cpu`` (if given) gets the full sync's CPU seconds of this
    process ("client") and of the server process tree ``server`` ("server"). ``scim``: (a started
    ``ScimLab``, its token file): sync into it (emptied first) instead of an in-memory target."""
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
    targets: dict[str, Any] | None = {"app": MemoryTarget("app", lean=True)}
    if scim is not None:
        lab, token_file = scim
        lab.reset()
        config = attrs.evolve(config, targets=(TargetConfig(name="app", kind="scim", url=lab.url, token_file=token_file,
                                                            object_types=("user", "group")),))
        targets = None  # the engine builds the SCIM connector from the config, as `hybridsync sync` does
    engine = Engine(config, store=store, sources={"corp": src}, targets=targets)
    out: dict[str, float] = {}
    t0, c0, s0 = time.perf_counter(), time.process_time(), server_cpu(server)
    report = engine.run_once()
    out["full sync (objects/s)"] = n / (time.perf_counter() - t0)
    if cpu is not None:
        cpu["client"], cpu["server"] = time.process_time() - c0, cpu_since(s0, server_cpu(server))
    assert report.exit_code() == 0, report.counts
    t0 = time.perf_counter()
    engine.run_once()
    out["no-change delta (cycles/s)"] = 1 / (time.perf_counter() - t0)
    times, cpus = [], []
    for rep in range(cycles):
        for k in range(10):
            src.modify(guid(n_groups + 7 * k + rep), title=f"t{rep}")
        t0, c0 = time.perf_counter(), time.process_time()
        if trips is not None and rep == cycles - 1:
            trips.on, trips.count, trips.statements = True, 0, 0
        r = engine.run_once()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        if trips is not None:
            trips.on = False
        assert r.counts.get("update") == 10, r.counts
    out["10-change delta (cycles/s)"] = 1 / statistics.median(times)
    out["cpu ms"] = statistics.median(cpus) * 1000  # this process's CPU per 10-change cycle (median)
    if trips is not None:
        out["round trips"], out["statements"] = trips.count, trips.statements
    engine.close()
    return out


def round_trip(lab: PostgresLab) -> float:
    """The median time of a ``SELECT 1`` after 1 ms of client work (as between the engine's
    statements: the server went idle and must be woken and scheduled), median of 200."""
    with lab.connect(autocommit=True) as conn:
        times = []
        for _ in range(200):
            busy = time.perf_counter() + 0.001
            while time.perf_counter() < busy:
                pass
            t0 = time.perf_counter()
            conn.execute("SELECT 1").fetchone()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


RATES = ("full sync (objects/s)", "no-change delta (cycles/s)", "10-change delta (cycles/s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cycles", type=int, default=15, help="10-change delta cycles per round (their median)")
    ap.add_argument("--target", choices=("memory", "scim"), default="memory",
                    help="memory: the store-bound figure; scim: the real scim2-server on loopback (deployment-shaped)")
    args = ap.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    ratios: dict[str, list[float]] = {k: [] for k in RATES}
    trips = RoundTrips()
    with tempfile.TemporaryDirectory() as tmp, PostgresLab(durable=True) as lab, contextlib.ExitStack() as stack:
        scim = None
        if args.target == "scim":
            scim = start_scim(Path(tmp))
            stack.callback(scim[0].stop)
        print(f"target: {args.target}, {args.objects} objects")
        for r in range(args.rounds):
            load = os.getloadavg()[0]
            lite_cpu: dict[str, float] = {}
            pg_cpu: dict[str, float] = {}
            sqlite = run(Store.open(os.path.join(tmp, f"state{r}.db")), args.objects, cpu=lite_cpu, cycles=args.cycles,
                         scim=scim)
            pg = run(PostgresStore.open(lab.url, schema=f"bench{r}", password=lab.connect_kwargs()["password"]),
                     args.objects, lab.pid, pg_cpu, trips, cycles=args.cycles, scim=scim)
            print(f"round {r + 1} (load {load:.1f} -> {os.getloadavg()[0]:.1f})")
            print(f"  {'measure':30} {'SQLite':>9} {'PostgreSQL':>11} {'PG / SQLite':>12}")
            for key in RATES:
                ratios[key].append(pg[key] / sqlite[key])
                print(f"  {key:30} {sqlite[key]:9,.1f} {pg[key]:11,.1f} {pg[key] / sqlite[key]:12.2f}")
            gap = 1 / pg[RATES[2]] - 1 / sqlite[RATES[2]]
            rtt = round_trip(lab)
            print(f"  round trip (SELECT 1 after 1 ms of work, median): {rtt * 1000:.2f} ms; the 10-change "
                  f"delta cycle's extra time on PostgreSQL ({gap * 1000:.0f} ms) = {gap / rtt:.0f} of them; "
                  f"counted: {pg['round trips']:.0f} round trips in a 10-change delta cycle")
            print(f"  10-change delta cycle, median of {args.cycles}: client CPU SQLite {sqlite['cpu ms']:.2f} ms, "
                  f"PostgreSQL {pg['cpu ms']:.2f} ms; {pg['statements']:.0f} statements sent to PostgreSQL")
            cpu = pg_cpu["client"] + pg_cpu["server"]
            print(f"  full sync CPU s: SQLite {lite_cpu['client']:.2f}; PostgreSQL client {pg_cpu['client']:.2f}"
                  f" + server {pg_cpu['server']:.2f} = {cpu:.2f} (SQLite / PG {lite_cpu['client'] / cpu:.2f})")
    print(f"median PG / SQLite over {args.rounds} rounds (range):")
    for key in RATES:
        print(f"  {key:30} {statistics.median(ratios[key]):5.2f} ({min(ratios[key]):.2f}-{max(ratios[key]):.2f})")
    for key in RATES:
        med = statistics.median(ratios[key])
        slug = key.split(" (")[0].replace(" ", "_").replace("-", "_")
        where = "" if args.target == "memory" else f"{args.target}_"
        result(f"pg_engine_{where}{slug}_pg_vs_sqlite_median_of_{args.rounds}", med, ">= 0.8", med >= 0.8)


if __name__ == "__main__":
    main()

"""PostgreSQL store vs SQLite store, same workload, and leader takeover times (issue 19).

    .venv/bin/python bench/pg_store_bench.py [--objects 5000] [--units 300] [--kills 20] [--hangs 5]

Starts a private, *durable* lab PostgreSQL (fsync on, synchronous_commit on: the same
power-loss durability as SQLite's synchronous=FULL) on loopback, then runs the workload of
``statestore_bench.py`` on both stores:

- commit units as the engine writes them (object + target state + decision + CAS watermark,
  one ``atomic()`` each: a commit -- an fsync -- per unit);
- a bulk load in units of 1,000 objects (as a full sync commits a page);
- ``iter_objects`` (a full scan) and ``get_objects`` of 1,000 anchors (a delta's batch read).

Takeover: ``--kills`` times a leader process holding ``PgLease`` (TTL 15 s) is killed with -9
while a standby process waits in ``acquire(wait=None)``; the time from the kill to the standby
printing its new epoch. ``--hangs`` times the leader is SIGSTOPped instead (TTL 3 s): the standby
must wait for the lease to expire. Prints p50/p95/max.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import result  # noqa: E402
from statestore_bench import make  # noqa: E402

from hybridsync.engine.core.values import Action, ActionKind, Reason, UsnWatermark, guid_to_anchor  # noqa: E402
from hybridsync.engine.lab.postgres import PostgresLab  # noqa: E402
from hybridsync.statestore import Store  # noqa: E402
from hybridsync.statestore.postgres.store import PostgresStore  # noqa: E402

CHILD = """
import os, sys, time
from hybridsync.statestore.postgres.store import PostgresStore
from hybridsync.statestore.postgres.lease import PgLease
store = PostgresStore.open(os.environ["PGURL"], schema="bench_lease", password=os.environ["PGPW"])
lease = PgLease(store.pool, "source:corp", ttl=float(sys.argv[1]))
epoch = lease.acquire(wait=None)
lease.start_heartbeat(lambda holder: None)
print("EPOCH", epoch, time.time(), flush=True)
time.sleep(3600)
"""


def workload(store: object, n_objects: int, n_units: int) -> dict[str, float]:
    s: Store = store  # type: ignore[assignment]
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    for start in range(0, n_objects, 1000):
        with s.atomic():
            for i in range(start, min(n_objects, start + 1000)):
                obj, ts = make(i)
                s.put_object(obj)
                s.put_target_state(ts)
    out["bulk load (objects/s)"] = n_objects / (time.perf_counter() - t0)
    cursor = s.get_cursor("corp")
    base = n_objects
    t0 = time.perf_counter()
    for k in range(1, n_units + 1):
        obj, ts = make(base + k)
        with s.atomic():
            s.put_object(obj)
            s.put_target_state(ts)
            s.record_decision(1, Action(kind=ActionKind.UPDATE, target="app", anchor=obj.anchor,
                                        object_kind=obj.kind, reasons=(Reason("mapping.displayName"),)),
                              result="done", status=200)
            new = UsnWatermark("dc1", base + k)
            s.advance_watermark("corp", "dc1", cursor, new)
            cursor = new
    out["commit units (units/s)"] = n_units / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    count = sum(1 for _ in s.iter_objects("corp"))
    out["iter_objects (objects/s)"] = count / (time.perf_counter() - t0)
    anchors = [guid_to_anchor(k.to_bytes(16, "little")) for k in range(0, n_objects, max(1, n_objects // 1000))]
    t0 = time.perf_counter()
    got = s.get_objects("corp", anchors)
    out["get_objects batch (objects/s)"] = len(got) / (time.perf_counter() - t0)
    return out


def takeovers(lab: PostgresLab, count: int, ttl: float, how: signal.Signals) -> list[float]:
    env = {**os.environ, "PGURL": lab.url, "PGPW": lab.connect_kwargs()["password"]}
    PostgresStore.open(lab.url, schema="bench_lease", password=env["PGPW"]).close()
    times = []
    leader = subprocess.Popen([sys.executable, "-c", CHILD, str(ttl)], stdout=subprocess.PIPE, text=True, env=env)
    leader.stdout.readline()
    for _ in range(count):
        standby = subprocess.Popen([sys.executable, "-c", CHILD, str(ttl)], stdout=subprocess.PIPE, text=True,
                                   env=env)
        time.sleep(1.5)  # the standby is connected and polling
        killed_at = time.time()
        leader.send_signal(how)
        line = standby.stdout.readline().split()
        times.append(float(line[2]) - killed_at)
        if how == signal.SIGSTOP:
            leader.send_signal(signal.SIGCONT)
        leader.kill()
        leader.wait()
        leader = standby
    leader.kill()
    leader.wait()
    return times


def p95_of(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[18] if len(times) >= 2 else times[0]


def summary(times: list[float]) -> str:
    qs = statistics.quantiles(times, n=20) if len(times) >= 2 else times * 19
    return (f"n={len(times)} p50={statistics.median(times):.2f} s p95={qs[18]:.2f} s "
            f"max={max(times):.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=5000)
    ap.add_argument("--units", type=int, default=300)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--hangs", type=int, default=5)
    args = ap.parse_args()
    with PostgresLab(durable=True) as lab, tempfile.TemporaryDirectory() as tmp:
        with Store.open(Path(tmp) / "bench.db") as lite:
            sqlite = workload(lite, args.objects, args.units)
        with PostgresStore.open(lab.url, schema="bench", password=lab.connect_kwargs()["password"]) as pg:
            postgres = workload(pg, args.objects, args.units)
        print(f"{'measure':34} {'SQLite':>10} {'PostgreSQL':>11} {'PG / SQLite':>12}")
        for key in sqlite:
            print(f"{key:34} {sqlite[key]:10,.0f} {postgres[key]:11,.0f} {postgres[key] / sqlite[key]:12.2f}")
            slug = key.split(" (")[0].replace(" ", "_")
            result(f"pg_store_{slug}_pg_vs_sqlite", postgres[key] / sqlite[key], ">= 0.8", postgres[key] / sqlite[key] >= 0.8)
        if args.kills:
            kills = takeovers(lab, args.kills, 15.0, signal.SIGKILL)
            print("takeover after kill -9 (TTL 15 s):", summary(kills))
            p95 = p95_of(kills)
            result(f"pg_lease_takeover_after_kill_p95_s_{len(kills)}", p95, "<= 10", p95 <= 10)
        if args.hangs:
            hangs = takeovers(lab, args.hangs, 3.0, signal.SIGSTOP)
            print("takeover after SIGSTOP (TTL 3 s):", summary(hangs))
            worst = max(hangs)
            result(f"pg_lease_takeover_after_sigstop_max_s_{len(hangs)}", worst, "<= 3.5 (TTL 3 s + a poll)", worst <= 3.5)


if __name__ == "__main__":
    main()

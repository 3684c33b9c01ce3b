"""Engine benchmarks with a generated in-memory source (P3 delta cost, P5 memory, store size).

    .venv/bin/python bench/engine_scale.py [--sizes 10000,100000] [--target memory|scim]

Each size runs in its own subprocess so peak RSS (ru_maxrss) is that size's alone. Reports, per N:
full sync time and rate, peak RSS, state store bytes per object, a no-change delta cycle, a
10-change delta cycle; then the ratio of 10-change cycle time at the largest N over the smallest
(goal <= 1.5) and peak RSS at the largest N (goal <= 150 MB at 100k).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import subprocess
import sys
import tempfile
import time


class CountingTarget:
    """Answers like an empty-then-filling target but keeps no objects: RSS is the engine's alone."""

    name = "app"

    def __init__(self) -> None:
        self.n = 0

    def __getattr__(self, op):
        from hybridsync.connectors.base import Done

        def call(*a, **k):
            if op.startswith("lookup"):
                return Done(found=())
            if op == "list_owned":
                return iter(())
            self.n += 1
            return Done(target_id=f"c{self.n}" if op == "create" else None)
        return call


def run_one(n: int, target_kind: str) -> dict:
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    from hybridsync.connectors.testing.memory import GeneratedSource, MemoryTarget
    from hybridsync.engine.core.config import Config, ScopeConfig, SourceConfig, StateConfig, TargetConfig
    from hybridsync.engine.runtime.engine import Engine
    from hybridsync.engine.core.values import ObjectKind, SourceObject
    from hybridsync.statestore import Store

    staff = "OU=Staff,DC=lab,DC=test"
    n_groups = max(1, n // 500)

    def guid(i: int) -> str:
        return base64.b64encode(i.to_bytes(16, "big")).decode()

    def factory(i: int) -> SourceObject:
        if i < n_groups:
            members = frozenset(guid(n_groups + j) for j in range(i * 50, i * 50 + 50) if n_groups + j < n)
            return SourceObject(anchor=guid(i), object_guid=guid(i), kind=ObjectKind.GROUP, dn=f"CN=g{i},{staff}",
                                attributes={"cn": f"g{i}"}, members=members)
        return SourceObject(anchor=guid(i), object_guid=guid(i), kind=ObjectKind.USER, dn=f"CN=u{i},{staff}",
                            attributes={"userprincipalname": f"u{i}@lab.test", "givenname": f"G{i}", "sn": f"S{i}",
                                        "displayname": f"User {i}", "mail": f"u{i}@lab.test",
                                        "useraccountcontrol": "512", "department": f"D{i % 20}"})

    tmp = tempfile.mkdtemp(prefix="hs-bench-")
    db = os.path.join(tmp, "state.db")
    src = GeneratedSource(n, factory)
    tcfg = TargetConfig(name="app", kind="memory")
    if target_kind == "scim":
        from hybridsync.connectors.scim import ScimTarget
        from hybridsync.engine.lab.scim import ScimLab

        lab = ScimLab().start()
        tok = os.path.join(tmp, "tok")
        with open(tok, "w") as fh:
            fh.write(lab.token)
        tcfg = TargetConfig(name="app", kind="scim", url=lab.url, token_file=tok)
        target = ScimTarget(tcfg)
    elif target_kind == "count":
        target = CountingTarget()
    else:
        target = MemoryTarget("app", lean=True)
    config = Config(sources=(SourceConfig(name="corp", kind="memory", base_dn="DC=lab,DC=test",
                                          scope=ScopeConfig(include_ous=(staff,))),),
                    targets=(tcfg,), state=StateConfig(path=db))
    engine = Engine(config, store=Store.open(db, synchronous="NORMAL"), sources={"corp": src},
                    targets={"app": target})
    t0 = time.perf_counter()
    report = engine.run_once()
    full_s = time.perf_counter() - t0
    assert report.exit_code() == 0, report.counts
    rss_full = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    engine.run_once()
    nochange_s = time.perf_counter() - t0
    times = []
    for rep in range(3):
        for k in range(10):
            src.modify(guid(n_groups + 7 * k + rep), title=f"t{rep}")
        t0 = time.perf_counter()
        r = engine.run_once()
        times.append(time.perf_counter() - t0)
        assert r.counts.get("update") == 10, r.counts
    engine.close()
    size = os.path.getsize(db) + (os.path.getsize(db + "-wal") if os.path.exists(db + "-wal") else 0)
    return {"n": n, "full_s": round(full_s, 2), "full_rate": round(n / full_s), "peak_rss_mb": round(rss_full, 1),
            "store_bytes_per_object": round(size / n), "nochange_s": round(nochange_s, 4),
            "delta10_s": round(sorted(times)[1], 4)}


def p2_memory(n_users: int = 2000, n_groups: int = 200, max_in_flight: int = 4) -> dict:
    """P2 without Samba: a full sync of a generated directory into a real scim2-server, against
    max(raw read of the same source, raw httpx keep-alive creates at the same concurrency)."""
    import logging
    from pathlib import Path

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import common
    import p2_full_sync

    from hybridsync.engine.core.values import Refresh
    from hybridsync.engine.runtime.engine import Engine
    from hybridsync.statestore import Store

    workdir = Path(tempfile.mkdtemp(prefix="hs-p2m-"))
    scim, token_file = common.start_scim(workdir)
    try:
        src = common.generated_source(n_users, n_groups)
        t0 = time.perf_counter()
        read = sum(len(b.objects) for b in src.read(Refresh("bench")))
        raw_read = time.perf_counter() - t0
        spid = scim._proc.pid
        _, raw_create, raw_cpu = p2_full_sync._timed(
            lambda: p2_full_sync.raw_create(scim, n_users, n_groups, max_in_flight), spid)
        scim.backdoor.reset()
        # the same work as the engine: each group then gets its members by PATCH (common.gen_group)
        members = [len(range(g, n_users, max(n_groups, 1))) for g in range(n_groups)]
        _, raw_same, same_cpu = p2_full_sync._timed(
            lambda: p2_full_sync.raw_create(scim, n_users, n_groups, max_in_flight, members=members), spid)
        scim.backdoor.reset()
        state = str(workdir / "state.db")
        cfg = common.memory_config(state, target_kind="scim", url=scim.url, token_file=token_file,
                                   max_in_flight=max_in_flight)
        engine = Engine(cfg, store=Store.open(state), sources={"corp": src})
        report, took, eng_cpu = p2_full_sync._timed(engine.run_once, spid)
        engine.close()
        dup = common.scim_duplicates(scim)
    finally:
        scim.stop()
    return {"n": read, "raw_read_s": round(raw_read, 2), "raw_create_s": round(raw_create, 2),
            "raw_create_members_s": round(raw_same, 2), "engine_s": round(took, 2),
            "ratio": round(took / max(raw_read, raw_create), 3),
            "ratio_same_work": round(took / max(raw_read, raw_same), 3),
            "cpu_server_client": {"raw_create": raw_cpu, "raw_same_work": same_cpu, "engine": eng_cpu},
            "creates": report.counts.get("create", 0), "add_members": report.counts.get("add_members", 0),
            "failed": report.failed, "duplicates": dup, "load": " ".join(f"{x:.1f}" for x in os.getloadavg())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--p2", type=int, help="P2 in memory: N generated users + 200 groups into scim2-server")
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--target", default="count", choices=["count", "memory", "scim"],
                    help="count: a target that keeps nothing (the engine's own memory is measured)")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    import common  # bench/ is on sys.path when this runs as a script

    if args.p2:
        figs = p2_memory(args.p2)
        print(json.dumps(figs))
        print(f"P2 engine / max(raw read, raw create) at {figs['n']}: {figs['ratio']} (goal <= 1.25); "
              f"same work (raw creates + the groups' member PATCHes): {figs['ratio_same_work']}")
        common.result(f"engine_scale_p2_memory_{figs['n']}", float(figs["ratio"]), "<= 1.25", float(figs["ratio"]) <= 1.25)
        return
    if args.one:
        print(json.dumps(run_one(args.one, args.target)))
        return
    rows = []
    for n in [int(x) for x in args.sizes.split(",")]:
        out = subprocess.run([sys.executable, __file__, "--one", str(n), "--target", args.target],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    if len(rows) > 1:
        ratio = rows[-1]["delta10_s"] / rows[0]["delta10_s"]
        print(f"P3 delta10 cost ratio N={rows[-1]['n']} / N={rows[0]['n']}: {ratio:.2f} (goal <= 1.5)")
        common.result(f"engine_scale_delta10_{rows[-1]['n']}_vs_{rows[0]['n']}", ratio, "<= 1.5", ratio <= 1.5)
    print(f"P5 peak RSS at N={rows[-1]['n']}: {rows[-1]['peak_rss_mb']} MB (goal <= 150 MB); "
          f"store {rows[-1]['store_bytes_per_object']} B/object (goal <= 2048)")
    last = rows[-1]
    common.result(f"engine_scale_peak_rss_mb_{last['n']}", float(last["peak_rss_mb"]), "<= 150", last["peak_rss_mb"] <= 150)
    common.result(f"engine_scale_store_bytes_per_object_after_full_sync_{last['n']}", int(last["store_bytes_per_object"]),
                  "none here (<= 2048 after 30 days: p5_memory --churn)", None)


if __name__ == "__main__":
    main()

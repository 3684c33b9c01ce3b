"""P2 full sync (issue 8): engine time for a full sync of N users + 200 groups from Samba to a real
scim2-server, against the raw floor of its two halves, measured in one run.

    .venv/bin/python bench/p2_full_sync.py [--size 20000] [--groups 200]

1. raw read: a plain ldap3 paged read (page 1000) of the same base, filter, attributes and
   extended-DN control the engine's AD source uses;
2. raw create: httpx keep-alive POSTs of the same number of users and groups (same shape as the
   engine sends: userName, names, email, active, externalId) at the engine's concurrency
   (``max_in_flight``), then the server is reset;
   A second raw run does the same work as the engine: the creates, then each group's members
   (as many as the raw read found in that group) by PATCH ``add`` in the engine's chunks;
2b. raw bulk create (wave 7): the same user and group bodies as raw POSTs of ``/Bulk`` (RFC 7644
   §3.7) in chunks of the engine's ``bulk_chunk`` at the same concurrency, then the server is reset;
3. the engine: ``Engine(config).run_once()`` in a fresh child process (its peak RSS is P5's
   Samba figure) on an empty store and an empty server, logging as ``hybridsync sync`` does with
   ``[log] file`` set (``logsetup.configure_from``: every event, one JSON line per object outcome,
   to ``hybridsync.log`` in the run's folder; warnings on stderr).
ratio = engine / max(raw read, raw create), goal <= 1.25 (a pipelined engine approaches 1);
``ratio_vs_raw_bulk`` = engine / max(raw read, raw bulk create): against the floor of the way the
engine now writes (with ``--bulk-chunk 0`` the engine sends no bulk; the raw bulk still runs);
``pages_early_kept_replanned``: the pages whose plan made while the page before was applied was
kept (their calls start while the page before commits) and those planned again after its commit;
``pages_planned_ahead`` (wave 9): of those planned again, the ones planned while the page before's
last run was in flight (``pipeline._plan_ahead``);
``ratio_same_work`` divides by max(raw read, raw creates + member PATCHes) instead;
``ratio_vs_bulk_same_work`` (wave 8) by max(raw read, raw bulk creates + the same member PATCHes,
at the engine's ``bulk_chunk``, ``member_chunk`` and concurrency): the like-for-like floor of the
way the engine writes with bulk on. ``engine_vs_server_cpu`` and ``engine_vs_cpu_sum_over_cores``
divide the engine's wall by the engine run's own floors (scim2-server's CPU-s: one single-threaded
process; engine child + scim2-server + Samba CPU-s over the cores).
Wave 9, per server CPU-second (scim2-server burned 26.7-53.9 CPU-s for the same requests between
runs): ``raw_bulk_same_work_vs_server_cpu`` = raw bulk same-work wall ÷ scim2-server's CPU-s in
that raw run (~1.0: raw keeps the single-threaded server busy); ``engine_over_raw_per_server_cpu``
= ``engine_vs_server_cpu`` ÷ that: the engine's wall per server CPU-second over raw's, which the
server's swings do not move (1.0 = as busy as raw keeps it). INFO lines: the goal's PASS/MISS
stays ``ratio_vs_bulk_same_work`` <= 1.25. Each run also
records the CPU seconds of Samba, scim2-server and the client: ``cpu_floor_s`` is the raw read's
plus the same-work creates' CPU over the machine's cores, the wall time below which no overlap of
the two halves can go on this machine.
The seeded DC comes from the bench cache (see common.py); the first run at a size seeds it offline.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

CHILD = """
import json, sys, time
sys.path.insert(0, 'bench')
import common
from hybridsync.engine.lab.samba import SambaDC
from hybridsync.engine.runtime.engine import Engine
a = json.loads(sys.argv[1])
meta = json.loads(open(a['dc_dir'] + '/lab.json').read())
dc = SambaDC(a['dc_dir'], address=meta['address'], realm=meta['realm'], domain=meta['domain'],
             server_name=meta['server_name'], admin_password=meta['admin_password'])
dc.bulk_ou = a['bulk_ou']
cfg = common.ad_config(dc, a['url'], a['token_file'], a['state'], max_in_flight=a['max_in_flight'],
                       log_file=a.get('log_file'), bulk_chunk=a.get('bulk_chunk'))
from hybridsync.engine.cli.logsetup import configure_from
configure_from(cfg)  # logs as `hybridsync sync` does: every event to the run's log file, warnings on stderr
from hybridsync.engine.runtime import cycle as cycle_module
pipes = []  # the pipeline's stats per cycle: pages whose early plan was kept / planned again
real_run_pages = cycle_module.run_pages
def counted(*args, **kwargs):
    pipes.append(real_run_pages(*args, **kwargs))
    return pipes[-1]
cycle_module.run_pages = counted
dues = []  # the due pass's parts (wave 8, ``runtime.dueparts``): planned early and kept / planned again
real_due = getattr(cycle_module, 'run_due_parts', None)
if real_due is not None:
    def due_counted(*args, **kwargs):
        dues.append(real_due(*args, **kwargs))
        return dues[-1]
    cycle_module.run_due_parts = due_counted
engine = Engine(cfg)
rss0 = common.peak_rss_mb()
t0 = time.perf_counter()
report = engine.run_once()
took = time.perf_counter() - t0
engine.close()
import resource
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({'seconds': took, 'counts': dict(report.counts), 'failed': report.failed,
                  'cpu_s': round(ru.ru_utime + ru.ru_stime, 2),
                  'pages_early': sum(p.early for p in pipes), 'pages_replanned': sum(p.replanned for p in pipes),
                  'pages_behind': sum(getattr(p, 'behind', 0) for p in pipes),
                  'pages_ahead': sum(getattr(p, 'ahead', 0) for p in pipes),
                  'due_parts': [sum(d.early for d in dues), sum(d.replanned for d in dues)],
                  'rss_before_mb': rss0, 'peak_rss_mb': common.peak_rss_mb()}))
"""


from hybridsync.engine.runtime.engine import Engine  # noqa: E402


def raw_read(dc, extra, members: list[int] | None = None) -> tuple[float, int]:
    import ldap3

    from hybridsync.connectors.ad import query

    conn = dc.connect(auto_range=False, return_empty_attributes=False, receive_timeout=300)
    attrs = list(query.attribute_list(extra))
    count, cookie = 0, None
    t0 = time.perf_counter()
    try:
        while True:
            conn.search(dc.base_dn, query.kind_filter(), ldap3.SUBTREE, attributes=attrs, paged_size=1000,
                        paged_cookie=cookie, controls=[query.extended_dn()])
            entries = [e for e in conn.response if e["type"] == "searchResEntry"]
            count += len(entries)
            if members is not None:  # the member count of each group (raw_create's PATCHes)
                for e in entries:
                    classes = [str(c).lower() for c in e["attributes"].get("objectClass", ())]
                    if "group" in classes:
                        members.append(sum(len(v) for k, v in e["attributes"].items()
                                           if k.lower().startswith("member") and not k.lower().startswith("memberof")))
            cookie = conn.result["controls"][query.OID_PAGED]["value"]["cookie"]
            if not cookie:
                break
    finally:
        conn.unbind()
    return time.perf_counter() - t0, count


def raw_create(scim, n_users: int, n_groups: int, concurrency: int,
               members: list[int] | None = None, chunk: int = 100) -> float:
    """Seconds for raw httpx keep-alive creates at ``concurrency``; with ``members`` (the member
    count of each group, as the source has them) each group then gets that many of the raw users
    by PATCH ``add`` in chunks of ``chunk`` (the engine's ``member_chunk``): the same work the
    engine's ``add_members`` does."""
    import httpx

    client = httpx.Client(base_url=scim.url, headers={"Authorization": f"Bearer {scim.token}"},
                          limits=httpx.Limits(max_keepalive_connections=concurrency, max_connections=concurrency))
    user_ids: list[str] = [""] * n_users
    group_ids: list[str] = [""] * n_groups

    def user(i: int) -> None:
        r = client.post("/Users", json=user_body(i))
        r.raise_for_status()
        user_ids[i] = r.json()["id"]

    def group(g: int) -> None:
        body = {"schemas": [GROUP], "externalId": f"raw-g{g}", "displayName": f"raw-group-{g:04d}"}
        r = client.post("/Groups", json=body)
        r.raise_for_status()
        group_ids[g] = r.json()["id"]

    def patch(g: int) -> None:
        count = members[g % len(members)] if members else 0
        ids = [user_ids[(g + k * n_groups) % n_users] for k in range(min(count, n_users))]
        for start in range(0, len(ids), chunk):
            ops = [{"op": "add", "path": "members", "value": [{"value": m} for m in ids[start:start + chunk]]}]
            client.patch(f"/Groups/{group_ids[g]}", json={"schemas": [PATCH_OP], "Operations": ops}).raise_for_status()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(user, range(n_users)))
        list(pool.map(group, range(n_groups)))
        if members:
            list(pool.map(patch, range(n_groups)))
    took = time.perf_counter() - t0
    client.close()
    return took


BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


def user_body(i: int) -> dict:
    return {"schemas": [USER], "externalId": f"raw-u{i}", "userName": f"raw-{i:06d}@lab.test",
            "displayName": f"Raw {i:06d}", "name": {"givenName": "Raw", "familyName": f"{i:06d}"},
            "emails": [{"value": f"raw-{i:06d}@lab.test", "type": "work", "primary": True}], "active": True}


def raw_bulk_create(scim, n_users: int, n_groups: int, concurrency: int, chunk: int = 100,
                    members: list[int] | None = None, member_chunk: int = 100) -> float:
    """Seconds for raw httpx keep-alive POSTs of ``/Bulk`` creating the same users and groups as
    ``raw_create`` (``chunk`` operations a request, ``concurrency`` requests in flight). With
    ``members`` (wave 8: the same work in bulk) each group then gets as many of the raw users as
    the source has in it, by PATCH ``add`` in chunks of ``member_chunk``, ``concurrency`` in
    flight: what the engine sends with bulk on (bulk creates, then member PATCHes)."""
    import httpx

    client = httpx.Client(base_url=scim.url, headers={"Authorization": f"Bearer {scim.token}"}, timeout=300,
                          limits=httpx.Limits(max_keepalive_connections=concurrency, max_connections=concurrency))
    ops = [{"method": "POST", "path": "/Users", "bulkId": f"u{i}", "data": user_body(i)} for i in range(n_users)]
    ops += [{"method": "POST", "path": "/Groups", "bulkId": f"g{g}",
             "data": {"schemas": [GROUP], "externalId": f"raw-g{g}", "displayName": f"raw-group-{g:04d}"}}
            for g in range(n_groups)]
    chunk = max(1, chunk)
    ids: dict[str, str] = {}  # bulkId -> the created resource's id

    def send(start: int) -> None:
        r = client.post("/Bulk", json={"schemas": [BULK_REQUEST], "Operations": ops[start:start + chunk]})
        r.raise_for_status()
        answers = r.json()["Operations"]
        bad = [o for o in answers if not str(o.get("status")).startswith("2")]
        assert not bad, bad[:3]
        if members:
            ids.update((o["bulkId"], str(o["location"]).rstrip("/").rsplit("/", 1)[-1]) for o in answers)

    def patch(g: int) -> None:
        count = members[g % len(members)] if members else 0
        users = [ids[f"u{(g + k * n_groups) % n_users}"] for k in range(min(count, n_users))]
        for start in range(0, len(users), member_chunk):
            value = [{"value": m} for m in users[start:start + member_chunk]]
            body = {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": value}]}
            client.patch(f"/Groups/{ids[f'g{g}']}", json=body).raise_for_status()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(send, range(0, len(ops), chunk)))
        if members:
            list(pool.map(patch, range(n_groups)))
    took = time.perf_counter() - t0
    client.close()
    return took


def tree_cpu_s(root: int | None) -> float:
    """CPU seconds (user + system, with reaped children) of process ``root`` and every live
    descendant: Samba forks its servers, so its CPU is a tree's."""
    if root is None:
        return 0.0
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in common.process_tree(root):
        try:
            total += sum(int(f) for f in open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[11:15]) / tick
        except OSError:
            continue
    return total


def _timed(fn, *pids: int | None) -> tuple[object, float, list[float]]:
    """fn()'s value, its wall seconds, and the CPU seconds each process tree in ``pids`` and this
    process spent meanwhile (the last entry: this process)."""
    import resource

    def mine() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    before = [tree_cpu_s(p) for p in pids] + [mine()]
    t0 = time.perf_counter()
    value = fn()
    took = time.perf_counter() - t0
    after = [tree_cpu_s(p) for p in pids] + [mine()]
    return value, took, [round(b - a, 2) for a, b in zip(before, after)]


def full_sync(n: int, n_groups: int = 200, *, max_in_flight: int = 4, bulk_chunk: int = 100, pin: bool = False,
              log=print) -> dict:
    """The three runs; each with the CPU seconds of Samba, scim2-server and the client (the raw
    side's or the engine child's): on a 2-core machine shared by all three, the sum of their CPU
    over the cores is a floor no overlap can beat (reported as ``cpu_floor_s``). ``pin``: see
    ``--pin-server`` (scim2-server alone on CPU 0; Samba, the raw clients and the engine on CPU 1)."""
    dc = common.seeded_dc(n, n_groups, log=log)
    workdir = Path(tempfile.mkdtemp(prefix="hs-p2-"))
    scim, cpus_before = None, os.sched_getaffinity(0)
    try:
        scim, token_file = common.start_scim(workdir)
        spid, dpid = scim._proc.pid, dc._pid_from_file()
        if pin:  # the target on a core of its own, as a remote target always is; everything else shares the other
            common.pin(spid, {0})
            common.pin(dpid, {1})
            os.sched_setaffinity(0, {1})  # this process: the raw clients' threads and the engine child inherit it
        cfg = common.ad_config(dc, scim.url, token_file, str(workdir / "probe.db"), max_in_flight=max_in_flight)
        probe = Engine(cfg)
        extra = probe.source_attributes(cfg.sources[0])
        probe.close()
        members: list[int] = []
        (read_s, read_count), _, read_cpu = _timed(lambda: raw_read(dc, extra, members), dpid)
        _, create_s, create_cpu = _timed(lambda: raw_create(scim, n, n_groups, max_in_flight), spid)
        scim.reset()
        _, bulk_s, bulk_cpu = _timed(lambda: raw_bulk_create(scim, n, n_groups, max_in_flight, bulk_chunk or 100),
                                     spid)
        scim.reset()
        _, bulk_same_s, bulk_same_cpu = _timed(
            lambda: raw_bulk_create(scim, n, n_groups, max_in_flight, bulk_chunk or 100, members=members), spid)
        scim.reset()
        _, same_s, same_cpu = _timed(lambda: raw_create(scim, n, n_groups, max_in_flight, members=members), spid)
        try:  # a second read, the faster one counts (a loaded machine's Samba can time out: then one read)
            (read_s2, _), _, read_cpu2 = _timed(lambda: raw_read(dc, extra), dpid)
        except Exception as exc:  # noqa: BLE001
            log(f"second raw read failed: {exc}")
            read_s2, read_cpu2 = float("inf"), read_cpu
        scim.reset()
        args = {"dc_dir": str(dc.workdir), "bulk_ou": dc.bulk_ou, "url": scim.url, "token_file": token_file,
                "state": str(workdir / "state.db"), "max_in_flight": max_in_flight,
                "log_file": str(workdir / "hybridsync.log"), "bulk_chunk": bulk_chunk}
        eng, _, eng_cpu = _timed(lambda: common.run_child(CHILD, json.dumps(args), timeout=7200), dpid, spid)
        total, dupes = common.scim_duplicates(scim)
        requests = dict(scim.backdoor.requests())
    finally:
        if pin:
            os.sched_setaffinity(0, cpus_before)  # as it was (a run under taskset keeps its CPUs)
        if scim is not None:
            scim.stop()
        common.drop_dc(dc)
    raw_read_s = min(read_s, read_s2)
    rcpu = read_cpu if read_s <= read_s2 else read_cpu2
    floor = max(raw_read_s, create_s)
    same_floor = max(raw_read_s, same_s)
    cores = os.cpu_count() or 1
    cpu_floor = (sum(rcpu) + sum(same_cpu)) / cores  # raw read + same-work creates, spread on every core
    return {"n_users": n, "n_groups": n_groups, "objects_read_raw": read_count, "raw_read_s": raw_read_s,
            "raw_create_s": create_s, "raw_bulk_create_s": bulk_s, "bulk_chunk": bulk_chunk,
            "raw_create_members_s": same_s, "member_values": sum(members),
            "engine_s": eng["seconds"], "engine_counts": eng["counts"],
            "engine_failed": eng["failed"], "resources_at_server": total, "duplicates": dupes,
            "pages_early_kept_replanned": [eng["pages_early"], eng["pages_replanned"]],
            "pages_planned_again_before_commit": eng["pages_behind"],
            "pages_planned_ahead": eng.get("pages_ahead"),  # wave 9: of those, while N's last runs were in flight
            "due_parts_early_kept_replanned": eng.get("due_parts"),
            "ratio": eng["seconds"] / floor, "ratio_same_work": eng["seconds"] / same_floor,
            "ratio_vs_raw_bulk": eng["seconds"] / max(raw_read_s, bulk_s),
            "raw_bulk_same_work_s": bulk_same_s,
            "ratio_vs_bulk_same_work": eng["seconds"] / max(raw_read_s, bulk_same_s),
            "engine_requests": {k: v for k, v in requests.items() if " " in k},
            "engine_vs_sum_of_raw": eng["seconds"] / (raw_read_s + create_s),
            "cpu_raw_read_samba_client": rcpu, "cpu_raw_create_server_client": create_cpu,
            "cpu_raw_bulk_create_server_client": bulk_cpu,
            "cpu_raw_bulk_same_work_server_client": bulk_same_cpu,
            "cpu_raw_same_work_server_client": same_cpu,
            "cpu_engine_samba_server_child": eng_cpu[:2] + [eng["cpu_s"]], "cpu_floor_s": round(cpu_floor, 2),
            # the engine run's own floors: scim2-server is one single-threaded process (its CPU-s
            # bound the wall), and the three processes' CPU-s over the machine's cores
            "engine_vs_server_cpu": eng["seconds"] / max(eng_cpu[1], 1e-9),
            "engine_vs_cpu_sum_over_cores": eng["seconds"] / max((eng_cpu[0] + eng_cpu[1] + eng["cpu_s"]) / cores, 1e-9),
            # wave 9: the raw bulk same work against its own server CPU, and the engine's wall per
            # server CPU-second over raw's (neither moves with how much CPU the server burns)
            **per_server_cpu(eng["seconds"], eng_cpu[1], bulk_same_s, bulk_same_cpu[0]),
            "peak_rss_mb": eng["peak_rss_mb"], "rss_before_mb": eng["rss_before_mb"], "pinned": pin,
            "load": " ".join(f"{x:.1f}" for x in os.getloadavg())}


def per_server_cpu(engine_s: float, engine_server_cpu: float, raw_s: float, raw_server_cpu: float) -> dict:
    """Wave 9: each side's wall per CPU-second scim2-server spent in that run, and the engine's
    over raw's (see the module docstring): a run whose server burns more CPU moves neither."""
    raw = raw_s / max(raw_server_cpu, 1e-9)
    return {"raw_bulk_same_work_vs_server_cpu": raw,
            "engine_over_raw_per_server_cpu": engine_s / max(engine_server_cpu, 1e-9) / max(raw, 1e-9)}


def p5_samba(n: int) -> float:
    figs = full_sync(n)
    common.table(list(figs.items()), f"P5 Samba full sync {n} users")
    common.result(f"p5_peak_rss_mb_samba_{n}", figs["peak_rss_mb"], "<= 150", figs["peak_rss_mb"] <= 150)
    return figs["peak_rss_mb"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=20_000)
    ap.add_argument("--groups", type=int, default=200)
    ap.add_argument("--max-in-flight", type=int, default=4)
    ap.add_argument("--bulk-chunk", type=int, default=100, help="the engine's bulk_chunk (0: no SCIM Bulk)")
    ap.add_argument("--pin-server", action="store_true",
                    help="scim2-server alone on CPU 0, Samba + the raw clients + the engine on CPU 1 (2+ cores): the "
                         "target on a core of its own, as a remote target is; RESULT names end in _pinned")
    args = ap.parse_args()
    if args.pin_server and (os.cpu_count() or 1) < 2:
        ap.error("--pin-server needs at least 2 CPUs")
    figs = full_sync(args.size, args.groups, max_in_flight=args.max_in_flight, bulk_chunk=args.bulk_chunk,
                     pin=args.pin_server)
    common.table(list(figs.items()), f"P2 full sync of {args.size} users + {args.groups} groups, Samba -> scim2-server")
    at = f"{args.size}_pinned" if args.pin_server else f"{args.size}"
    ok = figs["ratio"] <= 1.25
    common.result(f"p2_full_sync_ratio_{at}", figs["ratio"], "<= 1.25", ok)
    for key in ("ratio_same_work", "ratio_vs_raw_bulk", "ratio_vs_bulk_same_work"):
        common.result(f"p2_full_sync_{key}_{at}", figs[key], "<= 1.25", figs[key] <= 1.25)
    for key, what in (("engine_vs_server_cpu", "engine wall / scim2-server CPU-s, same run"),
                      ("raw_bulk_same_work_vs_server_cpu", "raw wall / scim2-server CPU-s, same run"),
                      ("engine_over_raw_per_server_cpu", "<= 1.25 would be the goal's like-for-like")):
        common.result(f"p2_full_sync_{key}_{at}", figs[key], f"context ({what})", None)  # INFO (wave 9)
    rss_ok = figs["peak_rss_mb"] <= 150
    common.result(f"p5_peak_rss_mb_samba_{at}", figs["peak_rss_mb"], "<= 150", rss_ok)
    return 0 if ok and rss_ok else 1


if __name__ == "__main__":
    common.quiet_logs()
    sys.exit(main())

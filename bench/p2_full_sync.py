"""P2 full sync (issue 8): engine time for a full sync of N users + 200 groups from Samba to a real
scim2-server, against the raw floor of its two halves, measured in one run.

    .venv/bin/python bench/p2_full_sync.py [--size 20000] [--groups 200]

1. raw read: a plain ldap3 paged read (page 1000) of the same base, filter, attributes and
   extended-DN control the engine's AD source uses;
2. raw create: httpx keep-alive POSTs of the same number of users and groups (same shape as the
   engine sends: userName, names, email, active, externalId) at the engine's concurrency
   (``max_in_flight``), then the server is reset;
3. the engine: ``Engine(config).run_once()`` in a fresh child process (its peak RSS is P5's
   Samba figure) on an empty store and an empty server.
ratio = engine / max(raw read, raw create), goal <= 1.25 (a pipelined engine approaches 1).
The seeded DC comes from the bench cache (see common.py); the first run at a size seeds it offline.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"

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
cfg = common.ad_config(dc, a['url'], a['token_file'], a['state'], max_in_flight=a['max_in_flight'])
engine = Engine(cfg)
rss0 = common.peak_rss_mb()
t0 = time.perf_counter()
report = engine.run_once()
took = time.perf_counter() - t0
engine.close()
print(json.dumps({'seconds': took, 'counts': dict(report.counts), 'failed': report.failed,
                  'rss_before_mb': rss0, 'peak_rss_mb': common.peak_rss_mb()}))
"""


def raw_read(dc, extra) -> tuple[float, int]:
    import ldap3

    from hybridsync.connectors.ad import query

    conn = dc.connect(auto_range=False, return_empty_attributes=False)
    attrs = list(query.attribute_list(extra))
    count, cookie = 0, None
    t0 = time.perf_counter()
    try:
        while True:
            conn.search(dc.base_dn, query.kind_filter(), ldap3.SUBTREE, attributes=attrs, paged_size=1000,
                        paged_cookie=cookie, controls=[query.extended_dn()])
            count += sum(1 for e in conn.response if e["type"] == "searchResEntry")
            cookie = conn.result["controls"][query.OID_PAGED]["value"]["cookie"]
            if not cookie:
                break
    finally:
        conn.unbind()
    return time.perf_counter() - t0, count


def raw_create(scim, n_users: int, n_groups: int, concurrency: int) -> float:
    import httpx

    client = httpx.Client(base_url=scim.url, headers={"Authorization": f"Bearer {scim.token}"},
                          limits=httpx.Limits(max_keepalive_connections=concurrency, max_connections=concurrency))

    def user(i: int) -> None:
        body = {"schemas": [USER], "externalId": f"raw-u{i}", "userName": f"raw-{i:06d}@lab.test",
                "displayName": f"Raw {i:06d}", "name": {"givenName": "Raw", "familyName": f"{i:06d}"},
                "emails": [{"value": f"raw-{i:06d}@lab.test", "type": "work", "primary": True}], "active": True}
        client.post("/Users", json=body).raise_for_status()

    def group(g: int) -> None:
        body = {"schemas": [GROUP], "externalId": f"raw-g{g}", "displayName": f"raw-group-{g:04d}"}
        client.post("/Groups", json=body).raise_for_status()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(user, range(n_users)))
        list(pool.map(group, range(n_groups)))
    took = time.perf_counter() - t0
    client.close()
    return took


def full_sync(n: int, n_groups: int = 200, *, max_in_flight: int = 4, log=print) -> dict:
    from hybridsync.engine.runtime.engine import Engine

    dc = common.seeded_dc(n, n_groups, log=log)
    workdir = Path(tempfile.mkdtemp(prefix="hs-p2-"))
    scim = None
    try:
        scim, token_file = common.start_scim(workdir)
        cfg = common.ad_config(dc, scim.url, token_file, str(workdir / "probe.db"), max_in_flight=max_in_flight)
        probe = Engine(cfg)
        extra = probe.source_attributes(cfg.sources[0])
        probe.close()
        read_s, read_count = raw_read(dc, extra)
        create_s = raw_create(scim, n, n_groups, max_in_flight)
        read_s2, _ = raw_read(dc, extra)
        scim.reset()
        args = {"dc_dir": str(dc.workdir), "bulk_ou": dc.bulk_ou, "url": scim.url, "token_file": token_file,
                "state": str(workdir / "state.db"), "max_in_flight": max_in_flight}
        eng = common.run_child(CHILD, json.dumps(args), timeout=7200)
        total, dupes = common.scim_duplicates(scim)
    finally:
        if scim is not None:
            scim.stop()
        common.drop_dc(dc)
    raw_read_s = min(read_s, read_s2)
    floor = max(raw_read_s, create_s)
    return {"n_users": n, "n_groups": n_groups, "objects_read_raw": read_count, "raw_read_s": raw_read_s,
            "raw_create_s": create_s, "engine_s": eng["seconds"], "engine_counts": eng["counts"],
            "engine_failed": eng["failed"], "resources_at_server": total, "duplicates": dupes,
            "ratio": eng["seconds"] / floor, "engine_vs_sum_of_raw": eng["seconds"] / (raw_read_s + create_s),
            "peak_rss_mb": eng["peak_rss_mb"], "rss_before_mb": eng["rss_before_mb"]}


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
    args = ap.parse_args()
    figs = full_sync(args.size, args.groups, max_in_flight=args.max_in_flight)
    common.table(list(figs.items()), f"P2 full sync of {args.size} users + {args.groups} groups, Samba -> scim2-server")
    ok = figs["ratio"] <= 1.25
    common.result(f"p2_full_sync_ratio_{args.size}", figs["ratio"], "<= 1.25", ok)
    rss_ok = figs["peak_rss_mb"] <= 150
    common.result(f"p5_peak_rss_mb_samba_{args.size}", figs["peak_rss_mb"], "<= 150", rss_ok)
    return 0 if ok and rss_ok else 1


if __name__ == "__main__":
    common.quiet_logs()
    sys.exit(main())

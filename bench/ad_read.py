"""Benchmark the AD source against a real Samba DC; ratios measured in one run.

    .venv/bin/python bench/ad_read.py                  # the lab baseline DC (~5.2k users, 5k group)
    .venv/bin/python bench/ad_read.py --bulk 20000     # + 20k users / 200 groups / a 5k group (offline seeder)
    .venv/bin/python bench/ad_read.py --dc-dir DIR     # an already running lab DC (its lab.json)

Figures:
- full read through ``AdSource`` vs a raw ldap3 paged read of the same attributes, filter,
  controls and page size (throughput ratio, goal >= 0.9; best of 3 alternating runs each).
  The raw read is ldap3 as people use it (defaults) and with ``check_names=False``; the source
  decodes entries to ``raw_attributes`` only (connection.decode_raw_only), which is why it can
  beat both;
- peak RSS growth per object during a full read (in a fresh child process; goal < 2 KB/object);
- no-change delta round time and time to deliver 100 changes, for DirSync and USN mode.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import attrs
import ldap3

from hybridsync.connectors.ad import AdSource, query
from hybridsync.engine.core.config import SourceConfig
from hybridsync.engine.lab import seed
from hybridsync.engine.lab.samba import SambaDC
from hybridsync.engine.core.values import Refresh

EXTRA = ("displayName", "mail", "givenName", "sn", "title", "department", "telephoneNumber", "employeeNumber")
PW_ENV = "HS_BENCH_AD_PASSWORD"


def config_for(dc: SambaDC, delta: str) -> SourceConfig:
    os.environ[PW_ENV] = dc.admin_password
    return SourceConfig(name="bench", urls=(dc.ldaps_url,), base_dn=dc.base_dn, bind_dn=dc.admin_dn,
                        password_env=PW_ENV, ca_file=str(dc.ca_file), tls_server_name=dc.tls_server_name,
                        delta=delta, page_size=1000)


def raw_read(dc: SambaDC, config: SourceConfig, check_names: bool = True) -> int:
    """ldap3 as people use it (``check_names=True``: its defaults), or with the source's options."""
    conn = dc.connect(auto_range=False, return_empty_attributes=False, check_names=check_names)
    attrs = list(query.attribute_list(EXTRA))
    count, cookie = 0, None
    try:
        while True:
            conn.search(config.base_dn, query.kind_filter(), ldap3.SUBTREE, attributes=attrs, paged_size=config.page_size,
                        paged_cookie=cookie, controls=[query.extended_dn()])
            count += sum(1 for e in conn.response if e["type"] == "searchResEntry")
            cookie = conn.result["controls"][query.OID_PAGED]["value"]["cookie"]
            if not cookie:
                return count
    finally:
        conn.unbind()


def source_read(config: SourceConfig) -> tuple[int, object]:
    source = AdSource(config, attributes=EXTRA)
    count, cursor = 0, None
    try:
        for batch in source.read(Refresh("bench")):
            count += len(batch.objects) + len(batch.errors)
            cursor = batch.cursor
        return count, cursor
    finally:
        source.close()


def timed(fn, *args):
    started = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - started, out


def rss_child(dc_dir: str, page_size: int) -> None:
    dc = _attach(Path(dc_dir))
    config = attrs.evolve(config_for(dc, "usn"), page_size=page_size)
    source = AdSource(config, attributes=EXTRA)
    source.describe()  # imports, TLS, bind, rootDSE, schema: everything but the pages
    base = _vm("VmRSS")
    _reset_peak()
    count = 0
    for batch in source.read(Refresh("rss")):
        count += len(batch.objects)
    peak = _vm("VmHWM")
    source.close()
    print(json.dumps({"objects": count, "rss_growth_kb": peak - base, "rss_base_kb": base}))


def _vm(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs)."""
    Path("/proc/self/clear_refs").write_text("5")


def _attach(workdir: Path) -> SambaDC:
    """A handle on an already running lab DC (no relocation, no start)."""
    meta = json.loads((workdir / "lab.json").read_text())
    return SambaDC(workdir, address=meta["address"], realm=meta["realm"], domain=meta["domain"],
                   server_name=meta["server_name"], admin_password=meta["admin_password"])


def delta_figures(dc: SambaDC, delta: str, users: list[str], rounds: int = 7) -> dict:
    config = config_for(dc, delta)
    source = AdSource(config, attributes=EXTRA)
    conn = dc.connect()
    try:
        cursor = None
        for batch in source.read(Refresh("bench")):
            cursor = batch.cursor
        times = []
        for _ in range(rounds):
            t, batches = timed(lambda c: list(source.read(c)), cursor)
            cursor = batches[-1].cursor
            times.append(t)
        stamp = f"{delta}-{time.time():.0f}"
        for dn in users[:100]:
            seed.set_attrs(conn, dn, title=stamp)
        started = time.perf_counter()
        seen = set()
        while len(seen) < min(100, len(users)):
            for batch in source.read(cursor):
                seen |= {o.object_guid for o in batch.objects if o.first("title") == stamp}
                cursor = batch.cursor
            if time.perf_counter() - started > 60:
                break
        deliver = time.perf_counter() - started
        return {"no_change_round_s": round(statistics.median(times), 4), "deliver_100_changes_s": round(deliver, 3),
                "delivered": len(seen)}
    finally:
        conn.unbind()
        source.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dc-dir", help="a running lab DC's directory (with lab.json)")
    ap.add_argument("--bulk", type=int, default=0, help="add this many users with the offline seeder first")
    ap.add_argument("--rss-child", help=argparse.SUPPRESS)
    ap.add_argument("--rss-page", type=int, default=1000, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        rss_child(args.rss_child, args.rss_page)
        return 0
    cleanup = None
    if args.dc_dir:
        dc = _attach(Path(args.dc_dir))
    else:
        from hybridsync.engine.lab.samba_cache import cached_lab_dc, short_tempdir

        root = short_tempdir("hs-bench-")
        dc = cached_lab_dc(root / "dc")
        if args.bulk:
            print(json.dumps({"bulk_seed": seed.bulk_seed_offline(dc, args.bulk)}))
        dc.start()
        cleanup = (dc, root)
    try:
        config = config_for(dc, "dirsync")
        raw_times, same_times, src_times, n_raw, n_src = [], [], [], 0, 0
        for _ in range(3):
            t, n_raw = timed(raw_read, dc, config)
            raw_times.append(t)
            t, _ = timed(raw_read, dc, config, False)
            same_times.append(t)
            t, (n_src, _) = timed(source_read, config)
            src_times.append(t)
        rss, rss_small = (json.loads(subprocess.run(
            [sys.executable, __file__, "--rss-child", str(dc.workdir), "--rss-page", str(page)], check=True,
            capture_output=True, text=True).stdout.strip().splitlines()[-1]) for page in (1000, 250))
        conn = dc.connect()
        users = [e["dn"] for e in conn.extend.standard.paged_search(
            dc.base_dn, "(&(objectCategory=person)(objectClass=user))", attributes=["cn"],
            paged_size=1000, generator=True) if e["type"] == "searchResEntry" and ",OU=" in e["dn"]][-100:]
        conn.unbind()
        result = {
            "objects": n_src,
            "raw_ldap3_full_read_s": round(min(raw_times), 3),
            "raw_ldap3_check_names_off_s": round(min(same_times), 3),
            "adsource_full_read_s": round(min(src_times), 3),
            "throughput_ratio_source_over_raw": round(min(raw_times) / min(src_times), 3),
            "throughput_ratio_source_over_raw_check_names_off": round(min(same_times) / min(src_times), 3),
            "objects_per_s_source": round(n_src / min(src_times)),
            "rss_growth_kb_per_object": round(rss["rss_growth_kb"] / max(1, rss["objects"]), 3),
            "rss_growth_kb_total": rss["rss_growth_kb"],
            "rss_growth_kb_total_page_250": rss_small["rss_growth_kb"],  # page-bound, not N-bound
            "dirsync": delta_figures(dc, "dirsync", users),
            "usn": delta_figures(dc, "usn", users),
        }
        assert n_raw == n_src, (n_raw, n_src)
        print(json.dumps(result, indent=1))
        ratio, per_obj = result["throughput_ratio_source_over_raw"], result["rss_growth_kb_per_object"]
        print(f"RESULT: ad_read_source_vs_raw_{n_src} {ratio:.3f} goal >= 0.9 {'PASS' if ratio >= 0.9 else 'MISS'}")
        print(f"RESULT: ad_read_rss_kb_per_object_{n_src} {per_obj:.3f} goal < 2 {'PASS' if per_obj < 2 else 'MISS'}")
        return 0
    finally:
        if cleanup:
            cleanup[0].close()
            shutil.rmtree(cleanup[1], ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

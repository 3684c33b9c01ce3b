"""Benchmark the Samba lab: provisioning, clone+start, LDAP and offline seeding rates,
offline backup + restore. Prints one line per figure and a JSON summary at the end.

    .venv/bin/python bench/seed_rate.py                      # quick figures
    .venv/bin/python bench/seed_rate.py --offline-users 20000  # the 20k offline run (~1-2 min)

Figures depend heavily on machine load (the lab machine is shared by several sessions);
run it on a quiet machine for comparable numbers.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time

from hybridsync.engine.lab import seed
from hybridsync.engine.lab.samba import SambaDC
from hybridsync.engine.lab.samba_cache import cached_lab_dc, short_tempdir


def timed(label: str, results: dict, func, *args, **kwargs):
    started = time.monotonic()
    value = func(*args, **kwargs)
    results[label] = round(time.monotonic() - started, 2)
    print(f"{label:32s} {results[label]:8.2f} s", flush=True)
    return value


def count_users(dc: SambaDC, base: str) -> int:
    conn = dc.connect(receive_timeout=600)  # Samba's first page of a 100k OU takes > 5 s under load
    try:
        return sum(1 for e in conn.extend.standard.paged_search(base, "(objectClass=user)", attributes=["cn"],
                                                                 paged_size=1000, generator=True)
                   if e.get("type") == "searchResEntry")
    finally:
        conn.unbind()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ldap-users", type=int, default=300)
    parser.add_argument("--offline-users", type=int, default=5000)
    parser.add_argument("--skip-provision", action="store_true", help="don't time a fresh provision")
    parser.add_argument("--skip-restore", action="store_true")
    parser.add_argument("--untuned", action="store_true",
                        help="seed with ldb's default hash sizes (what seed_offline.py sized before 2026-12-03 evening)")
    args = parser.parse_args()
    results: dict[str, float] = {}
    root = short_tempdir("hs-bench-")
    dcs: list[SambaDC] = []
    try:
        if not args.skip_provision:
            dc = timed("provision_s", results, SambaDC.provision, root / "prov")
            dcs.append(dc)
            timed("first_start_s (makes TLS cert)", results, dc.start)
            dc.close()
        cached_lab_dc(root / "warm", users=20, large_group_size=0).close()  # build the cache if needed
        dc = timed("cache_restore_s", results, cached_lab_dc, root / "dc", users=20, large_group_size=0)
        dcs.append(dc)
        timed("start_s", results, dc.start)
        results["clone_and_start_s"] = round(results["cache_restore_s"] + results["start_s"], 2)

        conn = dc.connect()
        ou = seed.add_ou(conn, dc.base_dn, "BenchLdap")
        started = time.monotonic()
        for i in range(args.ldap_users):
            seed.add_user(conn, ou, f"Bench {i:05d}", sam=f"bench{i:05d}", mail=f"bench{i}@lab.test",
                          given="Bench", sn=str(i), display=f"Bench {i}")
        ldap_s = time.monotonic() - started
        results["ldap_users_per_s (with password)"] = round(args.ldap_users / ldap_s, 1)
        print(f"ldap seeding: {args.ldap_users} users with a password in {ldap_s:.1f} s = "
              f"{results['ldap_users_per_s (with password)']}/s", flush=True)
        started = time.monotonic()
        for i in range(args.ldap_users):
            seed.add_user(conn, ou, f"Nopw {i:05d}", sam=f"nopw{i:05d}", mail=f"nopw{i}@lab.test",
                          given="Nopw", sn=str(i), display=f"Nopw {i}", enabled=False)
        ldap_s = time.monotonic() - started
        conn.unbind()
        results["ldap_users_per_s (no password)"] = round(args.ldap_users / ldap_s, 1)
        print(f"ldap seeding: {args.ldap_users} users without a password in {ldap_s:.1f} s = "
              f"{results['ldap_users_per_s (no password)']}/s", flush=True)

        out = seed.bulk_seed_offline(dc, args.offline_users, n_groups=max(1, args.offline_users // 100),
                                     large_group_size=min(5000, args.offline_users), ou="OU=BenchBulk",
                                     tuned=not args.untuned)
        results["offline_users"] = args.offline_users
        results["offline_users_per_s"] = out["users_per_s"]
        results["offline_total_s (users+groups)"] = out["seconds"]
        results["offline_load_s"] = out.get("load_seconds")
        results["offline_reindex_s"] = out.get("reindex_seconds")
        print(f"offline seeding: {args.offline_users} users + groups in {out['seconds']} s = "
              f"{out['users_per_s']}/s (raw load {out.get('load_seconds')} s, Samba's reindex "
              f"{out.get('reindex_seconds')} s, {'untuned' if args.untuned else 'tuned'})", flush=True)
        phases = out.get("phases", {})
        cpu = sum(p["cpu"] for p in phases.values())
        for name, p in phases.items():
            print(f"  {name:14s} wall {p['wall']:8.2f} s  cpu {p['cpu']:8.2f} s", flush=True)
        results["offline_cpu_s"] = round(cpu, 2)
        seen = count_users(dc, f"OU=BenchBulk,{dc.base_dn}")  # the DC restarted: does LDAP see every user?
        results["offline_users_read_over_ldap"] = seen
        print(f"users read back over LDAP: {seen} of {args.offline_users}; seeder CPU {cpu:.1f} s = "
              f"{args.offline_users / max(cpu, 1e-9):.0f} users per CPU-second", flush=True)
        rate = float(out["users_per_s"]) if seen == args.offline_users else 0.0
        print(f"RESULT: seed_offline_users_per_s_{args.offline_users} {rate:.1f} goal >= 1000 "
              f"{'PASS' if rate >= 1000 else 'MISS'}", flush=True)

        if not args.skip_restore:
            dc.stop()
            backup = timed("backup_offline_s", results, dc.backup_offline, root / "backup")
            lock = dc.detach_lock()
            restored = timed("restore_s", results, SambaDC.restore_from_backup, backup, root / "restored",
                             lock=lock, new_server_name="DC2")
            dcs.append(restored)
            timed("restored_first_start_s", results, restored.start)
    finally:
        for dc in dcs:
            dc.close()
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

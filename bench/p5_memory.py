"""P5 memory (issue 8): peak RSS of a full sync and state-store bytes per object.

    .venv/bin/python bench/p5_memory.py                      # 100k generated users + 200 groups, 10k for the slope
    .venv/bin/python bench/p5_memory.py --size 50000 --small 5000 --shm
    .venv/bin/python bench/p5_memory.py --scim               # real scim2-server as the target (slower)
    .venv/bin/python bench/p5_memory.py --samba 20000        # from Samba: runs bench/p2_full_sync.py's engine child

Each size runs in a fresh child interpreter so its peak RSS (ru_maxrss) is its own. Source: the
generated in-memory directory (``GeneratedSource``: objects made on the fly, so the source holds
nothing). Store: a real SQLite file (``--shm`` puts it on /dev/shm: same bytes, no fsync cost;
RSS is unaffected because SQLite does not mmap it). Target: by default an in-process counting
target that keeps call counts only (``CountingTarget(keep=False)``: nothing per object, so the
figure is the engine's; its externalId map was 15.9 MB of the 100k figure); ``--scim`` uses a
real scim2-server in its own process. Peak RSS is the child's own ``VmHWM`` (common.peak_rss_mb).
Goals: peak RSS <= 150 MB at 100k; store <= 2 KB per object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

RSS_GOAL_MB = 150.0
BYTES_GOAL = 2048


def full_sync_memory(n_users: int, n_groups: int, store_dir: str, *, scim_url: str | None = None,
                     token_file: str | None = None, page_size: int = 1000) -> dict:
    """One full sync of a generated directory in THIS process; figures incl. peak RSS and store bytes."""
    from hybridsync.engine.runtime.engine import Engine
    from hybridsync.statestore import Store

    path = Path(store_dir) / f"p5-{n_users}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    src = common.generated_source(n_users, n_groups, page_size=page_size)
    if scim_url:
        from hybridsync.connectors.scim import ScimTarget

        cfg = common.memory_config(str(path), target_kind="scim", url=scim_url, token_file=token_file)
        tgt = ScimTarget(cfg.targets[0])
    else:
        cfg = common.memory_config(str(path))
        tgt = common.CountingTarget(keep=False)  # counts only: the figure is the engine's
    store = Store.open(path)
    engine = Engine(cfg, store=store, sources={"corp": src}, targets={"app": tgt})
    rss_before = common.peak_rss_mb()
    samples: list[float] = []
    t0 = time.perf_counter()
    report = engine.run_once(progress=lambda _p: samples.append(common.current_rss_mb()))
    took = time.perf_counter() - t0
    peak = common.peak_rss_mb()
    engine.close()
    objects = store.count_objects("corp")
    store.close()
    size = sum(os.path.getsize(f"{path}{s}") for s in ("", "-wal") if os.path.exists(f"{path}{s}"))
    mid = samples[len(samples) // 2] if samples else 0.0
    return {"n_objects": n_users + n_groups, "stored_objects": objects, "seconds": round(took, 1),
            "created": int(report.counts.get("create", 0)), "failed": report.failed,
            "rss_before_mb": round(rss_before, 1), "rss_mid_mb": round(mid, 1),
            "rss_end_mb": round(samples[-1] if samples else 0.0, 1), "peak_rss_mb": round(peak, 1),
            "store_bytes": size, "bytes_per_object": round(size / max(objects, 1), 1),
            "target": "scim2-server" if scim_url else "counting (in-process, counts only)",
            "target_creates": getattr(tgt, "created", None)}


def store_after_churn(n_users: int, n_groups: int, store_dir: str, *, days: int = 31, churn: float = 0.01,
                      page_size: int = 1000, record_days: float | None = None) -> dict:
    """A full sync, then ``days`` simulated days (the engine's clock moves a day at a time): each
    day ``churn`` of the users change a title (a delta cycle) and the daily safety full read
    runs; retention is the default ([state] retain_days 30, record_days 7), run by the engine
    itself. Returns the whole store file (log, recordings, journal included) per object, and
    its parts (``parts_bytes_per_object``: recordings, history, the rest) from SQLite's dbstat.
    Recordings are kept compressed since store format 5 (statestore/codec.py)."""
    from datetime import UTC, datetime, timedelta

    from hybridsync.engine.runtime.engine import Engine
    from hybridsync.statestore import Store

    path = Path(store_dir) / f"p5-churn-{n_users}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    src = common.generated_source(n_users, n_groups, page_size=page_size)
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    import attrs

    cfg = common.memory_config(str(path))
    if record_days is not None:
        cfg = attrs.evolve(cfg, state=attrs.evolve(cfg.state, record_days=record_days))
    engine = Engine(cfg, store=Store.open(path), sources={"corp": src},
                    targets={"app": common.CountingTarget()}, clock=lambda: now[0], record=True)

    def size() -> int:
        return sum(os.path.getsize(f"{path}{s}") for s in ("", "-wal") if os.path.exists(f"{path}{s}"))

    engine.run_once()
    engine.store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the WAL's size is not the data's
    after_full = size()
    changed = max(1, int(n_users * churn))
    for day in range(1, days + 1):
        now[0] += timedelta(days=1)
        for k in range(changed):
            src.modify(common.guid((day * changed + k) % n_users), title=f"day {day}")
        engine.run_once()
        now[0] += timedelta(minutes=1)
        engine.run_once(full="periodic safety full read")
    engine.close()
    engine.store.close()
    objects = n_users + n_groups
    parts = {k: round(v / objects, 1) for k, v in store_parts(path).items()}
    return {"n_objects": objects, "days": days, "changes_per_day": changed, "after_full_sync_bytes": after_full,
            "after_full_sync_bytes_per_object": round(after_full / objects, 1), "after_churn_bytes": size(),
            "bytes_per_object": round(size() / objects, 1), **{f"  {k} B/object": v for k, v in parts.items()}}


def store_parts(path: Path) -> dict[str, int]:
    """Bytes of the store file's pages per part (tables with their indexes): the recordings for
    replay, the provisioning log, the rest (state); {} when this SQLite lacks dbstat."""
    import sqlite3

    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        owner = dict(conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"))
        sizes = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
    except sqlite3.Error:
        return {}
    finally:
        conn.close()
    part = {"batches": "recordings", "target_calls": "recordings", "history": "history"}
    out = {"recordings": 0, "history": 0, "state": 0}
    for name, n in sizes:
        out[part.get(owner.get(name, name), "state")] += int(n)
    return out


CHILD = """
import json, sys
sys.path.insert(0, 'bench')
import p5_memory
a = json.loads(sys.argv[1])
print(json.dumps(p5_memory.full_sync_memory(**a)))
"""


def run_size(n: int, n_groups: int, store_dir: str, scim: bool) -> dict:
    kwargs = {"n_users": n, "n_groups": n_groups, "store_dir": store_dir}
    lab = None
    if scim:
        lab, token_file = common.start_scim(Path(store_dir))
        kwargs.update(scim_url=lab.url, token_file=token_file)
    try:
        return common.run_child(CHILD, json.dumps(kwargs), timeout=7200)
    finally:
        if lab is not None:
            lab.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--small", type=int, default=10_000)
    ap.add_argument("--groups", type=int, default=200)
    ap.add_argument("--shm", action="store_true", help="state store on /dev/shm")
    ap.add_argument("--scim", action="store_true", help="real scim2-server target")
    ap.add_argument("--samba", type=int, default=0, help="also: full sync of N users from Samba (P2's child)")
    ap.add_argument("--record-days", type=float, default=None, help="with --churn: [state] record_days")
    ap.add_argument("--churn", type=int, default=0, help="only: store bytes per object of N users after a full "
                                                         "sync + 31 simulated days of 1%% churn, default retention")
    args = ap.parse_args()
    if args.churn:
        figs = store_after_churn(args.churn, args.groups, tempfile.mkdtemp(prefix="hs-p5c-"),
                                 record_days=args.record_days)
        common.table(list(figs.items()), f"P5 store after churn, {args.churn} users (load {common.load()})")
        ok = figs["bytes_per_object"] <= BYTES_GOAL
        common.result(f"p5_store_bytes_per_object_after_churn_{figs['n_objects']}", figs["bytes_per_object"],
                      f"<= {BYTES_GOAL}", ok)
        return 0 if ok else 1
    store_dir = tempfile.mkdtemp(prefix="hs-p5-", dir="/dev/shm" if args.shm else None)
    ok = True
    figs = {}
    for n in (args.small, args.size):
        figs[n] = run_size(n, args.groups, store_dir, args.scim)
        common.table(list(figs[n].items()), f"P5 full sync, generated source, {n} users + {args.groups} groups")
    big = figs[args.size]
    small = figs[args.small]
    slope = (big["peak_rss_mb"] - small["peak_rss_mb"]) * 1024 * 1024 / max(args.size - args.small, 1)
    common.table([("peak RSS growth per extra object (bytes)", round(slope))], "slope")
    ok &= big["peak_rss_mb"] <= RSS_GOAL_MB
    common.result(f"p5_peak_rss_mb_memory_{big['n_objects']}", big["peak_rss_mb"], f"<= {RSS_GOAL_MB:.0f}",
                  big["peak_rss_mb"] <= RSS_GOAL_MB)
    if args.samba:
        import p2_full_sync

        s = p2_full_sync.p5_samba(args.samba)
        ok &= s <= RSS_GOAL_MB
    # Right after a full sync the store still holds the sync's history and recordings, which the
    # default retention prunes; the goal is the store after 30 days (--churn, its own line).
    common.result(f"p5_store_bytes_per_object_right_after_full_sync_{big['n_objects']}", big["bytes_per_object"],
                  f"none here (<= {BYTES_GOAL} after 30 days: --churn)", None)
    return 0 if ok else 1


if __name__ == "__main__":
    common.quiet_logs()
    sys.exit(main())

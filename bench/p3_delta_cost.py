"""P3 delta cost (issue 8): does a small delta cycle stay cheap as the directory grows?

    .venv/bin/python bench/p3_delta_cost.py                       # in-memory 100k vs 10k, then Samba 20k vs 2k
    .venv/bin/python bench/p3_delta_cost.py --only memory --size 100000 --small 10000
    .venv/bin/python bench/p3_delta_cost.py --only samba --size 20000 --small 2000

Figures, each measured in one run:
- overhead(N) = median(10-change cycle time) - median(raw no-change source round), same N;
  ratio overhead(big) / overhead(small), goal <= 1.5.
  Samba: the raw round is a plain ldap3 DirSync round (same attributes, controls, cookie) on the
  same DC. Memory: the raw round is the generated source's own no-change delta read.
- Samba: no-change cycle / raw DirSync round, goal <= 1.2.
The target is an in-process counting target (O(1), stores ids only) so the figure is the engine's
own cost; 10 SCIM updates at a real server would add a constant (~50 ms) to both sizes.
The state store is a real SQLite file.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from hybridsync.engine.runtime.engine import Engine  # noqa: E402
from hybridsync.statestore import Store  # noqa: E402

ROUNDS = 5
CHANGES = 10


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _cursor_rounds(source, cursor, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        t, batches = _timed(lambda: list(source.read(cursor)))
        times.append(t)
    return times


# ----------------------------------------------------------------------------- in-memory source
def memory_delta(n: int, *, rounds: int = ROUNDS, page_size: int = 1000, workdir: Path | None = None) -> dict:
    """Full sync of ``n`` generated users, then no-change and 10-change cycles; returns figures."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="hs-p3-"))
    src = common.generated_source(n, page_size=page_size)
    tgt = common.CountingTarget()
    store = Store.open(workdir / f"p3-mem-{n}.db")
    cfg = common.memory_config(str(workdir / f"p3-mem-{n}.db"))
    engine = Engine(cfg, store=store, sources={"corp": src}, targets={"app": tgt})
    try:
        full_s, rep = _timed(engine.run_once)
        created = rep.counts.get("create", tgt.calls.get("create", 0))
        # steady state: the full sync's WAL is checkpointed and the first delta (which reads the
        # full sync's decisions into the delete threshold's window once) is not counted
        store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.run_once()
        cursor = store.get_cursor("corp")
        raw = _cursor_rounds(src, cursor, rounds)
        nochange = [_timed(engine.run_once)[0] for _ in range(rounds)]
        change, writes = [], []
        for r in range(rounds):
            before = tgt.writes()
            for i in range(CHANGES):
                src.modify(common.guid((i * 7 + r) % n), title=f"round{r}")
            change.append(_timed(engine.run_once)[0])
            writes.append(tgt.writes() - before)
        raw_after = _cursor_rounds(src, store.get_cursor("corp"), rounds)
    finally:
        engine.close()
        store.close()
    raw_all = raw + raw_after
    return {"n": n, "full_s": full_s, "created": created, "raw_round_s": common.median(raw_all),
            "nochange_cycle_s": common.median(nochange), "change_cycle_s": common.median(change),
            "writes_per_change_cycle": common.median(writes),
            "overhead_s": common.median(change) - common.median(raw_all)}


# ----------------------------------------------------------------------------- Samba
def raw_dirsync_rounds(dc, attributes, rounds: int) -> list[float]:
    """Plain ldap3 no-change DirSync rounds with the same filter, attributes and controls."""
    import ldap3

    from hybridsync.connectors.ad import query
    from hybridsync.connectors.ad.source import DIRSYNC_FILTER, NO_MATCH_FILTER

    conn = dc.connect(auto_range=False, return_empty_attributes=False)
    nc = dc.base_dn

    def one(cookie, flt):
        conn.search(nc, flt, ldap3.SUBTREE, attributes=list(attributes),
                    controls=[query.dirsync(cookie, object_security=False), query.extended_dn(), query.show_deleted()])
        return conn.result["controls"][query.OID_DIRSYNC]["value"]["cookie"]

    try:
        cookie = one(None, NO_MATCH_FILTER)
        cookie = one(cookie, DIRSYNC_FILTER)  # settle
        times = []
        for _ in range(rounds):
            t, cookie = _timed(lambda: one(cookie, DIRSYNC_FILTER))
            times.append(t)
        return times
    finally:
        conn.unbind()


def samba_delta(n: int, *, rounds: int = ROUNDS, n_groups: int = 200, log=print) -> dict:
    from hybridsync.connectors.ad import query
    from hybridsync.engine.lab import seed

    dc = common.seeded_dc(n, n_groups, log=log)
    workdir = Path(tempfile.mkdtemp(prefix="hs-p3s-"))
    try:
        state = workdir / "state.db"
        cfg = common.ad_config(dc, "http://127.0.0.1:9/unused", str(workdir / "none"), str(state), notify=False)
        tgt = common.CountingTarget()
        store = Store.open(state)
        engine = Engine(cfg, store=store, targets={"app": tgt})
        conn = dc.connect()
        try:
            full_s, rep = _timed(engine.run_once)
            attrs = query.attribute_list(engine.source_attributes(cfg.sources[0]))
            users = seed.child_dns(conn, dc.bulk_ou, "(objectClass=user)")[: CHANGES * rounds]
            engine.run_once()
            raw = raw_dirsync_rounds(dc, attrs, rounds)
            nochange = [_timed(engine.run_once)[0] for _ in range(rounds)]
            change, writes = [], []
            for r in range(rounds):
                before = tgt.writes()
                for dn in users[r * CHANGES:(r + 1) * CHANGES]:
                    seed.set_attrs(conn, dn, title=f"round{r}-{time.time():.0f}")
                change.append(_timed(engine.run_once)[0])
                writes.append(tgt.writes() - before)
            raw += raw_dirsync_rounds(dc, attrs, rounds)
        finally:
            conn.unbind()
            engine.close()
            store.close()
    finally:
        common.drop_dc(dc)
    return {"n": n, "full_s": full_s, "created": tgt.calls.get("create", 0), "raw_round_s": common.median(raw),
            "nochange_cycle_s": common.median(nochange), "change_cycle_s": common.median(change),
            "writes_per_change_cycle": common.median(writes),
            "overhead_s": common.median(change) - common.median(raw)}


def _show(label: str, figs: dict) -> None:
    common.table([(k, v) for k, v in figs.items()], f"{label} N={figs['n']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=("memory", "samba"), default=None)
    ap.add_argument("--size", type=int, default=None, help="big N (memory default 100000, samba 20000)")
    ap.add_argument("--small", type=int, default=None, help="small N (memory default 10000, samba 2000)")
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    args = ap.parse_args()
    ok = True
    if args.only in (None, "memory"):
        big, small = args.size or 100_000, args.small or 10_000
        s = memory_delta(small, rounds=args.rounds)
        _show("memory", s)
        b = memory_delta(big, rounds=args.rounds)
        _show("memory", b)
        ratio = b["overhead_s"] / max(s["overhead_s"], 1e-9)
        ok &= ratio <= 1.5
        common.result(f"p3_delta_overhead_memory_{big}_vs_{small}", ratio, "<= 1.5", ratio <= 1.5)
    if args.only in (None, "samba"):
        big, small = args.size or 20_000, args.small or 2_000
        s = samba_delta(small, rounds=args.rounds)
        _show("samba", s)
        b = samba_delta(big, rounds=args.rounds)
        _show("samba", b)
        ratio = b["overhead_s"] / max(s["overhead_s"], 1e-9)
        common.result(f"p3_delta_overhead_samba_{big}_vs_{small}", ratio, "<= 1.5", ratio <= 1.5)
        nc = b["nochange_cycle_s"] / b["raw_round_s"]
        common.result(f"p3_nochange_cycle_vs_raw_dirsync_samba_{big}", nc, "<= 1.2", nc <= 1.2)
        ok &= ratio <= 1.5 and nc <= 1.2
    return 0 if ok else 1


if __name__ == "__main__":
    common.quiet_logs()
    sys.exit(main())

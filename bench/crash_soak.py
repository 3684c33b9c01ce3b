"""Crash soak (issue 8; not CI): >= 100 kill -9 at random points across full and delta cycles.

    .venv/bin/python bench/crash_soak.py [--kills 100] [--users 200] [--seed 1]

Services: a REAL scim2-server target and an in-memory source in a subprocess engine (a real Samba
DC would need minutes per kill on this machine). The directory is an operation log kept by this
script; every engine process replays the whole log into a ``MemorySource`` with a fixed DC
identity, so the change sequence numbers -- and so the stored delta cursor -- mean the same thing
in every process: restarts do real delta cycles, and about one cycle in three is a forced full read.

Each round: a few random AD edits (attribute change, disable/enable, move out of scope and back,
delete, create, member add/remove), then an engine process killed with SIGKILL either after a
random number of SCIM writes or after a random delay (a kill before the first write or after the
end still counts as a round, but only real kills count toward ``--kills``). Every 10 kills a
clean cycle runs to the end and the server is checked against the directory:
- lost: an in-scope user missing at the server, or holding a stale title / active flag;
- duplicated: an externalId held by more than one resource;
- wrongly deleted: an in-scope enabled user whose resource is gone or inactive after it had been
  seen at the server;
- not deprovisioned (reported, not part of the goal): deleted / out-of-scope users still active;
- group member mismatches (reported): member sets differing from the in-scope members.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

HERE = Path(__file__).resolve()
BASE = common.GEN_BASE
STAFF = common.GEN_OU
OTHER = f"OU=Other,{BASE}"
GROUP_BASE = 10_000_000


# ----------------------------------------------------------------------------- the child engine
def build_source(ops: list, page_size: int):
    from hybridsync.connectors.testing.memory import MemorySource
    from hybridsync.engine.core.values import ObjectKind, SourceObject

    src = MemorySource("soak", page_size=page_size, invocation_id="soak-dc-1")
    for op in ops:
        if op[0] == "user":
            _, n, ou, title, disabled = op
            g = common.guid(n)
            attrs = {"userprincipalname": (f"soak{n}@lab.test",), "samaccountname": (f"soak{n}",),
                     "sn": (f"S{n}",), "cn": (f"soak{n}",), "displayname": (f"Soak {n}",), "title": (title,),
                     "useraccountcontrol": ("514" if disabled else "512",)}
            src.put(SourceObject(anchor=g, object_guid=g, kind=ObjectKind.USER, dn=f"CN=soak{n},{ou}", attributes=attrs))
        elif op[0] == "group":
            _, n, members = op
            g = common.guid(GROUP_BASE + n)
            src.put(SourceObject(anchor=g, object_guid=g, kind=ObjectKind.GROUP, dn=f"CN=soakgroup{n},{STAFF}",
                                 attributes={"cn": (f"soakgroup{n}",), "samaccountname": (f"soakgroup{n}",)},
                                 members=frozenset(common.guid(m) for m in members)))
        elif op[0] == "delete":
            src.delete(common.guid(op[1]))
    return src


def child(state: str, url: str, token_file: str, oplog: str, full: bool, page_size: int) -> int:
    from hybridsync.connectors.scim import ScimTarget
    from hybridsync.engine.runtime.engine import Engine

    ops = json.loads(Path(oplog).read_text())
    cfg = common.memory_config(state, target_kind="scim", url=url, token_file=token_file)
    # each restart after a kill waits call_grace (= timeout) for creates the killed child may
    # still have in flight: 5 s keeps many kills affordable (the default is 30 s)
    cfg = attrs.evolve(cfg, targets=(attrs.evolve(cfg.targets[0], timeout=5.0),))
    engine = Engine(cfg, sources={"corp": build_source(ops, page_size)}, targets={"app": ScimTarget(cfg.targets[0])})
    report = engine.run_once(full=bool(full))
    engine.close()
    print("EXIT", report.exit_code(), dict(report.counts), flush=True)
    return 0 if report.exit_code() in (0, 1) else report.exit_code()


# ----------------------------------------------------------------------------- the directory model
class Directory:
    def __init__(self, users: int, groups: int, rng: random.Random):
        self.rng = rng
        self.ops: list = []
        self.users: dict[int, dict] = {}
        self.groups: dict[int, set[int]] = {}
        self.next = 0
        for _ in range(users):
            self.create()
        for g in range(groups):
            self.groups[g] = {n for n in self.users if n % (groups + 1) == g}
            self.ops.append(("group", g, sorted(self.groups[g])))

    def _emit(self, n: int) -> None:
        u = self.users[n]
        self.ops.append(("user", n, u["ou"], u["title"], u["disabled"]))

    def create(self) -> None:
        n = self.next
        self.next += 1
        self.users[n] = {"ou": STAFF, "title": "t0", "disabled": False}
        self._emit(n)

    def edit(self) -> str:
        live = sorted(self.users)
        n = self.rng.choice(live)
        u = self.users[n]
        what = self.rng.choice(["title", "title", "title", "disable", "move", "delete", "create", "member", "member"])
        if what == "title":
            u["title"] = f"t{self.rng.randrange(10**6)}"
        elif what == "disable":
            u["disabled"] = not u["disabled"]
        elif what == "move":
            u["ou"] = OTHER if u["ou"] == STAFF else STAFF
        elif what == "delete":
            del self.users[n]
            for members in self.groups.values():
                members.discard(n)
            self.ops.append(("delete", n))
            return what
        elif what == "create":
            self.create()
            return what
        elif what == "member":
            g = self.rng.choice(sorted(self.groups))
            self.groups[g] ^= {n}
            self.ops.append(("group", g, sorted(self.groups[g])))
            return what
        self._emit(n)
        return what


# ----------------------------------------------------------------------------- checking
def check(scim, d: Directory, seen: set[str]) -> dict:
    users = scim.backdoor.resources("User")
    groups = scim.backdoor.resources("Group")
    ext = Counter(r.get("externalId") for r in users + groups if r.get("externalId"))
    by_ext = {r.get("externalId"): r for r in users}
    id_to_ext = {r["id"]: r.get("externalId") for r in users}
    lost = wrongly_deleted = not_deprovisioned = 0
    for n, u in d.users.items():
        g = common.guid(n)
        r = by_ext.get(g)
        in_scope = u["ou"] == STAFF
        if not in_scope:
            if r is not None and r.get("active", True):
                not_deprovisioned += 1
            continue
        want_active = not u["disabled"]
        if r is None or (want_active and not r.get("active", True)):
            if want_active and g in seen:
                wrongly_deleted += 1
            else:
                lost += 1
            continue
        if r.get("title") != u["title"] or bool(r.get("active", True)) != want_active:
            lost += 1
    deleted = {common.guid(n) for n in range(d.next)} - {common.guid(n) for n in d.users}
    not_deprovisioned += sum(1 for a in deleted if a in by_ext and by_ext[a].get("active", True))
    member_mismatch = 0
    gby = {r.get("externalId"): r for r in groups}
    for gno, members in d.groups.items():
        r = gby.get(common.guid(GROUP_BASE + gno))
        want = {common.guid(m) for m in members if d.users[m]["ou"] == STAFF}
        have = {id_to_ext.get(m["value"]) for m in (r or {}).get("members", [])}
        member_mismatch += r is None or have != want
    seen.update(r.get("externalId") for r in users if r.get("externalId"))
    return {"lost": lost, "duplicated": sum(1 for c in ext.values() if c > 1), "wrongly_deleted": wrongly_deleted,
            "not_deprovisioned": not_deprovisioned, "group_member_mismatch": member_mismatch,
            "users_at_server": len(users)}


def soak(kills: int = 100, users: int = 200, groups: int = 5, seed: int = 1, page_size: int = 25,
         check_every: int = 10, log=print) -> dict:
    rng = random.Random(seed)
    workdir = Path(tempfile.mkdtemp(prefix="hs-soak-"))
    scim, token_file = common.start_scim(workdir)
    d = Directory(users, groups, rng)
    state, oplog = workdir / "state.db", workdir / "ops.json"
    done_kills = rounds = 0
    edits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    checks = 0
    seen: set[str] = set()
    fulls = 0

    def run(kill: bool) -> bool:
        nonlocal fulls
        oplog.write_text(json.dumps(d.ops))
        full = rng.random() < 0.33
        fulls += full
        base = common.scim_writes(scim)
        proc = subprocess.Popen([sys.executable, str(HERE), "--child", str(state), scim.url, token_file, str(oplog),
                                 "1" if full else "0", str(page_size)], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        if not kill:
            out, _ = proc.communicate(timeout=1800)
            if proc.returncode != 0:
                raise RuntimeError(f"clean engine run failed: {out[-2000:]}")
            return False
        if rng.random() < 0.5:
            target = base + rng.randint(1, 40)
            deadline = time.monotonic() + 120
            while proc.poll() is None and common.scim_writes(scim) < target and time.monotonic() < deadline:
                time.sleep(0.005)
        else:
            try:
                proc.wait(rng.uniform(0.3, 2.5))
            except subprocess.TimeoutExpired:
                pass
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
            proc.stdout.close()
            return True
        proc.communicate()
        return False

    try:
        run(kill=False)  # the initial full sync
        seen |= {r.get("externalId") for r in scim.backdoor.resources("User")}
        t0 = time.monotonic()
        while done_kills < kills:
            rounds += 1
            for _ in range(rng.randint(3, 15)):
                edits[d.edit()] += 1
            if run(kill=True):
                done_kills += 1
                if done_kills % check_every == 0:
                    run(kill=False)
                    got = check(scim, d, seen)
                    checks += 1
                    for k in ("lost", "duplicated", "wrongly_deleted", "not_deprovisioned", "group_member_mismatch"):
                        totals[k] += got[k]
                    log(f"  kills {done_kills:4d}  rounds {rounds:4d}  {got}  ({time.monotonic() - t0:.0f} s)")
        run(kill=False)
        final = check(scim, d, seen)
    finally:
        scim.stop()
    return {"kills": done_kills, "rounds": rounds, "forced_full_runs": fulls, "checks": checks + 1,
            "edits": dict(edits), "final": final,
            "lost": totals["lost"] + final["lost"], "duplicated": totals["duplicated"] + final["duplicated"],
            "wrongly_deleted": totals["wrongly_deleted"] + final["wrongly_deleted"],
            "not_deprovisioned": totals["not_deprovisioned"] + final["not_deprovisioned"],
            "group_member_mismatch": totals["group_member_mismatch"] + final["group_member_mismatch"]}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        state, url, token_file, oplog, full, page = sys.argv[2:8]
        return child(state, url, token_file, oplog, full == "1", int(page))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--groups", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    figs = soak(args.kills, args.users, args.groups, args.seed)
    common.table([(k, v) for k, v in figs.items()], "crash soak (memory source in a subprocess, real scim2-server)")
    bad = figs["lost"] + figs["duplicated"] + figs["wrongly_deleted"]
    common.result("crash_soak_lost_duplicated_wrongly_deleted",
                  f"{figs['lost']}/{figs['duplicated']}/{figs['wrongly_deleted']}", "0/0/0", bad == 0)
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    common.quiet_logs()
    sys.exit(main())

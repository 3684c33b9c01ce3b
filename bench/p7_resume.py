"""P7 resume (issue 8): kill -9 in the middle of a full sync, restart; how much work is redone?

    .venv/bin/python bench/p7_resume.py [--size 1000] [--page 100] [--kills 3]

A subprocess engine (generated in-memory source of N users + N/100 groups, page size P, real
state store file, real scim2-server target) runs a full sync. Per trial:
1. reference: a clean full sync on a fresh store and an empty server counts the target writes it
   needs (POST/PATCH/PUT/DELETE seen by the server);
2. reset the server, start the engine, kill -9 it once the server has seen a given fraction of
   those writes, restart it (a plain ``run_once()``, as a restarted host would) to the end;
3. redone = writes before the kill + writes after the restart - reference writes (goal <= 1 page),
   duplicates = externalIds held by more than one resource at the server (goal 0), and lost =
   expected resources missing (goal 0).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

HERE = Path(__file__).resolve()


def child(state: str, url: str, token_file: str, n: int, page: int) -> int:
    from hybridsync.connectors.scim import ScimTarget
    from hybridsync.engine.runtime.engine import Engine

    cfg = common.memory_config(state, target_kind="scim", url=url, token_file=token_file)
    src = common.generated_source(n, max(n // 100, 1), page_size=page)
    engine = Engine(cfg, sources={"corp": src}, targets={"app": ScimTarget(cfg.targets[0])})
    report = engine.run_once()
    engine.close()
    print("EXIT", report.exit_code(), dict(report.counts), flush=True)
    return report.exit_code()


def spawn(state: Path, scim, token_file: str, n: int, page: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(HERE), "--child", str(state), scim.url, token_file, str(n), str(page)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, timeout: float = 1800) -> None:
    out, _ = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"engine child failed ({proc.returncode}): {out[-2000:]}")


def kill_at(proc: subprocess.Popen, scim, writes: int, timeout: float = 1800) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if common.scim_writes(scim) >= writes:
            break
        time.sleep(0.01)
    if proc.poll() is not None:
        return False
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    return True


def resume(n: int = 1000, page: int = 100, fractions: tuple[float, ...] = (0.5,), workdir: Path | None = None) -> dict:
    """Reference run, then one kill -9 + restart per fraction; returns per-trial figures."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="hs-p7-"))
    scim, token_file = common.start_scim(workdir)
    trials = []
    try:
        proc = spawn(workdir / "ref.db", scim, token_file, n, page)
        finish(proc)
        reference = common.scim_writes(scim)
        expected, _ = common.scim_duplicates(scim)
        for i, frac in enumerate(fractions):
            scim.reset()
            base = common.scim_writes(scim)
            state = workdir / f"trial{i}.db"
            proc = spawn(state, scim, token_file, n, page)
            killed = kill_at(proc, scim, base + max(1, int(reference * frac)))
            before = common.scim_writes(scim) - base
            proc = spawn(state, scim, token_file, n, page)
            finish(proc)
            after = common.scim_writes(scim) - base - before
            total, dupes = common.scim_duplicates(scim)
            trials.append({"fraction": frac, "killed": killed, "writes_before_kill": before,
                           "writes_after_restart": after, "redone": before + after - reference,
                           "duplicates": dupes, "lost": max(expected - total, 0), "resources": total})
    finally:
        scim.stop()
    return {"n_objects": n + max(n // 100, 1), "page": page, "reference_writes": reference, "expected": expected,
            "trials": trials}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        state, url, token_file, n, page = sys.argv[2:7]
        return child(state, url, token_file, int(n), int(page))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=1000)
    ap.add_argument("--page", type=int, default=100)
    ap.add_argument("--fractions", default="0.2,0.5,0.8", help="kill after this share of the reference writes")
    args = ap.parse_args()
    figs = resume(args.size, args.page, tuple(float(x) for x in args.fractions.split(",")))
    common.table([(k, v) for k, v in figs.items() if k != "trials"], "P7 resume after kill -9 mid full sync")
    for t in figs["trials"]:
        common.table(list(t.items()), f"kill after {t['fraction']:.0%} of the writes")
    worst = max(t["redone"] for t in figs["trials"])
    dupes = sum(t["duplicates"] for t in figs["trials"])
    lost = sum(t["lost"] for t in figs["trials"])
    ok1 = worst <= args.page
    common.result("p7_work_redone_writes_worst", worst, f"<= {args.page} (1 page)", ok1)
    ok2 = dupes == 0 and lost == 0
    common.result("p7_duplicate_creates_and_lost", f"{dupes}/{lost}", "0/0", ok2)
    return 0 if ok1 and ok2 else 1


if __name__ == "__main__":
    common.quiet_logs()
    sys.exit(main())

"""Takeover of a source by real ``hybridsync sync --wait`` processes after its leader is killed (issue 19).

    .venv/bin/python bench/pg_takeover_bench.py [--kills 20] [--processes 3] [--ttl 15] [--settle 1]

Starts a lab PostgreSQL and ``--processes`` sync processes on a config with two sources (their
DCs are unreachable: the cycles fail fast, leadership is what is measured). ``--kills`` times:
the leader of ``corp`` is killed with -9, the time until another process prints ``leading
source:corp`` is taken, and a fresh process replaces the dead one (so ``--processes`` stay
live). The sources are spread over the processes (``engine/runtime/leadership.py``), so the
successor is usually a standby leading nothing. Prints p50/p95/max.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from hybridsync.engine.lab.postgres import PostgresLab

sys.path.insert(0, str(Path(__file__).parent))
from common import result  # noqa: E402

SOURCE = """
[[source]]
name = "{name}"
kind = "ad"
urls = ["ldap://127.0.0.1:9"]
base_dn = "DC={name},DC=test"
bind_dn = "CN=Administrator,CN=Users,DC={name},DC=test"
password_env = "HS_BENCH_AD"
timeout = 1
poll_interval = 1
"""
TARGET = """
[[target]]
name = "app"
kind = "scim"
url = "http://127.0.0.1:9/scim/v2"
token_env = "HS_BENCH_AD"
"""


class Fleet:
    def __init__(self, cfg: Path, env: dict[str, str]) -> None:
        self.cfg, self.env = cfg, env
        self.lines: list[tuple[float, subprocess.Popen[str], str]] = []
        self.procs: list[subprocess.Popen[str]] = []

    def spawn(self) -> None:
        p = subprocess.Popen([sys.executable, "-m", "hybridsync", "sync", "--wait", "-c", str(self.cfg)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=self.env)
        self.procs.append(p)
        threading.Thread(target=self._read, args=(p,), daemon=True).start()

    def _read(self, p: subprocess.Popen[str]) -> None:
        for line in p.stdout:  # type: ignore[union-attr]
            self.lines.append((time.monotonic(), p, line.strip()))

    def leader(self, source: str) -> subprocess.Popen[str] | None:
        who = None
        for _, p, line in list(self.lines):
            if line.startswith(f"leading source:{source} "):
                who = p
            elif line.startswith((f"released source:{source} ", f"lost source:{source}:")) and who is p:
                who = None
        return who if who is not None and who.poll() is None else None

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--processes", type=int, default=3)
    ap.add_argument("--ttl", type=float, default=15)
    ap.add_argument("--settle", type=float, default=1.0, help="seconds between the leaders showing up and a kill")
    args = ap.parse_args()
    with PostgresLab(durable=True) as lab, tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "hybridsync.toml"
        cfg.write_text(f'[state]\nurl = "{lab.url}"\nschema = "bench"\npassword_env = "HS_BENCH_PG"\n'
                       f"lease_ttl = {args.ttl}\n" + SOURCE.format(name="corp") + SOURCE.format(name="emea") + TARGET)
        env = {**os.environ, "HS_BENCH_AD": "unused", "HS_BENCH_PG": lab.connect_kwargs()["password"]}
        fleet = Fleet(cfg, env)
        times: list[float] = []
        successors: list[str] = []
        try:
            for _ in range(args.processes):
                fleet.spawn()
            for _ in range(args.kills):
                deadline = time.monotonic() + 60
                while (victim := fleet.leader("corp")) is None or fleet.leader("emea") is None:
                    if time.monotonic() > deadline:
                        raise SystemExit("no leaders within 60 s")
                    time.sleep(0.05)
                time.sleep(args.settle)  # settled (a just-started process is still warming up)
                victim = fleet.leader("corp")
                assert victim is not None
                emea = fleet.leader("emea")
                killed = time.monotonic()
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                while True:
                    got = [(t, p) for t, p, line in list(fleet.lines)
                           if t >= killed and p is not victim and line.startswith("leading source:corp ")]
                    if got:
                        times.append(got[0][0] - killed)
                        successors.append("the emea leader" if got[0][1] is emea else "a standby")
                        break
                    if time.monotonic() - killed > 60:
                        raise SystemExit("no takeover within 60 s")
                    time.sleep(0.01)
                fleet.procs.remove(victim)
                fleet.spawn()
        finally:
            fleet.stop()
    ordered = sorted(times)
    p95 = ordered[max(0, int(round(0.95 * len(ordered))) - 1)]
    print(f"takeover after kill -9, {args.processes} sync processes, 2 sources, TTL {args.ttl:g} s, "
          f"{len(times)} kills: p50 {statistics.median(times):.2f} s, p95 {p95:.2f} s, max {max(times):.2f} s; "
          f"successor: {successors.count('a standby')} standby, {successors.count('the emea leader')} emea leader")
    result(f"pg_takeover_after_kill_p95_s_{len(times)}", p95, "<= 10", p95 <= 10)


if __name__ == "__main__":
    main()

"""One writer: the SQLite store's file lock and the PostgreSQL leader lease (one interface,
``statestore.lease.Lease``), with real processes killed (-9) and paused (SIGSTOP)."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hybridsync.statestore.lease import FileLease, Lease, LeaseHeld
from hybridsync.statestore.postgres.handle import LeaseLost
from hybridsync.statestore.testing.samples import obj

CHILD = str(Path(__file__).with_name("lease_child.py"))


def spawn(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, CHILD, *args], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    line = proc.stdout.readline().split()
    assert line and line[0] == "EPOCH", line
    return proc, int(line[1])


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_a_file_lease_names_its_holder_and_passes_on_when_the_holder_is_killed(tmp_path):
    db = tmp_path / "state.db"
    proc, epoch = spawn("file", str(db))
    try:
        lease = FileLease(db)
        assert isinstance(lease, Lease)
        with pytest.raises(LeaseHeld) as info:
            lease.acquire(wait=0.3)
        holder = info.value.holder
        assert (holder.pid, holder.host, holder.epoch) == (proc.pid, socket.gethostname(), epoch)
        assert f"pid {proc.pid} on {socket.gethostname()}" in str(info.value)
    finally:
        kill(proc)
    started = time.monotonic()
    assert lease.acquire(wait=5) == epoch + 1
    assert time.monotonic() - started < 1  # the kernel dropped the dead holder's lock at once
    assert lease.holder().pid == os.getpid()
    lease.release()
    assert lease.holder() is None


CONFIG = """
[state]
path = "state.db"

[[source]]
name = "corp"
kind = "ad"
urls = ["ldap://127.0.0.1:9"]
base_dn = "DC=lab,DC=test"
bind_dn = "CN=Administrator,CN=Users,DC=lab,DC=test"
password_env = "HYBRIDSYNC_TEST_LEASE_PW"
timeout = 1

[[target]]
name = "app"
kind = "scim"
url = "http://127.0.0.1:9/scim/v2"
token_env = "HYBRIDSYNC_TEST_LEASE_PW"
"""


def test_a_second_sync_on_the_same_sqlite_store_exits_2_naming_the_holder_or_waits(tmp_path):
    cfg = tmp_path / "hybridsync.toml"
    cfg.write_text(CONFIG)
    env = {**os.environ, "HYBRIDSYNC_TEST_LEASE_PW": "unused"}
    proc, _ = spawn("file", str(tmp_path / "state.db"))
    try:
        second = subprocess.run([sys.executable, "-m", "hybridsync", "sync", "--once", "-c", str(cfg)],
                                capture_output=True, text=True, env=env, timeout=120)
        assert second.returncode == 2, second.stderr
        assert f"pid {proc.pid} on {socket.gethostname()}" in second.stderr and "--wait" in second.stderr
        waiting = subprocess.Popen([sys.executable, "-m", "hybridsync", "sync", "--once", "--wait", "-c", str(cfg)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert "standing by" in waiting.stdout.readline()
        time.sleep(1)
        assert waiting.poll() is None  # still standing by
    finally:
        kill(proc)
    out, err = waiting.communicate(timeout=120)
    assert "leading store" in out and "epoch 2" in out, out + err
    assert waiting.returncode == 1  # it ran its cycle (the source is unreachable here)


@pytest.fixture
def pg_env(pg_server, pg_schema):
    from hybridsync.statestore.postgres.store import PostgresStore

    password = pg_server.connect_kwargs()["password"]
    store = PostgresStore.open(pg_server.url, schema=pg_schema, password=password)
    yield store, {"PGURL": pg_server.url, "PGSCHEMA": pg_schema, "PGPW": password, "TTL": "3"}
    store.close()


@pytest.mark.postgres
def test_a_pg_lease_is_taken_over_at_once_when_its_leader_is_killed(pg_env):
    from hybridsync.statestore.postgres.lease import PgLease

    store, env = pg_env
    leader, epoch = spawn("pg", "source:corp", env={**env, "TTL": "60"})
    standby = PgLease(store.pool, "source:corp", ttl=60)
    try:
        with pytest.raises(LeaseHeld) as info:
            standby.acquire(wait=0.5)
        assert (info.value.holder.pid, info.value.holder.epoch) == (leader.pid, epoch)
        assert info.value.holder.expires_at is not None
    finally:
        kill(leader)
    started = time.monotonic()
    assert standby.acquire(wait=10) == epoch + 1
    took = time.monotonic() - started
    assert took < 10, took  # the advisory lock died with the session: no waiting for the 60 s TTL
    standby.release()


@pytest.mark.postgres
@pytest.mark.slow
def test_a_paused_leader_loses_its_lease_after_the_ttl_and_never_commits_again(pg_env):
    from hybridsync.statestore.postgres.lease import PgLease

    store, env = pg_env
    leader, epoch = spawn("pg", "source:corp", env=env)
    standby = PgLease(store.pool, "source:corp", ttl=3)
    try:
        time.sleep(0.5)
        leader.send_signal(signal.SIGSTOP)
        started = time.monotonic()
        new_epoch = standby.acquire(wait=15)
        took = time.monotonic() - started
        assert new_epoch == epoch + 1 and took <= 3 + 1.5, took  # within the TTL (+ a poll)
        store.set_fence("source:corp", new_epoch)
        with store.atomic():
            mark = store.begin_cycle("takeover", "full")
        leader.send_signal(signal.SIGCONT)
        out, _ = leader.communicate(timeout=30)
    finally:
        if leader.poll() is None:
            kill(leader)
    # the child's line "LOST <n> <refusals>" (its heartbeat may print "HEARTBEAT-LOST" first)
    [lost] = [line.split() for line in out.splitlines() if line.startswith("LOST ")] or [[]]
    assert lost, out
    assert int(lost[1]) >= 1  # the commit unit it tried after waking was refused
    stale = [c for c in store.last_cycles(10_000) if c.source == f"epoch{epoch}" and c.id > mark]
    assert stale == []  # zero commits from the stale epoch after the takeover
    assert store.last_cycles(10_000, source=f"epoch{epoch}")  # it did commit while it led
    with pytest.raises(LeaseLost):  # and a store fenced with an old epoch commits nothing
        store.set_fence("source:corp", epoch)
        store.meta_set("x", 1)
    store.set_fence("source:corp", None)
    standby.release()


@pytest.mark.postgres
def test_status_shows_each_sources_leader_epoch_and_lease_expiry(pg_env, tmp_path, monkeypatch, capsys):
    import json

    from hybridsync.engine.cli import main
    from hybridsync.statestore.postgres.lease import PgLease

    store, env = pg_env
    store.put_object(obj())
    monkeypatch.setenv("HYBRIDSYNC_TEST_LEASE_PGPW", env["PGPW"])
    cfg = tmp_path / "hybridsync.toml"
    cfg.write_text(CONFIG.replace('path = "state.db"', f'url = "{env["PGURL"]}"\nschema = "{env["PGSCHEMA"]}"\n'
                                  'password_env = "HYBRIDSYNC_TEST_LEASE_PGPW"'))
    lease = PgLease(store.pool, "source:corp", ttl=30)
    epoch = lease.acquire()
    try:
        assert main(["status", "-c", str(cfg), "--json"]) == 0
        leader = json.loads(capsys.readouterr().out)["sources"][0]["leader"]
        assert (leader["pid"], leader["host"], leader["epoch"]) == (os.getpid(), socket.gethostname(), epoch)
        assert leader["lease_expires"] > leader["since"]
        assert main(["status", "-c", str(cfg)]) == 0
        assert f"led by pid {os.getpid()}" in capsys.readouterr().out
    finally:
        lease.release()
    assert main(["status", "-c", str(cfg), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sources"][0]["leader"] is None


class Lines:
    """Every line the processes print, in arrival order, read by one thread per process. (A
    selector over the buffered text pipes, as before, misses a line that arrived in the same read
    as the line before it: it waits in the file's buffer and select() never fires for it -- under
    load a standby's "leading" line came right after another and the test saw no leader.)"""

    def __init__(self, procs: list[subprocess.Popen[str]]) -> None:
        self._lines: queue.Queue[tuple[subprocess.Popen[str], str]] = queue.Queue()
        self._ignored: set[int] = set()
        for p in procs:
            threading.Thread(target=self._pump, args=(p,), daemon=True).start()

    def _pump(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self._lines.put((proc, line))

    def ignore(self, proc: subprocess.Popen[str]) -> None:
        self._ignored.add(proc.pid)

    def next(self, timeout: float) -> tuple[subprocess.Popen[str], str] | None:
        """The next line of a process not ignored, or None after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                proc, line = self._lines.get(timeout=left)
            except queue.Empty:
                return None
            if proc.pid not in self._ignored:
                return proc, line
        return None


@pytest.mark.postgres
@pytest.mark.slow
def test_three_sync_processes_one_leads_and_a_standby_takes_over_within_10_s_of_a_kill(pg_env, tmp_path):
    store, env = pg_env
    cfg = tmp_path / "hybridsync.toml"
    cfg.write_text(CONFIG.replace('path = "state.db"', f'url = "{env["PGURL"]}"\nschema = "{env["PGSCHEMA"]}"\n'
                                  'password_env = "HYBRIDSYNC_TEST_LEASE_PGPW"\nlease_ttl = 15'))
    penv = {**os.environ, "HYBRIDSYNC_TEST_LEASE_PW": "unused", "HYBRIDSYNC_TEST_LEASE_PGPW": env["PGPW"]}
    procs = [subprocess.Popen([sys.executable, "-m", "hybridsync", "sync", "--wait", "-c", str(cfg)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=penv)
             for _ in range(3)]
    lines = Lines(procs)

    def next_leader(timeout: float) -> tuple[subprocess.Popen[str], str]:
        deadline = time.monotonic() + timeout
        while (got := lines.next(deadline - time.monotonic())) is not None:
            if got[1].startswith("leading"):
                return got
        raise AssertionError("no process took the lead in time")

    try:
        leader, line = next_leader(60)
        assert "source:corp epoch 1" in line
        time.sleep(2)  # it runs cycles (the source is unreachable here); the others stand by
        assert [p.poll() for p in procs] == [None, None, None]
        lines.ignore(leader)
        killed = time.monotonic()
        kill(leader)
        successor, line = next_leader(30)
        took = time.monotonic() - killed
        assert "source:corp epoch 2" in line and successor is not leader
        assert took <= 10, took
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                kill(p)


TWO_SOURCES = CONFIG + """
[[source]]
name = "emea"
kind = "ad"
urls = ["ldap://127.0.0.1:9"]
base_dn = "DC=emea,DC=test"
bind_dn = "CN=Administrator,CN=Users,DC=emea,DC=test"
password_env = "HYBRIDSYNC_TEST_LEASE_PW"
timeout = 1
"""


@pytest.mark.postgres
@pytest.mark.slow
def test_three_sync_processes_spread_two_sources_and_status_shows_leaders_and_standbys(pg_env, tmp_path, monkeypatch,
                                                                                     capsys):
    import json

    from hybridsync.engine.cli import main

    store, env = pg_env
    cfg = tmp_path / "hybridsync.toml"
    cfg.write_text(TWO_SOURCES.replace('path = "state.db"', f'url = "{env["PGURL"]}"\nschema = "{env["PGSCHEMA"]}"\n'
                                       'password_env = "HYBRIDSYNC_TEST_LEASE_PGPW"\nlease_ttl = 6'))
    penv = {**os.environ, "HYBRIDSYNC_TEST_LEASE_PW": "unused", "HYBRIDSYNC_TEST_LEASE_PGPW": env["PGPW"]}
    monkeypatch.setenv("HYBRIDSYNC_TEST_LEASE_PGPW", env["PGPW"])
    procs = [subprocess.Popen([sys.executable, "-m", "hybridsync", "sync", "--wait", "-c", str(cfg)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=penv)
             for _ in range(3)]
    lines = Lines(procs)
    leads: dict[str, subprocess.Popen[str]] = {}

    def follow(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (got := lines.next(deadline - time.monotonic())) is not None:
            proc, line = got
            for name in ("corp", "emea"):
                if line.startswith(f"leading source:{name} "):
                    leads[name] = proc
                elif line.startswith((f"released source:{name} ", f"lost source:{name}:")) \
                        and leads.get(name) is proc:
                    del leads[name]

    def status() -> dict[str, dict]:
        assert main(["status", "-c", str(cfg), "--json"]) == 0
        return {s["name"]: s["leader"] for s in json.loads(capsys.readouterr().out)["sources"]}

    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # processes start at different times: they rebalance
            follow(1)
            if len(leads) == 2 and leads["corp"] is not leads["emea"]:
                follow(3)  # and stay so
                if len(leads) == 2 and leads["corp"] is not leads["emea"]:
                    break
        assert len(leads) == 2 and leads["corp"] is not leads["emea"], leads
        shown = status()
        for name in ("corp", "emea"):
            assert shown[name]["pid"] == leads[name].pid and shown[name]["epoch"] >= 1
            assert sorted(b["pid"] for b in shown[name]["standbys"]) == sorted(
                p.pid for p in procs if p is not leads[name])
        assert main(["status", "-c", str(cfg)]) == 0
        assert "standbys: pid" in capsys.readouterr().out
        # kill -9 corp's leader: the standby (leading nothing) takes corp within 10 s
        victim = leads.pop("corp")
        lines.ignore(victim)
        killed = time.monotonic()
        kill(victim)
        while "corp" not in leads and time.monotonic() - killed < 30:
            follow(0.2)
        took = time.monotonic() - killed
        assert "corp" in leads and took <= 10, took
        assert leads["corp"] is not leads.get("emea")  # the process leading nothing took it
        after = status()
        assert after["corp"]["pid"] == leads["corp"].pid and after["corp"]["epoch"] > shown["corp"]["epoch"]
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                kill(p)

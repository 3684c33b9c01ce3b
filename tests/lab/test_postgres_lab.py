"""The lab PostgreSQL: initdb in a temp dir, loopback only, password auth, an unprivileged
account when we are root, and never outliving a killed owner."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from hybridsync.engine.lab.guard import LabServiceForbidden
from hybridsync.engine.lab.postgres import PostgresLab

CHILD = """
import sys, time
from hybridsync.engine.lab.postgres import PostgresLab
lab = PostgresLab(durable=False).start()
print(lab.port, lab.pid, lab.root, flush=True)
time.sleep(120)
"""


def _answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.postgres
def test_the_session_server_answers_on_loopback_with_its_generated_password(pg_server):
    assert pg_server.url.startswith("postgresql://hybridsync@127.0.0.1:")
    assert "password" not in repr(pg_server)
    assert stat.S_IMODE(os.stat(pg_server.password_file).st_mode) == 0o600
    with pg_server.connect() as conn:
        addr, user = conn.execute("SELECT current_setting('listen_addresses'), current_user").fetchone()
        assert (addr, user) == ("127.0.0.1", "hybridsync")
    bad = {**pg_server.connect_kwargs(), "password": "wrong"}
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(**bad)


@pytest.mark.postgres
def test_the_server_never_runs_as_root(pg_server):
    uid = os.stat(Path(pg_server.root) / "data").st_uid
    assert uid != 0 or os.geteuid() != 0
    with pg_server.connect() as conn:
        assert conn.execute("SELECT current_setting('data_directory')").fetchone()[0].startswith(str(pg_server.root))


@pytest.mark.postgres
@pytest.mark.slow
def test_a_lab_postgres_exits_when_its_owner_is_killed_and_its_dir_is_swept():
    owner = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    port, pid, root = owner.stdout.readline().split()
    assert _answers(int(port))
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    deadline = time.monotonic() + 15
    while _answers(int(port)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _answers(int(port))
    with PostgresLab(durable=False):  # the next lab sweeps the dead owner's dir
        assert not Path(root).exists()


def test_an_unmarked_test_cannot_start_the_lab_postgres():
    with pytest.raises(LabServiceForbidden, match="postgres"):
        PostgresLab().start()

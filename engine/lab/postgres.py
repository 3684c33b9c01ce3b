"""A private PostgreSQL on loopback for the tests, the benches and the HA demo.

``PostgresLab().start()`` runs Debian's PostgreSQL binaries (``debian.PG_BIN``): ``initdb`` into
a fresh temp dir, then ``postgres`` listening on a free port of 127.0.0.1 only (its Unix socket
stays inside the temp dir). PostgreSQL refuses to run as root, so when we are root (the suite and
CI are) both run as an unprivileged user: ``$HYBRIDSYNC_LAB_PG_USER``, else ``nobody``.

Authentication is scram-sha-256 with a password generated per lab, written to a 0600 file
(``password_file``) and never put on a command line; the superuser is ``hybridsync``.

Tied to its owner (default): the postmaster gets the parent-death signal SIGQUIT (``prctl``), so
when the process that started it dies -- even by SIGKILL -- PostgreSQL shuts down at once and
takes its backends with it. ``stop()`` (fast shutdown) also deletes the temp dir; a dir left by
a killed owner is swept by the next lab that starts. ``durable=False`` (the test fixture) turns
off fsync: faster, and a crash of the *machine* may lose the lab's data, nothing else.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from hybridsync.engine.lab import debian
from hybridsync.engine.lab.errors import LabError
from hybridsync.engine.lab.guard import refuse_if_forbidden

USER_ENV = "HYBRIDSYNC_LAB_PG_USER"
SUPERUSER = "hybridsync"
DATABASE = "postgres"
_PREFIX = "hybridsync-pg-"
_PR_SET_PDEATHSIG = 1


class PostgresLabError(LabError):
    """The lab PostgreSQL could not be set up or did not start."""


def pg_binary(name: str) -> str:
    path = Path(debian.PG_BIN) / name
    if not path.exists():
        raise PostgresLabError(f"{path} is missing: run scripts/bootstrap.sh (it installs postgresql)")
    return str(path)


def run_as() -> pwd.struct_passwd | None:
    """The account PostgreSQL runs as (None: ourselves, when we are not root)."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get(USER_ENV, "nobody")
    try:
        return pwd.getpwnam(name)
    except KeyError as exc:
        raise PostgresLabError(f"user {name!r} does not exist (set {USER_ENV} to an unprivileged user)") from exc


def _demote(account: pwd.struct_passwd | None, tie: bool):  # runs in the child, before exec
    def child() -> None:
        if account is not None:
            os.setgroups([])
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)
        if tie:  # after setuid: a credential change would clear it
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGQUIT, 0, 0, 0)
    return child


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sweep_orphans(base: Path) -> None:
    """Delete lab dirs whose owner process is gone (left by an owner killed with SIGKILL)."""
    for d in base.glob(_PREFIX + "*"):
        try:
            owner = int((d / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            pass


class PostgresLab:
    """One private PostgreSQL server. Use as a context manager or call start/stop."""

    def __init__(self, *, durable: bool = True, base: str | Path | None = None):
        self.durable = durable
        self._base = Path(base or tempfile.gettempdir())
        self.root: Path | None = None
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:  # the password is never shown
        return f"PostgresLab(url={self.url!r}, durable={self.durable})"

    @property
    def url(self) -> str:
        """``postgresql://hybridsync@127.0.0.1:<port>/postgres`` (no password in it)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}" if self.port else ""

    @property
    def password_file(self) -> str:
        assert self.root is not None, "lab not started"
        return str(self.root / "password")

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``psycopg.connect`` (host, port, user, dbname, password)."""
        return {"host": "127.0.0.1", "port": self.port, "user": SUPERUSER, "dbname": DATABASE,
                "password": Path(self.password_file).read_text().strip()}

    def connect(self, **extra: Any) -> Any:
        import psycopg

        return psycopg.connect(**self.connect_kwargs(), **extra)

    # -------------------------------------------------------------------------- lifecycle
    def start(self, timeout: float = 60.0, *, tie_to_parent: bool = True) -> PostgresLab:
        refuse_if_forbidden("postgres", "starting the lab PostgreSQL")
        initdb, postgres = pg_binary("initdb"), pg_binary("postgres")
        account = run_as()
        sweep_orphans(self._base)
        self.root = Path(tempfile.mkdtemp(prefix=_PREFIX, dir=self._base))
        (self.root / "owner.pid").write_text(str(os.getpid()))
        os.chmod(self.root, 0o711)  # the server's account may pass through, not list
        data = self.root / "data"
        data.mkdir(mode=0o700)
        password = secrets.token_urlsafe(24)
        secret = self.root / "password"
        secret.touch(mode=0o600)
        secret.write_text(password + "\n")
        pwfile = self.root / "initdb.pw"  # readable by initdb only; deleted right after
        pwfile.touch(mode=0o600)
        pwfile.write_text(password + "\n")
        if account is not None:
            for p in (data, pwfile):
                os.chown(p, account.pw_uid, account.pw_gid)
        log = open(self.root / "postgres.log", "ab")
        try:
            done = subprocess.run(
                [initdb, "-D", str(data), "-U", SUPERUSER, f"--pwfile={pwfile}", "-E", "UTF8",
                 "--locale=C", "--auth-local=scram-sha-256", "--auth-host=scram-sha-256",
                 *(() if self.durable else ("--no-sync",))],
                stdout=log, stderr=subprocess.STDOUT, preexec_fn=_demote(account, False),
                cwd="/", timeout=timeout)
            pwfile.unlink(missing_ok=True)
            if done.returncode != 0:
                raise PostgresLabError(f"initdb failed ({done.returncode}):\n{self.log_tail()}")
            options = ["-c", "listen_addresses=127.0.0.1", "-k", str(data),
                       "-c", "max_connections=200", "-c", "shared_buffers=64MB"]
            if not self.durable:
                options += ["-c", "fsync=off", "-c", "full_page_writes=off",
                            "-c", "synchronous_commit=off"]
            for _ in range(5):  # a port taken between free_port() and the bind: try another
                self.port = free_port()
                self._proc = subprocess.Popen(
                    [postgres, "-D", str(data), "-p", str(self.port), *options],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd="/",
                    preexec_fn=_demote(account, tie_to_parent), start_new_session=not tie_to_parent)
                if self._wait_ready(timeout):
                    return self
            raise PostgresLabError(f"postgres did not start:\n{self.log_tail()}")
        except BaseException:
            self.stop()
            raise
        finally:
            log.close()

    def _wait_ready(self, timeout: float) -> bool:
        import psycopg

        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False  # e.g. the port was taken meanwhile
            try:
                psycopg.connect(**self.connect_kwargs(), connect_timeout=2).close()
                return True
            except psycopg.OperationalError:
                time.sleep(0.1)
        raise PostgresLabError(f"postgres did not accept connections within {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        path = self.root / "postgres.log" if self.root else None
        if path is None or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT: roll back open transactions), then delete the temp dir."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.root is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(self.root)
            self.root = None
        self.port = None

    def __enter__(self) -> PostgresLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _main() -> None:  # pragma: no cover - `python -m hybridsync.engine.lab.postgres`: for the HA demo
    import argparse

    ap = argparse.ArgumentParser(description="Run a private PostgreSQL on loopback until Ctrl-C.")
    ap.add_argument("--dir", help="where its temp dir goes (default: the system temp dir)")
    args = ap.parse_args()
    lab = PostgresLab(durable=True, base=args.dir).start(tie_to_parent=True)
    print(f"url = \"{lab.url}\"\npassword_file = \"{lab.password_file}\"\n"
          "(put both under [state]; Ctrl-C stops the server and deletes its data)", flush=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        lab.stop()


if __name__ == "__main__":  # pragma: no cover
    _main()

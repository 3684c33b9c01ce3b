"""A real Samba AD DC on a loopback address, with a private smb.conf and no systemd.

Used by the test suite (``pytest_samba``), the benchmarks and ``hybridsync lab``::

    dc = SambaDC.provision(Path("/tmp/lab/dc1"))          # ~9 s, allocates 127.0.0.X
    with dc:                                               # start() ... stop()
        conn = dc.connect()                                # LDAPS, CA-verified, admin bind

Everything lives under ``workdir``: ``etc/smb.conf`` (all paths absolute and private: pid,
ncalrpc, winbindd and ntp-signd sockets under ``run/``, log under ``log/``), the databases
(``private/``, ``state/``, tdb files at the top) and ``lab.json`` (realm, names, address and
the generated admin password, mode 0600). /etc/samba and /run/samba are never touched.

Relocating a stopped tree (``clone``, cache restore): the only file that embeds absolute
paths or the address is ``etc/smb.conf`` (checked by grepping a fresh tree: sam.ldb's
partitions are relative, the tdb files hold none). The DNS zone still holds the old A record
for the DC's host name; samba's own dnsupdate rewrites it after start, and nothing in the lab
resolves the DC by name (clients connect by IP with ``valid_names``). The TLS certificate is
made for ``<server_name>.<realm>`` on first start, so clones keep the same cert and CA.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
import uuid
from pathlib import Path

import ldap3
import structlog

from hybridsync.engine.lab.guard import refuse_if_forbidden
from hybridsync.engine.lab.net import AddressLock, allocate_address, lock_address
from hybridsync.engine.lab.samba_join import join_second_dc
from hybridsync.engine.lab.samba_process import log_tail, pid_from_file, stop_process_group
from hybridsync.engine.lab.samba_tree import (  # noqa: F401 - re-exported for callers
    BOOTSTRAP_HINT,
    LAB_META,
    RUN_SUBDIRS,
    SambaError,
    SambaNotInstalled,
    backup_offline,
    clone_ignore,
    generate_password,
    restore_tree,
    rewrite_smb_conf,
    run_tool,
    samba_binary,
    samba_version,
    smb_options,
    write_private_json,
)

log = structlog.get_logger(__name__)

class SambaDC:
    """One Samba AD DC living in ``workdir`` and bound to one loopback ``address``."""

    def __init__(
        self,
        workdir: Path,
        *,
        address: str,
        realm: str,
        domain: str,
        server_name: str,
        admin_password: str,
        lock: AddressLock | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.address = address
        self.realm = realm
        self.domain = domain
        self.server_name = server_name
        self.admin_password = admin_password
        self._lock = lock
        self._proc: subprocess.Popen[bytes] | None = None
        self.extra_env: dict[str, str] = {}  # e.g. resolv/nss wrappers for replication

    def __repr__(self) -> str:
        return f"SambaDC({self.server_name}@{self.address}, workdir={str(self.workdir)!r})"

    # -- construction ------------------------------------------------------------------

    @classmethod
    def provision(
        cls,
        workdir: Path,
        *,
        address: str | None = None,
        realm: str = "LAB.TEST",
        domain: str = "LAB",
        server_name: str = "DC1",
        admin_password: str | None = None,
    ) -> SambaDC:
        """Provision a new domain into ``workdir`` (must be empty or absent); ~9 s."""
        refuse_if_forbidden("samba", f"provisioning a Samba DC into {workdir}")
        tool = samba_binary("samba-tool")
        samba_binary("samba")
        workdir = Path(workdir).resolve()
        if workdir.exists() and any(workdir.iterdir()):
            raise SambaError(f"cannot provision into {workdir}: directory is not empty")
        lock = lock_address(address) if address else None
        if address is None:
            address, lock = allocate_address()
        password = admin_password or generate_password()
        for sub in RUN_SUBDIRS:
            (workdir / sub).mkdir(parents=True, exist_ok=True)
        cmd = [
            tool, "domain", "provision", f"--realm={realm}", f"--domain={domain}",
            "--server-role=dc", "--dns-backend=SAMBA_INTERNAL", f"--adminpass={password}",
            f"--targetdir={workdir}", f"--host-name={server_name}", f"--host-ip={address}",
        ]
        cmd += [f"--option={k} = {v}" for k, v in smb_options(workdir, address).items()]
        started = time.monotonic()
        try:
            run_tool(cmd, f"samba-tool domain provision into {workdir}")
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        log.info("samba.provisioned", workdir=str(workdir), address=address, seconds=round(time.monotonic() - started, 1))
        dc = cls(workdir, address=address, realm=realm, domain=domain, server_name=server_name,
                 admin_password=password, lock=lock)
        dc.save_meta()
        return dc

    @classmethod
    def open(cls, workdir: Path, *, address: str | None = None, lock: AddressLock | None = None) -> SambaDC:
        """Adopt a stopped tree (copied, restored or extracted) at ``workdir``, relocating it
        to ``address`` (allocated when None) and rewriting smb.conf."""
        workdir = Path(workdir).resolve()
        meta = json.loads((workdir / LAB_META).read_text())
        if lock is None:
            if address is None:
                address, lock = allocate_address()
            else:
                lock = lock_address(address)
        address = lock.address
        for sub in RUN_SUBDIRS:
            (workdir / sub).mkdir(parents=True, exist_ok=True)
        rewrite_smb_conf(workdir, Path(meta["workdir"]), address)
        dc = cls(workdir, address=address, realm=meta["realm"], domain=meta["domain"],
                 server_name=meta["server_name"], admin_password=meta["admin_password"], lock=lock)
        dc.save_meta()
        return dc

    def save_meta(self) -> None:
        write_private_json(self.workdir / LAB_META, {
            "workdir": str(self.workdir), "address": self.address, "realm": self.realm,
            "domain": self.domain, "server_name": self.server_name,
            "admin_password": self.admin_password,
        })

    def clone(self, workdir: Path, address: str | None = None) -> SambaDC:
        """Copy this STOPPED tree to ``workdir`` and give the copy its own address."""
        if self.is_running():
            raise SambaError(f"cannot clone {self}: stop it first (a running DC's databases are not consistent on disk)")
        workdir = Path(workdir).resolve()
        root = str(self.workdir)
        shutil.copytree(self.workdir, workdir, symlinks=True, dirs_exist_ok=False,
                        ignore=lambda d, names: clone_ignore(d, names, top=os.path.samefile(d, root)))
        return SambaDC.open(workdir, address=address)

    # -- properties ----------------------------------------------------------------------

    @property
    def smb_conf(self) -> Path:
        return self.workdir / "etc" / "smb.conf"

    @property
    def log_file(self) -> Path:
        return self.workdir / "log" / "samba.log"

    @property
    def ldap_url(self) -> str:
        return f"ldap://{self.address}:389"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://{self.address}:636"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "private" / "tls" / "ca.pem"

    @property
    def dns_domain(self) -> str:
        return self.realm.lower()

    @property
    def tls_server_name(self) -> str:
        return f"{self.server_name}.{self.dns_domain}"

    @property
    def base_dn(self) -> str:
        return ",".join(f"DC={part}" for part in self.dns_domain.split("."))

    @property
    def admin_dn(self) -> str:
        return f"CN=Administrator,CN=Users,{self.base_dn}"

    @property
    def address_lock(self) -> AddressLock | None:
        return self._lock

    def detach_lock(self) -> AddressLock | None:
        """Hand this DC's address lock to someone else (e.g. a DC restored onto the same
        address); this DC must be stopped and is not usable afterwards."""
        if self.is_running():
            raise SambaError(f"cannot hand over the address of running {self}")
        lock, self._lock = self._lock, None
        return lock

    # -- process -------------------------------------------------------------------------

    def _pid_from_file(self) -> int | None:
        return pid_from_file(self.workdir / "run" / "samba.pid")

    def is_running(self) -> bool:
        if self._proc is not None:
            return self._proc.poll() is None
        return self._pid_from_file() is not None

    def start(self, timeout: float = 60, *, tie_to_parent: bool = True) -> SambaDC:
        """Start samba (not daemonized, in its own process group) and wait until an LDAPS
        bind succeeds. With ``tie_to_parent`` samba runs interactive (``-i``) reading a pipe
        from us: when this Python process dies, even by SIGKILL, the pipe closes and samba
        terminates itself, so a killed test session leaves no orphan DC behind."""
        if self.is_running():
            return self
        refuse_if_forbidden("samba", f"starting {self}")
        samba = samba_binary("samba")
        for sub in RUN_SUBDIRS:
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        (self.workdir / "run" / "samba.pid").unlink(missing_ok=True)
        out = open(self.workdir / "log" / "stdout.log", "ab")
        pass_fds = (self._lock.fileno(),) if self._lock is not None and self._lock.held else ()
        started = time.monotonic()
        try:
            mode = "--interactive" if tie_to_parent else "--foreground"
            self._proc = subprocess.Popen(
                [samba, mode, "--no-process-group", "-s", str(self.smb_conf)],
                stdin=subprocess.PIPE if tie_to_parent else subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, pass_fds=pass_fds, cwd=self.workdir,
                env={**os.environ, **self.extra_env} if self.extra_env else None,
            )
        finally:
            out.close()
        deadline = started + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise SambaError(f"{self} exited with {self._proc.returncode} while starting:\n{self._log_tail()}")
            if self.ca_file.exists():
                try:
                    self.connect().unbind()
                    log.info("samba.started", dc=repr(self), seconds=round(time.monotonic() - started, 1))
                    return self
                except Exception as exc:  # noqa: BLE001 - not ready yet; keep the last reason
                    last_error = exc
            time.sleep(0.2)
        self.stop()
        raise SambaError(f"{self} did not answer an LDAPS bind within {timeout}s ({last_error!r}):\n{self._log_tail()}")

    def _log_tail(self, lines: int = 20) -> str:
        return log_tail((self.workdir / "log" / "stdout.log", self.log_file), lines)

    def stop(self, timeout: float = 30) -> None:
        """Stop the DC by PID (SIGTERM, then SIGKILL to its process group); idempotent."""
        proc, self._proc = self._proc, None
        pid = proc.pid if proc is not None else self._pid_from_file()
        if pid is None:
            return
        stop_process_group(pid, proc, timeout)
        log.info("samba.stopped", dc=repr(self))

    def close(self) -> None:
        """Stop and give the address back."""
        self.stop()
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> SambaDC:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- LDAP --------------------------------------------------------------------------

    def tls(self, ca_file: Path | None = None) -> ldap3.Tls:
        return ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(ca_file or self.ca_file),
                         valid_names=[self.tls_server_name])

    def connect(self, user_dn: str | None = None, password: str | None = None, *,
                auto_range: bool = True, **kwargs: object) -> ldap3.Connection:
        """A bound LDAPS connection (administrator unless ``user_dn`` is given)."""
        server = ldap3.Server(self.address, port=636, use_ssl=True, tls=self.tls(),
                              get_info=ldap3.NONE, connect_timeout=5)
        if user_dn is None:
            user_dn, password = self.admin_dn, self.admin_password
        return ldap3.Connection(server, user=user_dn, password=password, auto_bind=True,
                                auto_range=auto_range, raise_exceptions=True, **kwargs)

    def root_dse(self, *attrs_: str) -> dict:
        conn = self.connect()
        try:
            conn.search("", "(objectClass=*)", search_scope=ldap3.BASE, attributes=list(attrs_))
            return dict(conn.response[0]["raw_attributes"])
        finally:
            conn.unbind()

    def invocation_id(self) -> str:
        """The DC's invocationId (rootDSE dsServiceName -> nTDSDSA), as a text GUID."""
        conn = self.connect()
        try:
            conn.search("", "(objectClass=*)", search_scope=ldap3.BASE, attributes=["dsServiceName"])
            dsa = conn.response[0]["raw_attributes"]["dsServiceName"][0].decode()
            conn.search(dsa, "(objectClass=nTDSDSA)", search_scope=ldap3.BASE, attributes=["invocationId"])
            raw = conn.response[0]["raw_attributes"]["invocationId"][0]
            return str(uuid.UUID(bytes_le=raw))
        finally:
            conn.unbind()

    def highest_usn(self) -> int:
        return int(self.root_dse("highestCommittedUSN")["highestCommittedUSN"][0])

    def join_second_dc(self, address: str | None = None, *, workdir: Path | None = None,
                       server_name: str = "DC2") -> SambaDC:
        """Join a second DC (running, replicating both ways); see ``samba_join``."""
        return join_second_dc(self, address, workdir=workdir, server_name=server_name)

    # -- backup / restore ---------------------------------------------------------------

    def backup_offline(self, dest_dir: Path) -> Path:
        """``samba-tool domain backup offline``; returns the .tar.bz2 (a ``.lab.json``
        sidecar next to it keeps the realm, names and admin password for restore)."""
        return backup_offline(self.smb_conf, Path(dest_dir), what=repr(self), realm=self.realm,
                              domain=self.domain, admin_password=self.admin_password)

    @classmethod
    def restore_from_backup(
        cls,
        backup_file: Path,
        workdir: Path,
        *,
        address: str | None = None,
        new_server_name: str,
        lock: AddressLock | None = None,
        admin_password: str | None = None,
    ) -> SambaDC:
        """``samba-tool domain backup restore --newservername``: a DC with a new
        invocationId (and a new TLS cert for ``<new_server_name>.<realm>``) on ``address``
        (or ``lock``'s address, or a newly allocated one); ~10-12 s on a quiet machine."""
        workdir = Path(workdir).resolve()
        if lock is None:
            address, lock = (address, lock_address(address)) if address else allocate_address()
        try:
            restore_tree(Path(backup_file), workdir, new_server_name=new_server_name,
                         host_ip=lock.address, admin_password=admin_password)
        except BaseException:
            lock.release()
            raise
        return cls.open(workdir, lock=lock)

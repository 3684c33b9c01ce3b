"""Files and commands around a Samba DC tree: the private smb.conf options, relocating a
tree (rewrite smb.conf; nothing else embeds paths or the address), and offline backup /
restore with ``samba-tool``. Used by ``samba.SambaDC``; no process management here."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import stat
import subprocess
from pathlib import Path

from hybridsync.engine.lab.errors import LabError

SBIN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
BOOTSTRAP_HINT = "Samba AD DC is not installed: run `scripts/bootstrap.sh` (installs samba, samba-ad-dc, ldap-utils, winbind, krb5-user, python3-samba)"
LAB_META = "lab.json"
RUN_SUBDIRS = ("run", "log")  # samba makes its socket dirs itself (and insists on their modes)


class SambaNotInstalled(LabError):
    """The samba binaries are missing; the message says how to install them."""


class SambaError(LabError):
    """A samba command or the DC itself failed; the message names the DC and the log."""


def samba_binary(name: str) -> str:
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":" + SBIN_PATH)
    if found is None:
        raise SambaNotInstalled(f"{BOOTSTRAP_HINT} ({name!r} not found)")
    return found


def samba_version() -> str:
    out = subprocess.run([samba_binary("samba"), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def generate_password() -> str:
    """A strong password meeting AD complexity (upper, lower, digit, symbol)."""
    return "Lab-" + secrets.token_urlsafe(18) + "-9aZ"


def smb_options(workdir: Path, address: str) -> dict[str, str]:
    """The options that keep a DC private to ``workdir`` and ``address`` (shared/README)."""
    run = workdir / "run"
    return {
        "interfaces": f"{address}/8",
        "bind interfaces only": "yes",
        "disable netbios": "yes",
        "dns forwarder": "127.0.0.1",
        "pid directory": str(run),
        "ncalrpc dir": str(run / "ncalrpc"),
        "winbindd socket directory": str(run / "winbindd"),
        "ntp signd socket directory": str(run / "ntp_signd"),
        "log file": str(workdir / "log" / "samba.log"),
        "prefork children": "1",
        "max log size": "10000",
    }


def run_tool(cmd: list[str], what: str, *, timeout: float = 300,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env} if env else None)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise SambaError(f"{what} failed (exit {proc.returncode}):\n{tail}")
    return proc


def rewrite_smb_conf(workdir: Path, old_workdir: Path | None, address: str) -> None:
    """Point ``etc/smb.conf`` at ``workdir`` and ``address`` (after a copy or restore)."""
    conf = workdir / "etc" / "smb.conf"
    text = conf.read_text()
    if old_workdir is not None and str(old_workdir) != str(workdir):
        text = text.replace(str(old_workdir), str(workdir))
    wanted = smb_options(workdir, address)
    lines = text.splitlines()
    seen: set[str] = set()
    out: list[str] = []
    in_global = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("["):
            if in_global:
                out.extend(f"\t{k} = {v}" for k, v in wanted.items() if k not in seen)
            in_global = stripped.lower() == "[global]"
        elif in_global and "=" in stripped:
            key = re.sub(r"\s+", " ", stripped.split("=", 1)[0].strip().lower())
            if key in wanted:
                seen.add(key)
                line = f"\t{key} = {wanted[key]}"
        out.append(line)
    if in_global:
        out.extend(f"\t{k} = {v}" for k, v in wanted.items() if k not in seen)
    conf.write_text("\n".join(out) + "\n")



def write_private_json(path: Path, value: dict) -> None:
    """Write JSON readable only by us (it holds the lab admin password)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(value, fh, indent=1)


def backup_offline(smb_conf: Path, dest_dir: Path, *, what: str, realm: str, domain: str,
                   admin_password: str) -> Path:
    dest_dir.mkdir(parents=True, exist_ok=True)
    before = set(dest_dir.glob("samba-backup-*.tar.bz2"))
    run_tool([samba_binary("samba-tool"), "domain", "backup", "offline", f"--targetdir={dest_dir}",
              "-s", str(smb_conf)], f"backup of {what}")
    made = sorted(set(dest_dir.glob("samba-backup-*.tar.bz2")) - before)
    if not made:
        raise SambaError(f"backup of {what} wrote no samba-backup-*.tar.bz2 into {dest_dir}")
    backup = made[-1]
    write_private_json(backup.with_name(backup.name + ".lab.json"),
                       {"realm": realm, "domain": domain, "admin_password": admin_password})
    return backup


def restore_tree(backup_file: Path, workdir: Path, *, new_server_name: str, host_ip: str,
                 admin_password: str | None) -> None:
    """Restore ``backup_file`` into ``workdir`` as ``new_server_name`` and write lab.json."""
    sidecar = backup_file.with_name(backup_file.name + ".lab.json")
    meta = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    password = admin_password or meta.get("admin_password")
    if password is None:
        raise SambaError(f"restore of {backup_file}: no admin password given and no {sidecar.name} sidecar")
    run_tool([samba_binary("samba-tool"), "domain", "backup", "restore", f"--backup-file={backup_file}",
              f"--targetdir={workdir}", f"--newservername={new_server_name}", f"--host-ip={host_ip}"],
             f"restore of {backup_file} into {workdir}")
    tls_dir = workdir / "private" / "tls"
    shutil.rmtree(tls_dir, ignore_errors=True)  # the old name's cert; samba makes a new one
    tls_dir.mkdir(mode=0o700)
    conf = workdir / "etc" / "smb.conf"
    write_private_json(workdir / LAB_META, {
        "workdir": str(workdir), "server_name": new_server_name, "admin_password": password,
        "realm": meta.get("realm") or conf_value(conf, "realm") or "LAB.TEST",
        "domain": meta.get("domain") or conf_value(conf, "workgroup") or "LAB",
    })


def clone_ignore(directory: str, names: list[str], *, top: bool) -> set[str]:
    """Skip what belongs to a running instance: the top-level run/, log/ and msg.sock, and
    unix sockets anywhere (ldapi, winbindd pipe) that a stopped DC leaves behind."""
    skip = {"run", "log", "msg.sock"} if top else set()
    for name in names:
        try:
            if stat.S_ISSOCK(os.lstat(os.path.join(directory, name)).st_mode):
                skip.add(name)
        except FileNotFoundError:
            skip.add(name)
    return skip & set(names)


def conf_value(conf: Path, key: str) -> str | None:
    for line in conf.read_text().splitlines():
        if "=" in line and line.split("=", 1)[0].strip().lower() == key:
            return line.split("=", 1)[1].strip()
    return None

"""A second DC joined to a lab DC, replicating both ways, without touching /etc.

What it takes (measured, see shared/README):
- name resolution for both DCs through DC1's internal DNS: Debian's ``libresolv-wrapper``
  (``RESOLV_WRAPPER_CONF`` = a private resolv.conf naming DC1) and ``libnss-wrapper``
  (private hosts file and host name) via ``LD_PRELOAD``, set in each DC's ``extra_env``;
- DC1's own A record pointing at its CURRENT address (a clone of the cache still carries the
  address the cache was built on);
- DC2's A record and its ``<ntds-guid>._msdcs`` CNAME added on DC1 (the join adds neither);
- ``samba-tool drs kcc`` on DC1 and one ``drs replicate`` each way to prime the links.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import ldap3

from hybridsync.engine.lab.net import allocate_address, lock_address
from hybridsync.engine.lab.samba_tree import (
    LAB_META,
    SambaError,
    run_tool,
    samba_binary,
    smb_options,
    write_private_json,
)

WRAPPERS = "libresolv_wrapper.so libnss_wrapper.so"


def wrapper_env(dns_dir: Path, host_fqdn: str) -> dict[str, str]:
    return {
        "LD_PRELOAD": WRAPPERS,
        "RESOLV_WRAPPER_CONF": str(dns_dir / "resolv.conf"),
        "NSS_WRAPPER_HOSTS": str(dns_dir / "hosts"),
        "NSS_WRAPPER_HOSTNAME": host_fqdn,
        "NSS_WRAPPER_PASSWD": "/etc/passwd",
        "NSS_WRAPPER_GROUP": "/etc/group",
    }


def _tool(args: list[str], what: str, env: dict[str, str]) -> str:
    return run_tool([samba_binary("samba-tool"), *args], what, env=env).stdout


def _tool_retrying(args: list[str], what: str, env: dict[str, str], *, tries: int = 4) -> str:
    """DRS calls between two freshly joined DCs time out now and then on a loaded machine
    ("DsExecuteKCC failed - Device Timeout"): they are idempotent, so try again."""
    for attempt in range(1, tries + 1):
        try:
            return _tool(args, what, env)
        except SambaError:
            if attempt == tries:
                raise
            time.sleep(2 * attempt)
    raise AssertionError("unreachable")


def _fix_own_a_record(dc, env: dict[str, str]) -> None:  # noqa: ANN001 - SambaDC
    creds = ["-U", f"Administrator%{dc.admin_password}"]
    host = dc.server_name.lower()
    try:
        out = _tool(["dns", "query", dc.address, dc.dns_domain, host, "A", *creds], "dns query", env)
        current = re.findall(r"A: (\d+\.\d+\.\d+\.\d+)", out)
    except SambaError:
        current = []
    for old in current:
        if old != dc.address:
            _tool(["dns", "delete", dc.address, dc.dns_domain, host, "A", old, *creds], "dns delete", env)
    if dc.address not in current:
        _tool(["dns", "add", dc.address, dc.dns_domain, host, "A", dc.address, *creds], "dns add", env)


def join_second_dc(dc1, address: str | None = None, *, workdir: Path | None = None,  # noqa: ANN001
                   server_name: str = "DC2"):
    """Join ``server_name`` on ``address`` (allocated when None) into ``workdir`` (default
    ``<dc1.workdir>/../<server_name>``), start it, and return it as a SambaDC."""
    if not dc1.is_running():
        raise SambaError(f"cannot join a DC to {dc1}: it is not running")
    address, lock = (address, lock_address(address)) if address else allocate_address()
    workdir = Path(workdir or dc1.workdir.parent / server_name.lower()).resolve()
    fqdn1, fqdn2 = dc1.tls_server_name.lower(), f"{server_name}.{dc1.dns_domain}".lower()
    try:
        dns_dir = dc1.workdir / "lab-dns"
        dns_dir.mkdir(exist_ok=True)
        (dns_dir / "resolv.conf").write_text(f"nameserver {dc1.address}\n")
        (dns_dir / "hosts").write_text(f"{dc1.address} {fqdn1} {dc1.server_name.lower()}\n"
                                       f"{address} {fqdn2} {server_name.lower()}\n")
        env1, env2 = wrapper_env(dns_dir, fqdn1), wrapper_env(dns_dir, fqdn2)
        creds = ["-U", f"Administrator%{dc1.admin_password}"]
        _fix_own_a_record(dc1, env1)
        dc1.stop()
        dc1.extra_env = env1
        dc1.start()
        for sub in ("run", "log"):
            (workdir / sub).mkdir(parents=True, exist_ok=True)
        options = {**smb_options(workdir, address), "netbios name": server_name}
        _tool(["domain", "join", dc1.dns_domain, "DC", *creds, f"--server={dc1.address}",
               f"--targetdir={workdir}", "--dns-backend=SAMBA_INTERNAL",
               *(f"--option={k} = {v}" for k, v in options.items())], f"join of {server_name}", env2)
        conn = dc1.connect()
        try:
            ntds = (f"CN=NTDS Settings,CN={server_name},CN=Servers,CN=Default-First-Site-Name,"
                    f"CN=Sites,CN=Configuration,{dc1.base_dn}")
            conn.search(ntds, "(objectClass=nTDSDSA)", search_scope=ldap3.BASE, attributes=["objectGUID"])
            guid = str(uuid.UUID(bytes_le=conn.response[0]["raw_attributes"]["objectGUID"][0]))
        finally:
            conn.unbind()
        _tool(["dns", "add", dc1.address, dc1.dns_domain, server_name.lower(), "A", address, *creds], "dns add A", env1)
        _tool(["dns", "add", dc1.address, f"_msdcs.{dc1.dns_domain}", guid, "CNAME", fqdn2, *creds],
              "dns add CNAME", env1)
        write_private_json(workdir / LAB_META, {
            "workdir": str(workdir), "realm": dc1.realm, "domain": dc1.domain,
            "server_name": server_name, "admin_password": dc1.admin_password})
        dc2 = type(dc1).open(workdir, lock=lock)  # a SambaDC; this module is imported by samba.py
        dc2.extra_env = env2
        dc2.start()
        _tool_retrying(["drs", "kcc", dc1.address, *creds], "drs kcc", env1)
        _tool_retrying(["drs", "replicate", address, dc1.server_name, dc1.base_dn, *creds], "drs replicate 1->2", env2)
        _tool_retrying(["drs", "replicate", dc1.address, server_name, dc1.base_dn, *creds], "drs replicate 2->1",
                       env1)
        return dc2
    except BaseException:
        lock.release()
        raise

"""Offline bulk seeder: writes users and groups straight into a STOPPED DC's sam.ldb.

Run by Debian's ``/usr/bin/python3`` (it has samba's Python bindings; the project venv does
not), never imported by hybridsync itself. ``hybridsync.engine.lab.samba_seed`` calls it as::

    /usr/bin/python3 seed_offline.py < spec.json > result.json

spec: {"smb_conf": path, "base_dn": "DC=lab,DC=test", "ou": "OU=Bulk", "prefix": "bulk",
       "n_users": 20000, "n_groups": 200, "large_group_size": 5000, "batch": 2000,
       "dns_domain": "lab.test"}
result: {"users": n, "groups": n, "large_group": dn | null, "seconds": s, "users_per_s": r}

Users are enabled with no password (userAccountControl NORMAL|PASSWD_NOTREQD = 544) so
the engine sees ordinary enabled accounts; hashing a password per user would halve the rate.
Writes go in transactions of ``batch`` objects (ldb keeps index changes in memory within a
transaction, which is what makes this far faster than per-object commits), and users are
spread over child OUs of at most 5,000 so the one-level index records stay small.
"""

import json
import os
import sys
import time

# This file sits next to hybridsync's own ``samba.py``: drop our folder from sys.path so
# ``import samba`` finds Samba's bindings (the caller also passes -P).
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import ldb  # noqa: E402
from samba.auth import system_session  # noqa: E402
from samba.param import LoadParm  # noqa: E402
from samba.samdb import SamDB  # noqa: E402

OU_CHUNK = 5000


def open_samdb(smb_conf):
    lp = LoadParm()
    lp.load(smb_conf)
    url = os.path.join(lp.get("private dir"), "sam.ldb")
    return SamDB(url=url, session_info=system_session(), lp=lp)


def ensure_ou(samdb, dn):
    if not _exists(samdb, dn):
        samdb.add({"dn": dn, "objectClass": "organizationalUnit"})


def _exists(samdb, dn):
    try:
        samdb.search(base=dn, scope=ldb.SCOPE_BASE, attrs=["dn"])
        return True
    except ldb.LdbError as exc:
        if exc.args[0] == ldb.ERR_NO_SUCH_OBJECT:
            return False
        raise


def seed(spec):
    samdb = open_samdb(spec["smb_conf"])
    base_dn = spec["base_dn"]
    ou_dn = spec["ou"] if spec["ou"].lower().endswith(base_dn.lower()) else f"{spec['ou']},{base_dn}"
    prefix = spec.get("prefix", "bulk")
    n_users = int(spec["n_users"])
    n_groups = int(spec.get("n_groups", 0))
    large = int(spec.get("large_group_size", 0))
    batch = int(spec.get("batch", 2000))
    dns_domain = spec.get("dns_domain", "lab.test")
    started = time.monotonic()
    ensure_ou(samdb, ou_dn)
    user_dns = []
    samdb.transaction_start()
    try:
        for i in range(n_users):
            chunk_ou = ou_dn if n_users <= OU_CHUNK else f"OU={prefix}-{i // OU_CHUNK:03d},{ou_dn}"
            if n_users > OU_CHUNK and i % OU_CHUNK == 0:
                ensure_ou(samdb, chunk_ou)
            name = f"{prefix}-{i:06d}"
            dn = f"CN={name},{chunk_ou}"
            samdb.add({
                "dn": dn,
                "objectClass": "user",
                "sAMAccountName": name[:20],
                "userPrincipalName": f"{name}@{dns_domain}",
                "givenName": prefix.capitalize(),
                "sn": f"{i:06d}",
                "displayName": f"{prefix.capitalize()} {i:06d}",
                "mail": f"{name}@{dns_domain}",
                "userAccountControl": "544",
            })
            user_dns.append(dn)
            if (i + 1) % batch == 0:
                samdb.transaction_commit()
                samdb.transaction_start()
        users_done = time.monotonic()
        group_dns = []
        for g in range(n_groups):
            members = user_dns[g::n_groups] if user_dns else []
            dn = f"CN={prefix}-group-{g:04d},{ou_dn}"
            msg = {"dn": dn, "objectClass": "group", "sAMAccountName": f"{prefix}-g{g:04d}"[:20]}
            if members:
                msg["member"] = members
            samdb.add(msg)
            group_dns.append(dn)
        large_dn = None
        if large:
            large_dn = f"CN={prefix}-large-group,{ou_dn}"
            msg = {"dn": large_dn, "objectClass": "group", "sAMAccountName": f"{prefix}-large"[:20]}
            if user_dns:
                msg["member"] = user_dns[:large]
            samdb.add(msg)
        samdb.transaction_commit()
    except BaseException:
        samdb.transaction_cancel()
        raise
    done = time.monotonic()
    user_seconds = max(users_done - started, 1e-9)
    return {
        "ou": ou_dn,
        "users": n_users,
        "groups": n_groups,
        "large_group": large_dn,
        "large_group_members": min(large, n_users) if large else 0,
        "seconds": round(done - started, 2),
        "user_seconds": round(user_seconds, 2),
        "users_per_s": round(n_users / user_seconds, 1) if n_users else 0.0,
    }


def main():
    spec = json.load(sys.stdin)
    json.dump(seed(spec), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Seeding helpers over LDAP (an ldap3 admin connection): small AD edits for tests and the
lab demo, and ``seed_lab_directory`` which builds the baseline directory with odd values.

Every helper takes a bound ldap3 connection (``raise_exceptions=True`` as given by
``SambaDC.connect``) and returns DNs as strings. Attribute values are passed through
unchanged, so ``set_attrs(conn, dn, otherTelephone=["1", "2"])`` sets two values and
``set_attrs(conn, dn, mail=None)`` clears the attribute.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs
import ldap3
from ldap3.utils.dn import escape_rdn, parse_dn

UF_ACCOUNTDISABLE = 0x2
UF_NORMAL_ACCOUNT = 0x200
GROUP_SCOPES = {"global": 0x2, "domainlocal": 0x4, "universal": 0x8}
GROUP_SECURITY = 0x80000000
MEMBER_CHUNK = 1000
DEFAULT_USER_PASSWORD = "Lab-User-Passw0rd!"


def rdn(attr: str, value: str) -> str:
    return f"{attr}={escape_rdn(value)}"


def parent_of(dn: str) -> str:
    parts = parse_dn(dn, escape=True)
    return ",".join(f"{a}={v}" for a, v, _ in parts[1:])


def _encode_password(password: str) -> bytes:
    return f'"{password}"'.encode("utf-16-le")


def add_ou(conn: ldap3.Connection, parent_dn: str, name: str) -> str:
    dn = f"{rdn('OU', name)},{parent_dn}"
    conn.add(dn, ["top", "organizationalUnit"], {"ou": name})
    return dn


def ensure_ou(conn: ldap3.Connection, parent_dn: str, name: str) -> str:
    """Like ``add_ou`` but fine when the OU exists already."""
    dn = f"{rdn('OU', name)},{parent_dn}"
    try:
        conn.add(dn, ["top", "organizationalUnit"], {"ou": name})
    except ldap3.core.exceptions.LDAPEntryAlreadyExistsResult:
        pass
    return dn


def add_user(
    conn: ldap3.Connection,
    ou_dn: str,
    cn: str,
    *,
    sam: str | None = None,
    upn: str | None = None,
    given: str | None = None,
    sn: str | None = None,
    display: str | None = None,
    mail: str | None = None,
    enabled: bool = True,
    password: str | None = None,
    **extra_attrs: object,
) -> str:
    """Add a user; with ``enabled`` it gets ``password`` (or a default) and is enabled."""
    dn = f"{rdn('CN', cn)},{ou_dn}"
    attrs_: dict[str, object] = {"cn": cn}
    optional = {"sAMAccountName": sam, "userPrincipalName": upn, "givenName": given, "sn": sn,
                "displayName": display, "mail": mail}
    attrs_.update({k: v for k, v in optional.items() if v is not None})
    attrs_.update({k: v for k, v in extra_attrs.items() if v is not None})
    if password is None and enabled:
        password = DEFAULT_USER_PASSWORD
    if password is not None:
        attrs_["unicodePwd"] = _encode_password(password)
    attrs_["userAccountControl"] = str(UF_NORMAL_ACCOUNT | (0 if enabled else UF_ACCOUNTDISABLE))
    conn.add(dn, ["top", "person", "organizationalPerson", "user"], attrs_)
    return dn


def add_plain_user(conn: ldap3.Connection, ou_dn: str, cn: str, password: str, **kwargs: object) -> str:
    """An enabled, unprivileged user (no group beyond Domain Users) for least-privilege tests."""
    return add_user(conn, ou_dn, cn, sam=kwargs.pop("sam", None) or cn[:20], password=password,
                    enabled=True, **kwargs)


def add_group(conn: ldap3.Connection, ou_dn: str, cn: str, members: Iterable[str] = (), *,
              scope: str = "global", security: bool = True, **extra_attrs: object) -> str:
    dn = f"{rdn('CN', cn)},{ou_dn}"
    gtype = GROUP_SCOPES[scope] | (GROUP_SECURITY if security else 0)
    if gtype >= 2**31:
        gtype -= 2**32  # groupType is a signed 32-bit integer
    attrs_: dict[str, object] = {"cn": cn, "groupType": str(gtype)}
    attrs_.update({k: v for k, v in extra_attrs.items() if v is not None})
    conn.add(dn, ["top", "group"], attrs_)
    add_members(conn, dn, members)
    return dn


def add_contact(conn: ldap3.Connection, ou_dn: str, cn: str, **attrs_: object) -> str:
    dn = f"{rdn('CN', cn)},{ou_dn}"
    values: dict[str, object] = {"cn": cn}
    values.update({k: v for k, v in attrs_.items() if v is not None})
    conn.add(dn, ["top", "person", "organizationalPerson", "contact"], values)
    return dn


def set_attrs(conn: ldap3.Connection, dn: str, **attrs_: object) -> None:
    """Replace attributes; ``None`` or ``[]`` clears one."""
    changes = {}
    for name, value in attrs_.items():
        values = [] if value is None else (list(value) if isinstance(value, list | tuple) else [value])
        changes[name] = [(ldap3.MODIFY_REPLACE, values)]
    conn.modify(dn, changes)


def _uac(conn: ldap3.Connection, dn: str) -> int:
    conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["userAccountControl"])
    return int(conn.response[0]["raw_attributes"]["userAccountControl"][0])


def disable_user(conn: ldap3.Connection, dn: str) -> None:
    set_attrs(conn, dn, userAccountControl=str(_uac(conn, dn) | UF_ACCOUNTDISABLE))


def enable_user(conn: ldap3.Connection, dn: str) -> None:
    set_attrs(conn, dn, userAccountControl=str(_uac(conn, dn) & ~UF_ACCOUNTDISABLE))


def rename(conn: ldap3.Connection, dn: str, new_cn: str) -> str:
    new_rdn = rdn("CN", new_cn)
    conn.modify_dn(dn, new_rdn)
    return f"{new_rdn},{parent_of(dn)}"


def move(conn: ldap3.Connection, dn: str, new_parent_dn: str) -> str:
    first = parse_dn(dn, escape=True)[0]
    old_rdn = f"{first[0]}={first[1]}"
    conn.modify_dn(dn, old_rdn, new_superior=new_parent_dn)
    return f"{old_rdn},{new_parent_dn}"


def delete(conn: ldap3.Connection, dn: str, *, tree: bool = False) -> None:
    """Delete ``dn``; with ``tree`` its whole subtree (tree-delete control)."""
    controls = [("1.2.840.113556.1.4.805", True, None)] if tree else None
    conn.delete(dn, controls=controls)


def _chunks(values: Sequence[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(values), size):
        yield list(values[i:i + size])


def add_members(conn: ldap3.Connection, group_dn: str, member_dns: Iterable[str]) -> None:
    for chunk in _chunks(list(member_dns), MEMBER_CHUNK):
        conn.modify(group_dn, {"member": [(ldap3.MODIFY_ADD, chunk)]})


def remove_members(conn: ldap3.Connection, group_dn: str, member_dns: Iterable[str]) -> None:
    for chunk in _chunks(list(member_dns), MEMBER_CHUNK):
        conn.modify(group_dn, {"member": [(ldap3.MODIFY_DELETE, chunk)]})


def object_guid(conn: ldap3.Connection, dn: str) -> str:
    """The object's objectGUID, base64 (the anchor the engine stores)."""
    conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["objectGUID"])
    return base64.b64encode(conn.response[0]["raw_attributes"]["objectGUID"][0]).decode()


def child_dns(conn: ldap3.Connection, base_dn: str, ldap_filter: str = "(objectClass=*)") -> list[str]:
    """DNs one level under ``base_dn`` (paged, so it works for thousands)."""
    entries = conn.extend.standard.paged_search(base_dn, ldap_filter, search_scope=ldap3.LEVEL,
                                                attributes=["objectGUID"], paged_size=1000, generator=True)
    return [e["dn"] for e in entries if e.get("type") == "searchResEntry"]


@attrs.frozen
class SeedResult:
    """What ``seed_lab_directory`` created (DNs by role, and counts)."""

    base_dn: str
    ous: dict[str, str]
    users: tuple[str, ...]
    odd_users: dict[str, str]
    groups: dict[str, str]
    contacts: tuple[str, ...]
    large_group: str
    large_group_members: int

    @property
    def user_count(self) -> int:
        return len(self.users)

    @classmethod
    def from_dict(cls, raw: dict) -> SeedResult:
        """Rebuild from ``attrs.asdict`` output read back from JSON."""
        return cls(base_dn=raw["base_dn"], ous=dict(raw["ous"]), users=tuple(raw["users"]),
                   odd_users=dict(raw["odd_users"]), groups=dict(raw["groups"]),
                   contacts=tuple(raw["contacts"]), large_group=raw["large_group"],
                   large_group_members=int(raw["large_group_members"]))


# -- the baseline lab directory -----------------------------------------------------------

ODD_CN = 'Odd, "Quoted" \\Back <Lt> >Gt; Semi =Eq +Plus #1'
LONG_DISPLAY = ("Long " * 52)[:256]
SCOPE_OUS = ("Staff", "Sales", "Contractors", "OutOfScope")
LARGE_MEMBERS_OU = "LargeMembers"
LARGE_GROUP_CN = "Large Group"


def _odd_users(conn: ldap3.Connection, staff: str, sales: str, domain: str) -> dict[str, str]:
    return {
        "unicode": add_user(conn, staff, "Zoë Ångström", sam="zoe.angstrom", upn=f"zoe.angstrom@{domain}",
                            given="Zoë", sn="Ångström", display="Zoë Ångström 🌍", mail=f"zoe@{domain}"),
        "special_cn": add_user(conn, staff, ODD_CN, sam="odd.chars", upn=f"odd.chars@{domain}",
                               given="Odd", sn='Ch"ars\\', display=ODD_CN, mail=f"odd.chars@{domain}"),
        "no_mail": add_user(conn, staff, "No Mail", sam="no.mail", upn=f"no.mail@{domain}",
                            given="No", sn="Mail", display="No Mail"),
        "long_display": add_user(conn, staff, "Long Display", sam="long.display",
                                 upn=f"long.display@{domain}", given="Long", sn="Display",
                                 display=LONG_DISPLAY, mail=f"long.display@{domain}"),
        "disabled": add_user(conn, staff, "Disabled User", sam="disabled.user",
                             upn=f"disabled.user@{domain}", given="Disabled", sn="User",
                             display="Disabled User", mail=f"disabled.user@{domain}", enabled=False),
        "multi_phone": add_user(conn, sales, "Multi Phone", sam="multi.phone", upn=f"multi.phone@{domain}",
                                given="Multi", sn="Phone", display="Multi Phone", mail=f"multi.phone@{domain}",
                                telephoneNumber="+1 555 0100", otherTelephone=["+1 555 0101", "+1 555 0102"]),
    }


def seed_lab_directory(conn: ldap3.Connection, base_dn: str, *, users: int = 200,
                       large_group_size: int = 5000) -> SeedResult:
    """Build the baseline lab directory over LDAP (see module docstring of pytest_samba).

    ``users`` counts every user in the scope OUs (Staff, Staff/Sales, Contractors,
    OutOfScope), odd ones included. The large group takes its members from
    ``OU=LargeMembers`` (which ``bulk_seed_offline`` can fill fast); missing ones are added
    here over LDAP (slowly: ~80/s).
    """
    domain = ".".join(v for a, v, _ in parse_dn(base_dn) if a.upper() == "DC")
    ous = {"Staff": add_ou(conn, base_dn, "Staff")}
    ous["Sales"] = add_ou(conn, ous["Staff"], "Sales")
    for name in ("Contractors", "OutOfScope", "Groups", "Contacts", "Tests"):
        ous[name] = add_ou(conn, base_dn, name)
    ous[LARGE_MEMBERS_OU] = ensure_ou(conn, base_dn, LARGE_MEMBERS_OU)
    odd = _odd_users(conn, ous["Staff"], ous["Sales"], domain)
    user_dns = list(odd.values())
    homes = [ous["Staff"]] * 5 + [ous["Sales"]] * 2 + [ous["Contractors"]] * 2 + [ous["OutOfScope"]]
    for i in range(max(0, users - len(user_dns))):
        sam = f"user{i:04d}"
        user_dns.append(add_user(conn, homes[i % len(homes)], f"User {i:04d}", sam=sam,
                                 upn=f"{sam}@{domain}", given="User", sn=f"{i:04d}",
                                 display=f"User {i:04d}", mail=f"{sam}@{domain}",
                                 title="Engineer" if i % 3 else "Manager",
                                 department="Sales" if homes[i % len(homes)] == ous["Sales"] else "Ops"))
    contacts = tuple(add_contact(conn, ous["Contacts"], f"Contact {i}", mail=f"contact{i}@example.org",
                                 displayName=f"Contact {i}", givenName="Contact", sn=str(i))
                     for i in range(3))
    def pick(lo: int, hi: int) -> list[str]:  # distinct users even when ``users`` is small
        return list(dict.fromkeys(user_dns[i % len(user_dns)] for i in range(lo, hi)))

    groups: dict[str, str] = {}
    groups["B"] = add_group(conn, ous["Groups"], "Group B", pick(6, 16))
    groups["A"] = add_group(conn, ous["Groups"], "Group A", [groups["B"], user_dns[0]])
    groups["C"] = add_group(conn, ous["Groups"], "Group C", pick(16, 20))
    groups["D"] = add_group(conn, ous["Groups"], "Group D", [groups["C"], *pick(20, 21)])
    add_members(conn, groups["C"], [groups["D"]])  # the C <-> D membership cycle
    groups["Contacts"] = add_group(conn, ous["Groups"], "Contacts Group", [*contacts, user_dns[0]])
    groups["Universal"] = add_group(conn, ous["Groups"], "Universal Group", pick(21, 25), scope="universal")
    groups["Empty"] = add_group(conn, ous["Groups"], "Empty Group")
    large_members = child_dns(conn, ous[LARGE_MEMBERS_OU], "(objectClass=user)")
    for i in range(len(large_members), large_group_size):
        dn = f"CN=lm-{i:06d},{ous[LARGE_MEMBERS_OU]}"
        conn.add(dn, ["top", "person", "organizationalPerson", "user"],
                 {"sAMAccountName": f"lm-{i:06d}", "userAccountControl": "544"})
        large_members.append(dn)
    large = add_group(conn, ous["Groups"], LARGE_GROUP_CN, large_members[:large_group_size])
    groups["Large"] = large
    return SeedResult(base_dn=base_dn, ous=ous, users=tuple(user_dns), odd_users=odd, groups=groups,
                      contacts=contacts, large_group=large, large_group_members=min(large_group_size, len(large_members)))


# -- offline bulk seeding ------------------------------------------------------------------

SYSTEM_PYTHON = "/usr/bin/python3"
OFFLINE_SCRIPT = Path(__file__).with_name("seed_offline.py")


def bulk_seed_offline(dc: object, n_users: int, *, n_groups: int = 200, large_group_size: int = 5000,
                      ou: str = "OU=Bulk", prefix: str = "bulk", tuned: bool = True) -> dict:
    """Stop ``dc`` (a SambaDC), write ``n_users`` users, ``n_groups`` groups (users spread
    round-robin) and a ``<prefix>-large-group`` with ``large_group_size`` members straight into
    its sam.ldb with Debian's python3 + samba bindings (templates made by Samba, copies written
    raw, one reindex: see seed_offline.py), then restart it if it was running.
    ``tuned=False`` keeps ldb's default hash sizes (to measure what sizing them saves).
    Returns the seeder's result (counts, seconds, load/reindex seconds, users_per_s, phases)."""
    was_running = dc.is_running()  # type: ignore[attr-defined]
    if was_running:
        dc.stop()  # type: ignore[attr-defined]
    spec = {"smb_conf": str(dc.smb_conf), "base_dn": dc.base_dn, "ou": ou, "prefix": prefix,  # type: ignore[attr-defined]
            "n_users": n_users, "n_groups": n_groups, "large_group_size": large_group_size,
            "dns_domain": dc.dns_domain, "tuned": tuned}  # type: ignore[attr-defined]
    try:
        proc = subprocess.run([SYSTEM_PYTHON, "-P", str(OFFLINE_SCRIPT)], input=json.dumps(spec),
                              capture_output=True, text=True, timeout=3600)
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-12:])
            raise RuntimeError(f"offline seeding of {ou} into {dc} failed (exit {proc.returncode}):\n{tail}")
        return json.loads(proc.stdout)
    finally:
        if was_running:
            dc.start()  # type: ignore[attr-defined]

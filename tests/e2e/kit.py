"""Helpers for end-to-end tests: config for the real Samba DC + scim2-server, expected projection."""

from __future__ import annotations

import base64
from collections import Counter

import attrs
import ldap3

from hybridsync.engine.core.config import Config, SafetyConfig, ScopeConfig, SourceConfig, StateConfig, TargetConfig
from hybridsync.engine.lab.seed import add_group, add_user, ensure_ou

PASSWORD_ENV = "HYBRIDSYNC_E2E_AD_PASSWORD"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def e2e_config(dc, scim_server, ou: str, state_path: str, *, safety: SafetyConfig | None = None,
               delta: str = "dirsync", object_types=("user", "group")) -> Config:
    staff = f"OU=Staff,{ou}"
    source = SourceConfig(name="corp", kind="ad", urls=(dc.ldaps_url,), base_dn=ou, bind_dn=dc.admin_dn,
                          password_env=PASSWORD_ENV, ca_file=str(dc.ca_file), tls_server_name=dc.tls_server_name,
                          delta=delta, poll_interval=0.2, scope=ScopeConfig(include_ous=(staff,)))
    target = TargetConfig(name="app", kind="scim", url=scim_server.url, token_file=scim_server.token_file,
                          object_types=tuple(object_types))
    return Config(sources=(source,), targets=(target,), state=StateConfig(path=state_path),
                  safety=safety or SafetyConfig())


def seed_scenario(conn: ldap3.Connection, ou: str, n_users: int = 12) -> dict[str, str]:
    """OUs Staff (in scope) and Other, users with odd values, nested groups, a contact."""
    staff = ensure_ou(conn, ou, "Staff")
    ensure_ou(conn, ou, "Other")
    tag = ou.split(",")[0].split("=")[1]
    dns: dict[str, str] = {}
    for i in range(n_users):
        dns[f"u{i}"] = add_user(conn, staff, f"User {i} {tag}", sam=f"{tag[:8]}u{i}", upn=f"u{i}.{tag}@lab.test",
                                given=f"Given{i}", sn=f"Sur{i}", display=f"User {i}", mail=f"u{i}.{tag}@lab.test")
    dns["odd"] = add_user(conn, staff, f"Ødd, Person {tag}", sam=f"{tag[:8]}odd", upn=f"odd.{tag}@lab.test",
                          given="Zoë", sn="Ñúñez-O'Brien", display="Zoë \"Z\" Ñúñez, Jr.", enabled=True)
    dns["disabled"] = add_user(conn, staff, f"Disabled {tag}", sam=f"{tag[:8]}dis", upn=f"dis.{tag}@lab.test",
                               sn="Off", enabled=False)
    dns["inner"] = add_group(conn, staff, f"Inner {tag}", [dns["u0"], dns["u1"]])
    dns["outer"] = add_group(conn, staff, f"Outer {tag}", [dns["u2"], dns["inner"], dns["odd"]])
    from hybridsync.engine.lab.seed import add_contact

    dns["contact"] = add_contact(conn, staff, f"Contact {tag}", mail=f"c.{tag}@example.com")
    return dns


def guid_of(conn: ldap3.Connection, dn: str) -> str:
    conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["objectGUID"])
    return base64.b64encode(conn.response[0]["raw_attributes"]["objectGUID"][0]).decode()


def expected(conn: ldap3.Connection, staff: str) -> tuple[dict[str, dict], dict[str, set[str]]]:
    """The projection of the in-scope objects: users by anchor, groups by anchor -> member anchors."""
    conn.search(staff, "(|(&(objectCategory=person)(objectClass=user))(objectClass=group))", ldap3.SUBTREE,
                attributes=["objectGUID", "userPrincipalName", "userAccountControl", "displayName", "sn", "cn",
                            "member", "objectClass"])
    entries = [e for e in conn.response if e.get("type") == "searchResEntry"]
    guid = {e["dn"].lower(): base64.b64encode(e["raw_attributes"]["objectGUID"][0]).decode() for e in entries}
    users, groups = {}, {}
    def first(v):
        return (v[0] if v else None) if isinstance(v, list) else v

    for e in entries:
        a = e["attributes"]
        anchor = guid[e["dn"].lower()]
        if "group" in [c.lower() for c in a["objectClass"]]:
            groups[anchor] = {guid[m.lower()] for m in a.get("member", []) if m.lower() in guid}
        else:
            users[anchor] = {"userName": first(a.get("userPrincipalName")),
                             "active": not (int(first(a["userAccountControl"])) & 2),
                             "displayName": first(a.get("displayName")) or None}
    return users, groups


def scim_user(backdoor, guid: str) -> dict:
    """The one SCIM user whose externalId is ``guid``."""
    [u] = [u for u in backdoor.resources("User") if u.get("externalId") == guid]
    return u


def manager_of(backdoor, guid: str):
    """The target id in the enterprise ``manager`` of the user with externalId ``guid``."""
    m = scim_user(backdoor, guid).get(ENTERPRISE, {}).get("manager")
    return m.get("value") if isinstance(m, dict) else m


def actual(backdoor) -> tuple[dict[str, dict], dict[str, set[str]], list[dict]]:
    """What the SCIM server holds: active users by externalId, groups -> member externalIds, all users."""
    all_users = backdoor.resources("User")
    groups = backdoor.resources("Group")
    ext = {r["id"]: r.get("externalId") for r in all_users + groups}
    ext_user = {r["id"]: r.get("externalId") for r in all_users}  # ids of users and groups may
    ext_group = {r["id"]: r.get("externalId") for r in groups}  # overlap (django-scim2: 1, 2, ...)

    def member(m: dict):
        ref, kind = str(m.get("$ref") or ""), m.get("type")
        if kind == "User" or "/Users/" in ref:
            return ext_user.get(m["value"])
        if kind == "Group" or "/Groups/" in ref:
            return ext_group.get(m["value"])
        return ext.get(m["value"])

    users = {r["externalId"]: {"userName": r.get("userName"), "active": r.get("active", True),
                               "displayName": r.get("displayName")}
             for r in all_users if r.get("externalId") and r.get("active", True)}
    gmap = {r["externalId"]: {member(m) for m in r.get("members", [])} for r in groups if r.get("externalId")}
    return users, gmap, all_users


def not_kept(engine, target: str = "app") -> frozenset[str]:
    """What the target documents as dropped or computed by the server (its profile as the engine
    recorded it): django-scim2 computes a user's displayName (``user:displayName``) and keeps no
    group members that are groups (``group:members[type eq "Group"]``). Compared nowhere, and a
    second cycle must still plan nothing."""
    profile = engine.store.target_profile(target) or {} if engine.store is not None else {}
    return frozenset((*profile.get("dropped", ()), *profile.get("computed", ())))


def assert_projection(conn: ldap3.Connection, ou: str, backdoor, not_kept: frozenset[str] = frozenset()) -> None:
    """The SCIM server holds the projection of AD: the active users are exactly the enabled
    in-scope ones, every in-scope group holds exactly its in-scope members, a group of ours that
    is not in scope (soft-deleted) holds none, and no externalId is held twice. What the target
    documents as ``not_kept`` is compared nowhere."""
    want_users, want_groups = expected(conn, f"OU=Staff,{ou}")
    have_users, have_groups, all_users = actual(backdoor)
    for users in (want_users, have_users):
        for u in users.values():
            if "user:displayName" in not_kept:
                u.pop("displayName", None)
    if 'group:members[type eq "Group"]' in not_kept:
        want_groups = {g: {m for m in ms if m not in want_groups} for g, ms in want_groups.items()}
    assert {a: u for a, u in have_users.items()} == {a: u for a, u in want_users.items() if u["active"]}
    assert {a: m for a, m in have_groups.items() if a in want_groups} == want_groups, (have_groups, want_groups)
    assert {a: m for a, m in have_groups.items() if a not in want_groups and m} == {}, "a group out of scope keeps members"
    dupes = [x for x, c in Counter(u.get("externalId") for u in all_users + backdoor.resources("Group")).items()
             if x and c > 1]
    assert dupes == []


def assert_converged(engine, conn: ldap3.Connection, ou: str, backdoor, *, cycles: int = 2, target: str = "app"):
    """Issue 20's invariant once edits stop: at most ``cycles`` cycles later the target equals the
    projection of AD, and a further cycle plans nothing. Returns the reports of the cycles run."""
    reports = []
    for n in range(cycles):
        reports.append(engine.run_once())
        try:
            assert_projection(conn, ou, backdoor, not_kept(engine, target))
            break
        except AssertionError:
            if n == cycles - 1:
                raise
    again = engine.run_once()
    assert [(o.action, o.anchor, o.result) for o in again.outcomes if o.action != "noop"] == [], \
        "a converged directory still planned work"
    return reports


def evolve(value, **kw):
    return attrs.evolve(value, **kw)

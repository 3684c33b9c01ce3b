"""The offline bulk seeder (engine/lab/seed_offline.py) builds a DC that Samba itself vouches for:
dbcheck finds nothing, the AD source reads exactly the seeded objects and their memberships, a
later edit arrives as a DirSync delta, and a user made over LDAP afterwards gets a fresh SID."""

from __future__ import annotations

import struct
import subprocess

import pytest

from hybridsync.connectors.ad import AdSource
from hybridsync.engine.core.config import ScopeConfig, SourceConfig
from hybridsync.engine.core.values import ObjectKind, ReadMode, Refresh
from hybridsync.engine.lab import seed

pytestmark = pytest.mark.samba

USERS, GROUPS, LARGE = 300, 7, 50


def _read(source, cursor):
    batches = list(source.read(cursor))
    assert [e for b in batches for e in b.errors] == []
    return {o.object_guid: o for b in batches for o in b.objects}, batches[-1].cursor, batches


@pytest.fixture
def seeded(samba_dc_factory, monkeypatch):
    dc = samba_dc_factory(start=False, users=20, large_group_size=0)
    out = seed.bulk_seed_offline(dc, USERS, n_groups=GROUPS, large_group_size=LARGE, ou="OU=SeedTest", prefix="st")
    check = subprocess.run(["samba-tool", "dbcheck", f"--configfile={dc.smb_conf}"], capture_output=True, text=True)
    assert check.returncode == 0 and "(0 errors)" in check.stdout, check.stdout + check.stderr
    dc.start()
    monkeypatch.setenv("HS_TEST_SEED_PW", dc.admin_password)
    config = SourceConfig(name="ad", urls=(dc.ldaps_url,), base_dn=dc.base_dn, bind_dn=dc.admin_dn,
                          password_env="HS_TEST_SEED_PW", ca_file=str(dc.ca_file), tls_server_name=dc.tls_server_name,
                          delta="dirsync", scope=ScopeConfig(include_ous=(out["ou"],)))
    source = AdSource(config, attributes=("displayName", "mail", "givenName", "sn", "userPrincipalName"))
    yield dc, out, source
    source.close()


def test_seeded_objects_read_back_with_their_groups_and_deltas_follow(seeded):
    dc, out, source = seeded
    objs, cursor, _ = _read(source, Refresh("seed test"))
    users = [o for o in objs.values() if o.kind is ObjectKind.USER and "OU=SeedTest" in o.dn]
    groups = {o.dn.split(",")[0][3:]: o for o in objs.values() if o.kind is ObjectKind.GROUP and "OU=SeedTest" in o.dn}
    assert len(users) == USERS and len(groups) == GROUPS + 1
    assert len({u.object_guid for u in users}) == USERS
    assert len({u.first("sAMAccountName") for u in users}) == USERS
    assert len({u.first("userPrincipalName") for u in users}) == USERS
    assert all(not u.disabled for u in users)
    by_dn = {u.dn.lower(): u.object_guid for u in users}
    user_5 = next(u for u in users if u.first("sAMAccountName") == "st-000005")
    assert user_5.first("mail") == "st-000005@lab.test" and user_5.first("displayName") == "St 000005"
    for g in range(GROUPS):
        expected = {by_dn[seed_dn.lower()] for seed_dn in
                    (f"CN=st-{i:06d},{out['ou']}" for i in range(g, USERS, GROUPS))}
        assert set(groups[f"st-group-{g:04d}"].members) == expected
    assert len(groups["st-large-group"].members) == LARGE == out["large_group_members"]

    # nothing changed: an empty delta; then an LDAP edit and a new user arrive as a delta
    objs, cursor, batches = _read(source, cursor)
    assert all(b.mode is ReadMode.DELTA for b in batches) and not [o for o in objs.values() if "OU=SeedTest" in o.dn]
    conn = dc.connect()
    try:
        seed.set_attrs(conn, f"CN=st-000007,{out['ou']}", displayName="Renamed Seven")
        new = seed.add_user(conn, out["ou"], "After Seed", sam="after.seed", upn="after.seed@lab.test")
        sids = {e["raw_attributes"]["objectSid"][0] for e in conn.extend.standard.paged_search(
            out["ou"], "(objectClass=user)", attributes=["objectSid"], paged_size=500, generator=True)
            if e.get("type") == "searchResEntry"}
    finally:
        conn.unbind()
    assert len(sids) == USERS + 1  # the DC handed the new user a RID nobody seeded holds
    objs, cursor, batches = _read(source, cursor)
    changed = {o.dn.lower(): o for o in objs.values()}
    assert changed[f"CN=st-000007,{out['ou']}".lower()].first("displayName") == "Renamed Seven"
    assert new.lower() in changed


def test_the_seeder_sizes_the_partition_hash_to_n_and_the_restarted_dc_serves_every_user(samba_dc_factory):
    """ldb makes the partition tdb with 10,000 hash chains and indexes a transaction in a cache of
    491: at 20k-100k objects both made Samba's one reindex O(N²) (bench/README.md, "Fast
    seeding"). The seeder sizes both to N; the DC still passes dbcheck, starts, and serves
    every user, by an indexed attribute too."""
    dc = samba_dc_factory(start=False, users=20, large_group_size=0)
    n, groups = 1000, 10
    out = seed.bulk_seed_offline(dc, n, n_groups=groups, large_group_size=0, ou="OU=HashTest", prefix="ht")
    header = (dc.workdir / "private" / "sam.ldb.d" / f"{dc.base_dn.upper()}.ldb").read_bytes()[:0x28]
    assert header.startswith(b"TDB file")
    hash_size = struct.unpack_from("<I", header, 0x24)[0]
    assert hash_size >= 12 * (n + groups) and hash_size == out.get("tdb_hash_size")
    assert {"raw_write", "reindex", "index_commit"} <= set(out["phases"])
    check = subprocess.run(["samba-tool", "dbcheck", f"--configfile={dc.smb_conf}"], capture_output=True, text=True)
    assert check.returncode == 0 and "(0 errors)" in check.stdout, check.stdout + check.stderr
    dc.start()
    conn = dc.connect()
    try:
        found = [e for e in conn.extend.standard.paged_search(out["ou"], "(objectClass=user)", attributes=["cn"],
                                                               paged_size=500, generator=True)
                 if e.get("type") == "searchResEntry"]
        conn.search(dc.base_dn, "(sAMAccountName=ht-000777)", attributes=["cn"])
        by_name = [e["dn"] for e in conn.response if e.get("type") == "searchResEntry"]
    finally:
        conn.unbind()
    assert len(found) == n
    assert by_name == [f"CN=ht-000777,{out['ou']}"]

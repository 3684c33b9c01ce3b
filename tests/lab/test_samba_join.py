"""A second DC joined to a private lab DC replicates changes both ways within seconds."""

import time

import ldap3
import pytest

from hybridsync.engine.lab import seed

pytestmark = pytest.mark.samba


def _wait_for(conn, dn, timeout=45.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["objectGUID"])
            if conn.response:
                return True
        except ldap3.core.exceptions.LDAPNoSuchObjectResult:
            pass
        time.sleep(0.3)
    return False


@pytest.mark.slow
def test_a_joined_second_dc_replicates_changes_both_ways(samba_dc_factory, _samba_lab):
    dc1 = samba_dc_factory(users=20, large_group_size=0)
    dc2 = _samba_lab.track(dc1.join_second_dc(workdir=_samba_lab.scratch_dir() / "dc2"))
    assert dc2.address != dc1.address and dc2.tls_server_name == "DC2.lab.test"
    assert dc2.invocation_id() != dc1.invocation_id()
    c1, c2 = dc1.connect(), dc2.connect()
    try:
        one = seed.add_ou(c1, f"OU=Tests,{dc1.base_dn}", "made-on-dc1")
        assert _wait_for(c2, one), "a change on DC1 never reached DC2"
        two = seed.add_ou(c2, f"OU=Tests,{dc1.base_dn}", "made-on-dc2")
        assert _wait_for(c1, two), "a change on DC2 never reached DC1"
        assert seed.object_guid(c1, two) == seed.object_guid(c2, two)
    finally:
        c1.unbind()
        c2.unbind()

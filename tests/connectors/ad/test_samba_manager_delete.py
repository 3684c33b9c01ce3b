"""What AD (Samba) does to a report when its manager is deleted (issue 20): the report's
``manager`` link is removed, and the report carries NO change in the delta (DirSync nor USN), like
the groups of a deleted member (the member trap). The engine clears it itself
(``plan.reports``)."""

from __future__ import annotations

import ldap3
import pytest

from hybridsync.engine.lab import seed

from .conftest import everything
from .test_samba_delta import delta, start

pytestmark = pytest.mark.samba


def _manager(conn, dn):
    conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["manager", "uSNChanged"])
    entry = conn.entries[0]
    return list(entry.manager.values) if "manager" in entry else [], int(entry.uSNChanged.value)


@pytest.mark.parametrize("mode", ["dirsync", "usn"])
def test_deleting_a_manager_drops_the_reports_link_without_a_change_to_the_report(mode, samba_dc, ad_conn, ad_ou,
                                                                                  make_source):
    source = make_source(samba_dc, delta=mode, base_dn=ad_ou, attributes=("displayName", "manager"))
    tag = ad_ou[5:13]
    boss = seed.add_user(ad_conn, ad_ou, "Mgr Boss", sam=f"mb-{tag}")
    rep = seed.add_user(ad_conn, ad_ou, "Mgr Rep", sam=f"mr-{tag}")
    seed.set_attrs(ad_conn, rep, manager=boss)
    guid = {"boss": seed.object_guid(ad_conn, boss), "rep": seed.object_guid(ad_conn, rep)}
    cursor = start(source)
    linked, usn_before = _manager(ad_conn, rep)
    assert [v.lower() for v in linked] == [boss.lower()]

    seed.delete(ad_conn, boss)
    objs, cursor = delta(source, cursor)
    assert objs[guid["boss"]].deleted
    linked, usn_after = _manager(ad_conn, rep)
    print(f"PROBE {mode}: report manager after delete={linked!r} usn {usn_before}->{usn_after} "
          f"report in delta={guid['rep'] in objs} {objs.get(guid['rep'])!r}")
    assert linked == []  # AD removed the link ...
    assert guid["rep"] not in objs  # ... and the report is not in the delta
    assert usn_after == usn_before  # its uSNChanged did not move

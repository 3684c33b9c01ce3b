"""Seeding helpers edit the real DC as their names say (inside a per-test OU)."""

import ldap3
import pytest

from hybridsync.engine.lab import seed

pytestmark = pytest.mark.samba


def _attrs(conn, dn, *names):
    conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=list(names))
    return conn.response[0]["attributes"]  # no schema loaded: every value comes as a list


def test_a_user_with_every_special_character_keeps_its_guid_through_rename_and_move(ad_conn, ad_ou):
    dn = seed.add_user(ad_conn, ad_ou, 'Smith, "J" <x>;=+\\', sam="jsmith", mail="j@lab.test")
    guid = seed.object_guid(ad_conn, dn)
    renamed = seed.rename(ad_conn, dn, "Jo Smith")
    assert seed.object_guid(ad_conn, renamed) == guid
    sub = seed.add_ou(ad_conn, ad_ou, "Moved")
    moved = seed.move(ad_conn, renamed, sub)
    assert moved.lower() == f"cn=jo smith,{sub}".lower()
    assert seed.object_guid(ad_conn, moved) == guid
    seed.delete(ad_conn, moved)
    with pytest.raises(ldap3.core.exceptions.LDAPNoSuchObjectResult):
        seed.object_guid(ad_conn, moved)


def test_disable_enable_and_set_attrs_change_what_is_read_back(ad_conn, ad_ou):
    dn = seed.add_user(ad_conn, ad_ou, "Toggle", sam="toggle")
    seed.disable_user(ad_conn, dn)
    assert int(_attrs(ad_conn, dn, "userAccountControl")["userAccountControl"][0]) & seed.UF_ACCOUNTDISABLE
    seed.enable_user(ad_conn, dn)
    assert not int(_attrs(ad_conn, dn, "userAccountControl")["userAccountControl"][0]) & seed.UF_ACCOUNTDISABLE
    seed.set_attrs(ad_conn, dn, otherTelephone=["1", "2", "3"], title="Boss")
    got = _attrs(ad_conn, dn, "otherTelephone", "title")
    assert sorted(got["otherTelephone"]) == ["1", "2", "3"] and got["title"] == ["Boss"]
    seed.set_attrs(ad_conn, dn, title=None)
    assert not _attrs(ad_conn, dn, "title").get("title")


def test_group_membership_helpers_add_and_remove(ad_conn, ad_ou):
    users = [seed.add_user(ad_conn, ad_ou, f"M{i}", enabled=False) for i in range(3)]
    group = seed.add_group(ad_conn, ad_ou, "G", users[:2], scope="universal")
    seed.add_members(ad_conn, group, users[2:])
    seed.remove_members(ad_conn, group, users[:1])
    members = {m.lower() for m in _attrs(ad_conn, group, "member")["member"]}
    assert members == {u.lower() for u in users[1:]}


def test_a_plain_user_can_bind_but_cannot_write(samba_dc, ad_conn, ad_ou):
    dn = seed.add_plain_user(ad_conn, ad_ou, "Plain", "Plain-Passw0rd!x")
    conn = samba_dc.connect(dn, "Plain-Passw0rd!x")
    try:
        with pytest.raises(ldap3.core.exceptions.LDAPInsufficientAccessRightsResult):
            seed.add_ou(conn, ad_ou, "NotAllowed")
    finally:
        conn.unbind()

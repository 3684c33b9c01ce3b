"""The baseline lab directory: counts, odd values that must round-trip, nested groups with a
cycle, contacts in a group, and a large group whose members really come in ranges."""

import ldap3

from hybridsync.engine.lab import seed

import pytest

pytestmark = pytest.mark.samba


def _one(conn, dn, *attrs):
    conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=list(attrs))
    return conn.entries[0]


def _count(conn, base, flt):
    entries = conn.extend.standard.paged_search(base, flt, attributes=["objectGUID"], paged_size=1000, generator=True)
    return sum(1 for e in entries if e.get("type") == "searchResEntry")


def test_the_scope_ous_hold_exactly_the_requested_number_of_users(ad_conn, samba_seed):
    users = "(&(objectCategory=person)(objectClass=user))"
    total = sum(_count(ad_conn, samba_seed.ous[ou], users) for ou in ("Staff", "Contractors", "OutOfScope"))
    assert total == samba_seed.user_count == 200
    assert _count(ad_conn, samba_seed.ous["Sales"], users) > 0


def test_odd_values_round_trip_exactly(ad_conn, samba_seed):
    odd = samba_seed.odd_users
    zoe = _one(ad_conn, odd["unicode"], "cn", "givenName", "sn", "displayName")
    assert (zoe.cn.value, zoe.givenName.value, zoe.sn.value) == ("Zoë Ångström", "Zoë", "Ångström")
    assert zoe.displayName.value == "Zoë Ångström 🌍"
    special = _one(ad_conn, odd["special_cn"], "cn", "sn")
    assert special.cn.value == seed.ODD_CN
    assert all(ch in special.cn.value for ch in ',+"\\<>;=')
    assert special.sn.value == 'Ch"ars\\'
    assert "mail" not in _one(ad_conn, odd["no_mail"], "mail").entry_attributes_as_dict or \
        not _one(ad_conn, odd["no_mail"], "mail").mail.values
    long_display = _one(ad_conn, odd["long_display"], "displayName").displayName.value
    assert len(long_display) == 256
    uac = int(_one(ad_conn, odd["disabled"], "userAccountControl").userAccountControl.value)
    assert uac & seed.UF_ACCOUNTDISABLE
    phones = _one(ad_conn, odd["multi_phone"], "otherTelephone").otherTelephone.values
    assert sorted(phones) == ["+1 555 0101", "+1 555 0102"]


def test_groups_nest_and_c_and_d_form_a_cycle(ad_conn, samba_seed):
    g = samba_seed.groups
    members = lambda dn: {m.lower() for m in _one(ad_conn, dn, "member").member.values}  # noqa: E731
    assert g["B"].lower() in members(g["A"])
    assert len(members(g["B"])) == 10
    assert g["D"].lower() in members(g["C"]) and g["C"].lower() in members(g["D"])


def test_contacts_are_contacts_and_sit_in_a_group(ad_conn, samba_seed):
    assert len(samba_seed.contacts) == 3
    for dn in samba_seed.contacts:
        assert "contact" in [c.lower() for c in _one(ad_conn, dn, "objectClass").objectClass.values]
    in_group = {m.lower() for m in _one(ad_conn, samba_seed.groups["Contacts"], "member").member.values}
    assert {c.lower() for c in samba_seed.contacts} <= in_group


def test_the_large_group_serves_its_members_in_ranges_of_at_most_1000(samba_dc, samba_seed):
    conn = samba_dc.connect(auto_range=False, return_empty_attributes=False)
    try:
        collected, low = [], 0
        while True:
            conn.search(samba_seed.large_group, "(objectClass=group)", search_scope=ldap3.BASE,
                        attributes=[f"member;range={low}-{low + 999}"])
            raw = conn.response[0]["raw_attributes"]
            (key,) = [k for k in raw if k.lower().startswith("member;range=")]
            assert len(raw[key]) <= 1000
            collected.extend(raw[key])
            if key.endswith("-*"):
                break
            low = int(key.rsplit("-", 1)[1]) + 1
        assert low >= 1000, "the first answer must be a partial range, not the whole attribute"
    finally:
        conn.unbind()
    assert len(collected) == len(set(collected)) >= 5000 == samba_seed.large_group_members


def test_ldap3_auto_range_merges_all_large_group_members(ad_conn, samba_seed):
    entry = _one(ad_conn, samba_seed.large_group, "member")
    assert len(entry.member.values) >= 5000

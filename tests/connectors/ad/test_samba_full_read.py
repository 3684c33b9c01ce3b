"""Full reads, one-object reads, ranged members, TLS, failover and secrets against a real Samba DC."""

from __future__ import annotations

import base64
import uuid

import ldap3
import pytest

from hybridsync.connectors.ad import query
from hybridsync.engine.core.errors import Permanent, Retriable
from hybridsync.engine.lab import seed
from hybridsync.engine.core.values import DirSyncCookie, ObjectKind, ReadMode, Refresh, SourceObjectError, UsnWatermark

from .conftest import everything

pytestmark = pytest.mark.samba


def test_full_read_streams_pages_of_users_groups_and_contacts_with_odd_values(samba_dc, samba_seed, ad_conn, make_source):
    source = make_source(samba_dc, page_size=500, member_range=1000)
    objs, errs, batches = everything(source.read(Refresh("first run")))
    assert errs == []
    assert len(batches) > 2 and all(len(b.objects) <= 500 for b in batches)
    assert all(b.mode is ReadMode.FULL for b in batches)
    assert all(isinstance(b.cursor, Refresh) and not b.last and not b.complete for b in batches[:-1])
    final = batches[-1]
    assert final.last and final.complete and isinstance(final.cursor, DirSyncCookie) and final.cursor.cookie
    assert final.cursor.dc_invocation_id == samba_dc.invocation_id() == final.dc.invocation_id
    assert final.dc.url == samba_dc.ldaps_url and final.dc.host.lower().startswith(samba_dc.server_name.lower())

    def get(dn):  # the seed's DNs are escaped differently from Samba's (\; vs \3B): go by GUID
        return objs[seed.object_guid(ad_conn, dn)]

    for dn in samba_seed.users:
        assert get(dn).kind is ObjectKind.USER, dn
    zoe = get(samba_seed.odd_users["unicode"])
    assert zoe.first("displayName") == "Zoë Ångström 🌍"
    odd = get(samba_seed.odd_users["special_cn"])
    assert odd.first("cn") == seed.ODD_CN and odd.first("displayName") == seed.ODD_CN
    assert get(samba_seed.odd_users["long_display"]).first("displayName") == seed.LONG_DISPLAY
    assert get(samba_seed.odd_users["no_mail"]).get("mail") == ()
    assert get(samba_seed.odd_users["disabled"]).disabled
    assert sorted(get(samba_seed.odd_users["multi_phone"]).get("otherTelephone")) == ["+1 555 0101", "+1 555 0102"]
    for dn in samba_seed.contacts:
        assert get(dn).kind is ObjectKind.CONTACT
    group_a = get(samba_seed.groups["A"])
    assert group_a.kind is ObjectKind.GROUP
    assert group_a.members == {get(samba_seed.groups["B"]).object_guid, get(samba_seed.users[0]).object_guid}
    assert get(samba_seed.groups["Empty"]).members == frozenset()
    large = get(samba_seed.large_group)
    large_members = {o.object_guid for o in objs.values() if o.dn.lower().endswith(samba_seed.ous["LargeMembers"].lower())}
    assert len(large.members) == samba_seed.large_group_members >= 5000
    assert large.members == large_members
    assert all(o.anchor and o.object_guid and o.usn for o in objs.values())
    assert not any(o.kind is None for o in objs.values())


def test_usn_mode_full_read_ends_with_the_watermark_read_at_the_start(samba_dc, make_source, ad_conn, ad_ou):
    source = make_source(samba_dc, delta="usn", base_dn=ad_ou)
    before = samba_dc.highest_usn()
    seed.add_user(ad_conn, ad_ou, "usn-start")
    objs, errs, batches = everything(source.read(Refresh("")))
    final = batches[-1]
    assert isinstance(final.cursor, UsnWatermark) and final.complete
    assert final.cursor.usn >= before + 1 and final.cursor.dc_invocation_id == samba_dc.invocation_id()
    assert [o.first("cn") for o in objs.values()] == ["usn-start"]


def test_ranged_members_are_followed_to_the_end_for_the_5000_member_group(samba_dc, samba_seed, make_source):
    source = make_source(samba_dc, member_range=999)
    large = source.read_object(samba_seed.large_group)
    assert large.kind is ObjectKind.GROUP and len(large.members) == samba_seed.large_group_members
    whole = make_source(samba_dc).read_object(samba_seed.large_group)  # Samba answers all values unasked
    assert whole.members == large.members


def test_a_ranged_read_failing_midway_fails_the_group_instead_of_truncating_it(samba_dc, ad_conn, ad_ou, make_source):
    users = [seed.add_user(ad_conn, ad_ou, f"rm{i}") for i in range(5)]
    group = seed.add_group(ad_conn, ad_ou, "ranged-then-deleted", users)
    source = make_source(samba_dc, member_range=2, base_dn=ad_ou)
    source.read_object(group)  # connect
    found = source._search("read", group, "(objectClass=*)", ldap3.BASE,
                           attributes=list(query.with_member_range(source.attributes, 2)), controls=[query.extended_dn()])
    assert any(k.startswith("member;range=0-1") for k in found[0]["raw_attributes"])
    seed.delete(ad_conn, group)  # the follow-up range reads now fail on the server
    objects, errs = source._normalize_page(found, partial=False)
    assert objects == ()
    assert len(errs) == 1 and isinstance(errs[0], SourceObjectError)
    assert errs[0].attribute == "member" and "ranged-then-deleted" in errs[0].dn
    assert errs[0].object_guid and "gone" in errs[0].message


def test_read_object_finds_by_guid_text_and_base64_dn_sam_and_upn(samba_dc, samba_seed, ad_conn, make_source):
    source = make_source(samba_dc)
    dn = samba_seed.odd_users["special_cn"]
    guid_b64 = seed.object_guid(ad_conn, dn)
    guid_text = str(uuid.UUID(bytes_le=base64.b64decode(guid_b64)))
    for ref in (guid_b64, guid_text, "{" + guid_text + "}", dn, "odd.chars", f"odd.chars@{samba_dc.dns_domain}"):
        found = source.read_object(ref)
        assert found is not None and found.object_guid == guid_b64, ref
    assert source.read_object("no-such-user*)(cn=*") is None
    assert source.read_object(f"CN=nobody,{samba_dc.base_dn}") is None
    assert source.read_object(base64.b64encode(uuid.uuid4().bytes_le).decode()) is None


def test_describe_reports_mode_privilege_dc_and_visible_deletions(samba_dc, make_source):
    info = make_source(samba_dc).describe()
    assert info["delta"] == "dirsync" and info["privilege"] == "replication"
    assert info["deletions_visible"] is True
    assert info["dc"]["invocation_id"] == samba_dc.invocation_id() and info["dc"]["url"] == samba_dc.ldaps_url
    assert samba_dc.admin_password not in repr(info)


def test_failover_skips_a_dead_dc_in_url_order_and_names_the_dc_that_served(samba_dc, make_source):
    dead = "ldaps://127.0.0.1:1"
    source = make_source(samba_dc, urls=(dead, samba_dc.ldaps_url), delta="usn")
    batch = next(iter(source.read(Refresh(""))))
    assert batch.dc.url == samba_dc.ldaps_url
    nowhere = make_source(samba_dc, urls=(dead, "ldaps://127.0.0.1:2"))
    with pytest.raises(Retriable) as err:
        list(nowhere.read(Refresh("")))
    assert "127.0.0.1:1" in str(err.value) and "127.0.0.1:2" in str(err.value)


def test_wrong_password_and_untrusted_certificate_are_terminal_and_never_show_the_secret(samba_dc, make_source):
    secret = "Wrong-Pa55word-" + uuid.uuid4().hex
    with pytest.raises(Permanent) as err:
        list(make_source(samba_dc, password=secret).read(Refresh("")))
    assert "invalid credentials" in str(err.value) and secret not in str(err.value)
    with pytest.raises(Permanent) as err:
        list(make_source(samba_dc, tls_server_name="not-the-dc.lab.test").read(Refresh("")))
    assert "certificate" in str(err.value).lower() and samba_dc.admin_password not in str(err.value)
    with pytest.raises(Permanent):
        list(make_source(samba_dc, ca_file=None).read(Refresh("")))


def test_a_full_read_that_fails_midway_raises_instead_of_ending_quietly(samba_dc_factory, make_source):
    dc = samba_dc_factory()
    source = make_source(dc, page_size=100)
    batches = source.read(Refresh(""))
    first = next(batches)
    assert not first.last and not first.complete
    dc.stop()
    try:
        with pytest.raises(Retriable):
            for _ in batches:
                pass
    finally:
        dc.start()


def test_an_ldap_url_is_upgraded_with_starttls_before_the_bind(samba_dc, samba_seed, make_source):
    source = make_source(samba_dc, urls=(samba_dc.ldap_url,), delta="usn", base_dn=samba_seed.ous["Groups"])
    objs, errs, batches = everything(source.read(Refresh("")))
    assert errs == [] and batches[-1].complete and batches[-1].dc.url == samba_dc.ldap_url
    assert {o.kind for o in objs.values()} == {ObjectKind.GROUP}
    assert source._conn.tls_started and not source._conn.server.ssl


def test_lookup_guid_is_a_base_search_by_guid_that_finds_live_objects_anywhere_and_not_deleted_ones(
        samba_dc, ad_conn, ad_ou, make_source):
    dn = seed.add_user(ad_conn, ad_ou, "lookup-me")
    guid_b64 = seed.object_guid(ad_conn, dn)
    source = make_source(samba_dc, base_dn=ad_ou)
    found = source.lookup_guid(guid_b64)
    assert found is not None and found.object_guid == guid_b64 and not found.deleted
    seed.delete(ad_conn, dn)
    assert source.lookup_guid(guid_b64) is None  # the tombstone is not "present"
    assert source.lookup_guid(base64.b64encode(uuid.uuid4().bytes_le).decode()) is None

"""DirSync and USN deltas against a real Samba DC: every kind of AD edit arrives, exactly once."""

from __future__ import annotations

import pytest

from hybridsync.engine.lab import seed
from hybridsync.engine.core.values import DirSyncCookie, ObjectKind, ReadMode, Refresh, UsnWatermark

from .conftest import everything

pytestmark = pytest.mark.samba


def start(source):
    """A full read of the test's OU; returns the cursor to continue from."""
    _, errs, batches = everything(source.read(Refresh("test start")))
    assert errs == [] and batches[-1].complete
    return batches[-1].cursor


def delta(source, cursor):
    objs, errs, batches = everything(source.read(cursor))
    assert errs == []
    assert batches[-1].last and all(b.mode is ReadMode.DELTA for b in batches)
    assert not any(isinstance(b.cursor, Refresh) for b in batches)
    return objs, batches[-1].cursor


@pytest.mark.parametrize("mode", ["dirsync", "usn"])
def test_create_modify_rename_move_disable_delete_and_membership_arrive_as_deltas(mode, samba_dc, ad_conn, ad_ou, make_source):
    source = make_source(samba_dc, delta=mode, base_dn=ad_ou)
    a = seed.add_user(ad_conn, ad_ou, "Delta A", sam=f"da-{ad_ou[5:13]}", upn=f"da-{ad_ou[5:13]}@lab.test", display="A")
    b = seed.add_user(ad_conn, ad_ou, "Delta B", sam=f"db-{ad_ou[5:13]}", display="B")
    gone = seed.add_user(ad_conn, ad_ou, "Delta Gone", sam=f"dg-{ad_ou[5:13]}")
    group = seed.add_group(ad_conn, ad_ou, "Delta Group", [a])
    guid = {name: seed.object_guid(ad_conn, dn) for name, dn in (("a", a), ("b", b), ("gone", gone), ("group", group))}
    cursor = start(source)
    assert isinstance(cursor, DirSyncCookie if mode == "dirsync" else UsnWatermark)

    # nothing changed: an empty delta with a usable cursor, never a refresh
    objs, cursor = delta(source, cursor)
    assert not set(guid.values()) & set(objs)

    # create
    c = seed.add_user(ad_conn, ad_ou, "Delta C", sam=f"dc-{ad_ou[5:13]}", display="C", mail="c@example.org")
    guid["c"] = seed.object_guid(ad_conn, c)
    objs, cursor = delta(source, cursor)
    created = objs[guid["c"]]
    assert created.kind is ObjectKind.USER and created.first("displayName") == "C" and created.dn == c
    assert not set(objs) & {guid["a"], guid["b"], guid["group"]}

    # modify, disable, member add + remove
    seed.set_attrs(ad_conn, a, displayName="A2")
    seed.disable_user(ad_conn, b)
    seed.add_members(ad_conn, group, [b])
    seed.remove_members(ad_conn, group, [a])
    objs, cursor = delta(source, cursor)
    assert objs[guid["a"]].first("displayName") == "A2"
    assert objs[guid["b"]].disabled
    g = objs[guid["group"]]
    if mode == "dirsync":
        assert g.partial and g.members is None
        assert g.members_added == {guid["b"]} and g.members_removed == {guid["a"]}
    else:
        assert not g.partial and g.members == {guid["b"]} and g.kind is ObjectKind.GROUP

    # rename and move keep the anchor, change the DN
    sub = seed.add_ou(ad_conn, ad_ou, "Moved")
    renamed = seed.rename(ad_conn, a, "Delta A Renamed")
    moved = seed.move(ad_conn, c, sub)
    objs, cursor = delta(source, cursor)
    assert objs[guid["a"]].dn == renamed and objs[guid["a"]].anchor == guid["a"]
    assert objs[guid["c"]].dn == moved and objs[guid["c"]].anchor == guid["c"]

    # delete: a tombstone
    seed.delete(ad_conn, gone)
    objs, cursor = delta(source, cursor)
    tomb = objs[guid["gone"]]
    assert tomb.deleted and "\\0ADEL:" in tomb.dn and tomb.object_guid == guid["gone"]
    if mode == "dirsync":
        assert tomb.kind is None  # Samba's DirSync tombstone carries no objectClass
    else:
        assert tomb.kind is ObjectKind.USER

    # and then quiet again
    objs, _ = delta(source, cursor)
    assert not set(guid.values()) & set(objs)


def test_a_rejected_dirsync_cookie_answers_with_one_refresh_batch(samba_dc, make_source, ad_ou):
    source = make_source(samba_dc, base_dn=ad_ou)
    cursor = start(source)
    broken = DirSyncCookie(b"garbage" + cursor.cookie[7:20], cursor.dc_invocation_id)
    (batch,) = list(source.read(broken))
    assert isinstance(batch.cursor, Refresh) and "rejected" in batch.cursor.reason
    assert batch.objects == () and batch.last and not batch.complete
    assert source.describe()["last_refresh_reason"] == batch.cursor.reason


def test_a_usn_watermark_above_the_dcs_highest_usn_answers_with_refresh(samba_dc, make_source, ad_ou):
    source = make_source(samba_dc, delta="usn", base_dn=ad_ou)
    cursor = start(source)
    (batch,) = list(source.read(UsnWatermark(cursor.dc_invocation_id, samba_dc.highest_usn() + 1000)))
    assert isinstance(batch.cursor, Refresh) and "highestCommittedUSN" in batch.cursor.reason
    (batch,) = list(source.read(cursor))  # the delta mode's own cursor from the other mode is refused too
    assert isinstance(batch.cursor, UsnWatermark)
    (batch,) = list(source.read(DirSyncCookie(b"MSDS", cursor.dc_invocation_id)))
    assert isinstance(batch.cursor, Refresh) and "usn" in batch.cursor.reason


def _count_searches(conn, monkeypatch):
    made: list[str] = []
    search = conn.search

    def counting(base, *args, **kwargs):
        made.append(base)
        return search(base, *args, **kwargs)

    monkeypatch.setattr(conn, "search", counting)
    return made


def test_a_delta_costs_one_rootdse_read_and_describe_after_it_asks_the_dc_nothing(samba_dc, ad_conn, ad_ou,
                                                                                    make_source, monkeypatch):
    """The engine asks ``describe()`` after every cycle: it used to re-read rootDSE and the
    invocationId (two more LDAP round trips per cycle, issue 17's P3)."""
    source = make_source(samba_dc, base_dn=ad_ou)
    cursor = start(source)
    made = _count_searches(source._conn, monkeypatch)
    objs, cursor = delta(source, cursor)  # nothing changed (the idle poll)
    assert made[0] == "" and len(made) == 3  # rootDSE, the DSA's invocationId, one DirSync round
    del made[:]
    user = seed.add_user(ad_conn, ad_ou, "Cost One", sam=f"c1-{ad_ou[5:13]}")
    objs, cursor = delta(source, cursor)
    assert seed.object_guid(ad_conn, user) in objs
    # ... and a page with objects one more: their whenChanged (DirSync never returns it: ad.changed)
    assert made[0] == "" and len(made) == 4 and made[3] == source.naming_context
    del made[:]
    info = source.describe()
    assert made == []
    assert info["dc"]["invocation_id"] == cursor.dc_invocation_id and info["privilege"] == "replication"
    source.close()  # no open connection: describe() reads the DC's identity itself
    fresh = source.describe()
    assert fresh["dc"]["invocation_id"] == cursor.dc_invocation_id

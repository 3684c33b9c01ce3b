"""Normalization of LDAP entries into SourceObjects: golden Samba pages and generated entries."""

import base64
import json
import uuid
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from hybridsync.connectors.ad.normalize import (
    RawEntry,
    from_ldap_entry,
    range_of,
    sid_to_text,
    split_extended_dn,
)
from hybridsync.engine.core.values import ObjectKind, SourceObject, SourceObjectError

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def page(name: str) -> list[RawEntry]:
    return [RawEntry.from_json(e) for e in json.loads((SAMPLES / name).read_text())["entries"]]


def by_cn(objs, cn):
    return next(o for o in objs if o.dn.startswith(f"CN={cn},") or o.dn.startswith(f"CN={cn}\\0ADEL"))


def guid_of(entry: RawEntry) -> str:
    return base64.b64encode(entry.raw["objectGUID"][0]).decode()


def test_full_read_page_with_odd_values_normalizes_users_groups_and_contacts():
    objs = [from_ldap_entry(e) for e in page("samba-fullread-odd-page-1.json")]
    ok = [o for o in objs if isinstance(o, SourceObject)]
    odd = next(o for o in ok if o.first("sAMAccountName") == "oddone")
    assert odd.kind is ObjectKind.USER
    assert odd.first("displayName") == "D" * 256
    assert "Zoë 日本" in odd.first("cn") and odd.first("cn").startswith('Odd, +"\\<>;=')
    assert not odd.dn.startswith("<GUID=")
    assert odd.first("objectSid").startswith("S-1-5-21-")
    assert odd.anchor == odd.object_guid == odd.first("objectGUID")
    assert all(not v.startswith("<") for v in odd.get("memberOf"))
    noupn = by_cn(ok, "noupn")
    assert noupn.get("userPrincipalName") == () and noupn.kind is ObjectKind.USER
    multi = by_cn(ok, "multi")
    assert sorted(multi.get("otherTelephone")) == ["1", "2"]
    assert by_cn(ok, "ct1").kind is ObjectKind.CONTACT
    assert by_cn(ok, "ct1").members is None
    gbig = by_cn(ok, "gbig")
    assert gbig.kind is ObjectKind.GROUP and gbig.members == frozenset()
    assert all(o.usn and o.usn > 0 and not o.partial and not o.deleted for o in ok)


def test_a_ranged_member_page_is_an_error_unless_the_rest_of_the_range_is_supplied():
    entry = next(e for e in page("samba-fullread-odd-page-1.json") if any(k.startswith("member;") for k in e.raw))
    result = from_ldap_entry(entry)
    assert isinstance(result, SourceObjectError)
    assert result.attribute == "member;range=0-1" and "gsmall" in result.dn
    first = entry.raw["member;range=0-1"]
    whole = from_ldap_entry(entry, complete_members=first)
    assert isinstance(whole, SourceObject) and len(whole.members) == 2


def test_dirsync_incremental_page_gives_member_adds_removes_rename_move_and_disable_as_partials():
    entries = page("samba-dirsync-incremental-page-1.json")
    objs = [from_ldap_entry(e, partial=True) for e in entries]
    assert all(isinstance(o, SourceObject) and o.partial and o.kind is None for o in objs)
    group = by_cn(objs, "ds-g")
    assert len(group.members_added) == 1 and len(group.members_removed) == 1
    assert group.members is None and group.members_added.isdisjoint(group.members_removed)
    renamed = by_cn(objs, "ds-u1-renamed")
    assert renamed.first("name") == "ds-u1-renamed"
    assert group.members_removed == {renamed.object_guid}
    moved = by_cn(objs, "ct1")
    assert moved.dn == "CN=ct1,CN=Users,DC=lab,DC=test"
    disabled = by_cn(objs, "ds-u2")
    assert disabled.disabled and set(disabled.attributes) == {"objectguid", "instancetype", "useraccountcontrol"}
    assert group.members_added == {disabled.object_guid}


def test_tombstones_are_deleted_and_cleared_attributes_become_empty():
    (entry,) = page("samba-dirsync-tombstone-page-1.json")
    tomb = from_ldap_entry(entry, partial=True)
    assert tomb.deleted and tomb.kind is None
    assert tomb.anchor == tomb.object_guid == guid_of(entry)
    assert tomb.get("objectCategory") == () and "objectcategory" in tomb.attributes
    assert "\\0ADEL:" in tomb.dn and tomb.first("lastKnownParent") == "OU=odd,DC=lab,DC=test"
    usn_tombs = [from_ldap_entry(e) for e in page("samba-usn-tombstones-page-1.json")]
    assert usn_tombs and all(t.deleted and t.kind in (ObjectKind.USER, ObjectKind.GROUP) for t in usn_tombs)


def test_consistency_guid_is_the_anchor_when_set():
    guid, cons = uuid.uuid4().bytes_le, uuid.uuid4().bytes_le
    obj = from_ldap_entry(RawEntry("CN=a,DC=x", {"objectGUID": [guid], "mS-DS-ConsistencyGuid": [cons],
                                                 "objectClass": [b"top", b"group"]}))
    assert obj.anchor == base64.b64encode(cons).decode() and obj.object_guid == base64.b64encode(guid).decode()


def test_sid_and_extended_dn_and_range_helpers():
    raw = bytes([1, 5, 0, 0, 0, 0, 0, 5]) + b"".join(x.to_bytes(4, "little") for x in (21, 1, 2, 3, 1104))
    assert sid_to_text(raw) == "S-1-5-21-1-2-3-1104"
    parts, dn = split_extended_dn("<GUID=ab>;<SID=S-1-5>;CN=a\\;b,DC=x")
    assert parts == {"GUID": "ab", "SID": "S-1-5"} and dn == "CN=a\\;b,DC=x"
    assert range_of("member;range=0-999") == (0, 999) and range_of("Member;Range=1000-*") == (1000, None)
    assert range_of("member") is None


# ---- generated entries ---------------------------------------------------------------------

text_values = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
attr_names = st.sampled_from(["displayName", "givenName", "sn", "mail", "title", "department", "description",
                              "telephoneNumber", "employeeNumber", "extensionAttribute1"])
kinds = st.sampled_from([
    ([b"top", b"person", b"organizationalPerson", b"user"], b"CN=Person,CN=Schema,CN=Configuration,DC=x"),
    ([b"top", b"group"], b"CN=Group,CN=Schema,CN=Configuration,DC=x"),
    ([b"top", b"person", b"organizationalPerson", b"contact"], b"CN=Person,CN=Schema,CN=Configuration,DC=x"),
    ([b"top", b"person", b"organizationalPerson", b"user", b"computer"], b"CN=Computer,CN=Schema,CN=Configuration,DC=x"),
])
guids = st.binary(min_size=16, max_size=16)


@st.composite
def entries(draw):
    classes, category = draw(kinds)
    guid = draw(guids)
    cn = draw(st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40))
    raw = {"objectGUID": [guid], "objectClass": classes,
           "objectCategory": [b"<GUID=" + str(uuid.uuid4()).encode() + b">;" + category],
           "uSNChanged": [str(draw(st.integers(1, 2**40))).encode()]}
    texts = draw(st.dictionaries(attr_names, st.lists(text_values, min_size=1, max_size=3), max_size=5))
    for name, values in texts.items():
        raw[name] = [v.encode() for v in values]
    bad = draw(st.one_of(st.none(), st.sampled_from(["displayName", "title"])))
    if bad:
        raw[bad] = [draw(st.binary(min_size=1, max_size=20)).rstrip(b"\x00") + b"\xff\xfe"]
    if draw(st.booleans()):
        raw["mS-DS-ConsistencyGuid"] = [draw(guids)]
    members = draw(st.lists(st.uuids(), max_size=5, unique=True)) if b"group" in classes else []
    if members:
        raw["member"] = [f"<GUID={m}>;<SID=S-1-5-21-1-{i}>;CN=m{i},DC=x".encode() for i, m in enumerate(members)]
    dn = "CN=" + cn.replace("\\", "\\\\").replace(",", "\\,") + ",DC=x"
    return RawEntry(f"<GUID={uuid.UUID(bytes_le=guid)}>;{dn}", raw), dn, texts, bad, members


@given(entries())
def test_generated_entries_normalize_or_name_the_bad_attribute(drawn):
    entry, dn, texts, bad, members = drawn
    result = from_ldap_entry(entry)
    classes = {c.lower() for c in entry.raw["objectClass"]}
    if b"computer" in classes:
        assert result is None
        return
    if bad:
        assert isinstance(result, SourceObjectError)
        assert result.dn == dn and result.attribute == bad and "UTF-8" in result.message
        return
    assert isinstance(result, SourceObject)
    assert result.dn == dn
    for name, values in texts.items():
        assert result.get(name) == tuple(values)
        assert name.lower() in result.attributes
    expected_anchor = entry.raw.get("mS-DS-ConsistencyGuid", entry.raw["objectGUID"])[0]
    assert result.anchor == base64.b64encode(expected_anchor).decode()
    assert result.usn == int(entry.raw["uSNChanged"][0])
    if result.kind is ObjectKind.GROUP:
        assert result.members == {base64.b64encode(m.bytes_le).decode() for m in members}
    else:
        assert result.members is None
    assert not result.first("objectCategory").startswith("<")


def test_a_dirsync_incremental_manager_change_is_the_manager_attribute():
    """DirSync with incremental values sends ``manager;range=1-1`` (the new value) and
    ``manager;range=0-0`` (the old one), as Samba does: the held value is ``manager``, a removal
    alone clears it (it used to be stored as ``manager;range=1-1`` and never reached a target)."""
    guid = uuid.uuid4().bytes_le
    new = b"<GUID=6ada3a11-9873-4970-a00d-94261df60636>;<SID=S-1-5-21-1-2-3-6311>;CN=Boss,OU=Staff,DC=lab,DC=test"
    old = b"<GUID=7ada3a11-9873-4970-a00d-94261df60636>;<SID=S-1-5-21-1-2-3-6312>;CN=Old,OU=Staff,DC=lab,DC=test"
    changed = from_ldap_entry(RawEntry("CN=u1,OU=Staff,DC=lab,DC=test", {
        "objectGUID": [guid], "manager;range=1-1": [new], "manager;range=0-0": [old]}), partial=True)
    assert changed.attributes["manager"] == ("CN=Boss,OU=Staff,DC=lab,DC=test",)
    assert not [k for k in changed.attributes if ";" in k]
    cleared = from_ldap_entry(RawEntry("CN=u1,OU=Staff,DC=lab,DC=test", {
        "objectGUID": [guid], "manager;range=0-0": [old]}), partial=True)
    assert cleared.attributes["manager"] == ()

"""engine.merge: partial DirSync deltas merged with the stored state into whole objects."""

from hypothesis import given, strategies as st

from hybridsync.engine.plan.merge import merge, to_state
from hybridsync.engine.core.values import ObjectKind, ObjectState, SourceObject


def stored_user(**attrs):
    base = {"userprincipalname": ("a@lab.test",), "givenname": ("Ann",), "sn": ("Lee",)}
    base.update(attrs)
    return ObjectState(source="corp", anchor="AAA=", object_guid="AAA=", kind=ObjectKind.USER,
                       dn="CN=Ann,OU=Staff,DC=lab,DC=test", attributes=base, usn=10)


def test_partial_delta_keeps_unchanged_attributes_and_replaces_changed_ones():
    seen = SourceObject(anchor="AAA=", object_guid="AAA=", kind=ObjectKind.USER,
                        dn="CN=Ann,OU=Staff,DC=lab,DC=test", attributes={"sn": ("Smith",)}, partial=True, usn=11)
    m = merge(stored_user(), seen)
    assert m.obj.first("sn") == "Smith"
    assert m.obj.first("givenName") == "Ann"
    assert m.obj.usn == 11 and not m.obj.partial
    assert m.changed == ("sn",)


def test_cleared_attribute_in_a_delta_removes_it():
    seen = SourceObject(anchor="AAA=", object_guid="AAA=", kind=ObjectKind.USER, dn="CN=Ann,OU=Staff,DC=lab,DC=test",
                        attributes={"givenname": ()}, partial=True)
    assert merge(stored_user(), seen).obj.get("givenName") == ()


def test_tombstone_without_kind_takes_kind_anchor_and_dn_from_the_store():
    stored = ObjectState(source="corp", anchor="CONSISTENCY=", object_guid="GUID=", kind=ObjectKind.GROUP,
                         dn="CN=G,OU=Staff,DC=lab,DC=test", members=frozenset({"X="}))
    seen = SourceObject(anchor="GUID=", object_guid="GUID=", kind=None, dn="CN=G\\0ADEL:x,CN=Deleted Objects",
                        deleted=True, partial=True)
    m = merge(stored, seen)
    assert m.obj.kind == ObjectKind.GROUP and m.obj.anchor == "CONSISTENCY=" and m.obj.deleted
    assert m.obj.dn == "CN=G,OU=Staff,DC=lab,DC=test"


def test_tombstone_of_an_object_never_seen_is_reported_not_planned():
    seen = SourceObject(anchor="Z=", object_guid="Z=", kind=None, dn="x", deleted=True, partial=True)
    m = merge(None, seen)
    assert m.obj is None and "never seen" in m.problem


def test_rename_changes_dn_only():
    seen = SourceObject(anchor="AAA=", object_guid="AAA=", kind=ObjectKind.USER, dn="CN=Ann,OU=Other,DC=lab,DC=test",
                        partial=True)
    m = merge(stored_user(), seen)
    assert m.obj.dn.startswith("CN=Ann,OU=Other") and m.changed == ("dn",)


def group(members):
    return ObjectState(source="corp", anchor="G=", object_guid="G=", kind=ObjectKind.GROUP, dn="CN=G,DC=lab,DC=test",
                       attributes={"cn": ("G",)}, members=frozenset(members))


@given(st.sets(st.sampled_from("abcdefgh")), st.sets(st.sampled_from("abcdefgh")),
       st.sets(st.sampled_from("abcdefgh")))
def test_incremental_member_values_apply_on_the_stored_member_set(start, added, removed):
    added = added - removed
    seen = SourceObject(anchor="G=", object_guid="G=", kind=ObjectKind.GROUP, dn="CN=G,DC=lab,DC=test",
                        members_added=frozenset(added), members_removed=frozenset(removed), partial=True)
    m = merge(group(start), seen)
    assert m.obj.members == frozenset((start | added) - removed)
    assert ("members" in m.changed) == (m.obj.members != frozenset(start))


def test_full_read_member_list_replaces_the_stored_one():
    seen = SourceObject(anchor="G=", object_guid="G=", kind=ObjectKind.GROUP, dn="CN=G,DC=lab,DC=test",
                        attributes={"cn": ("G",)}, members=frozenset({"q"}))
    assert merge(group({"a", "b"}), seen).obj.members == frozenset({"q"})


def test_a_new_object_seen_for_the_first_time_is_marked_created_and_stored_whole():
    seen = SourceObject(anchor="N=", object_guid="N=", kind=ObjectKind.USER, dn="CN=N,DC=lab,DC=test",
                        attributes={"cn": ("N",)})
    m = merge(None, seen)
    assert m.changed == ("created",)
    st_ = to_state("corp", m.obj, round_no=3)
    assert st_.last_seen_round == 3 and st_.attributes["cn"] == ("N",)


# --- issue 16 (1): attributes AD derives from the RDN follow the DN ---------------------------------

def stored_group(**attrs):
    base = {"cn": ("Old Name",), "name": ("Old Name",), "samaccountname": ("grp1",)}
    base.update(attrs)
    return ObjectState(source="corp", anchor="GGG=", object_guid="GGG=", kind=ObjectKind.GROUP,
                       dn="CN=Old Name,OU=Groups,DC=lab,DC=test", attributes=base, usn=10)


def test_rename_delta_without_cn_recomputes_cn_and_name_from_the_new_dn():
    # DirSync reports a rename as the new DN + name + parentGUID, without cn
    seen = SourceObject(anchor="GGG=", object_guid="GGG=", kind=None, dn="CN=New\\, Name,OU=Groups,DC=lab,DC=test",
                        attributes={"name": ("New, Name",), "parentguid": ("PPP=",)}, partial=True, usn=12)
    m = merge(stored_group(), seen)
    assert m.obj.first("cn") == "New, Name"
    assert m.obj.first("name") == "New, Name"
    assert "cn" in m.changed and "dn" in m.changed


def test_move_without_any_name_attribute_keeps_the_rdn_values_from_the_dn():
    seen = SourceObject(anchor="GGG=", object_guid="GGG=", kind=None, dn="CN=Old Name,OU=Elsewhere,DC=lab,DC=test",
                        attributes={"parentguid": ("QQQ=",)}, partial=True, usn=13)
    m = merge(stored_group(cn=("stale",), name=("stale",)), seen)
    assert m.obj.first("cn") == "Old Name" and m.obj.first("name") == "Old Name"


def test_usn_mode_full_record_without_cn_takes_it_from_the_dn():
    seen = SourceObject(anchor="GGG=", object_guid="GGG=", kind=ObjectKind.GROUP, dn="CN=Fresh,OU=Groups,DC=lab,DC=test",
                        attributes={"samaccountname": ("grp1",)}, members=frozenset(), usn=14)
    m = merge(stored_group(), seen)
    assert m.obj.first("cn") == "Fresh" and m.obj.first("name") == "Fresh"
    new = merge(None, seen)  # a new object whose delta lacks cn
    assert new.obj.first("cn") == "Fresh" and new.obj.first("name") == "Fresh"


def test_ou_rdn_sets_ou_and_name_and_tombstones_are_left_alone():
    seen = SourceObject(anchor="OOO=", object_guid="OOO=", kind=ObjectKind.CONTACT, dn="OU=Sales \\2B Ops,DC=lab,DC=test",
                        attributes={}, usn=1)
    m = merge(None, seen)
    assert m.obj.first("ou") == "Sales + Ops" and m.obj.first("name") == "Sales + Ops" and m.obj.get("cn") == ()
    stored = stored_group()
    tomb = SourceObject(anchor="GGG=", object_guid="GGG=", kind=None, dn="CN=Old Name\\0ADEL:x,CN=Deleted Objects,DC=lab",
                        deleted=True, partial=True)
    assert merge(stored, tomb).obj.first("cn") == "Old Name"


def test_multivalued_rdn_is_left_as_the_record_says():
    seen = SourceObject(anchor="GGG=", object_guid="GGG=", kind=ObjectKind.GROUP, dn="CN=A+SN=B,OU=Groups,DC=lab,DC=test",
                        attributes={"cn": ("A",), "name": ("A",)}, members=frozenset(), usn=1)
    assert merge(None, seen).obj.first("cn") == "A"

"""The mapping layer: default mappings over realistic AD objects, overrides, config errors."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hybridsync.engine.core.config import DEFAULT_MAPPINGS, SCIM_ENTERPRISE, TargetConfig
from hybridsync.engine.core.errors import ConfigError
from hybridsync.engine.mapping.projection import (
    MANAGER_PATH,
    MappingError,
    ProjectionContext,
    compile_mapping,
    is_boolean_path,
    is_reference_path,
)
from hybridsync.engine.core.values import ObjectKind, SourceObject

CLOCK = datetime(2026, 11, 23, 19, 0, tzinfo=timezone.utc)
EMAIL = 'emails[type eq "work"].value'
PHONE = 'phoneNumbers[type eq "work"].value'
MANAGER_DN = "CN=Boss Person,OU=People,DC=lab,DC=test"


def ad_object(kind: ObjectKind, dn: str, **attrs) -> SourceObject:
    guid = uuid.uuid5(uuid.NAMESPACE_URL, dn).bytes_le
    anchor = base64.b64encode(guid).decode()
    return SourceObject(anchor=anchor, object_guid=anchor, kind=kind, dn=dn, attributes=attrs)


def ad_user(**overrides) -> SourceObject:
    attrs = {
        "userPrincipalName": "ann.lee@lab.test",
        "sAMAccountName": "alee",
        "givenName": "Ann",
        "sn": "Lee",
        "displayName": "Ann Lee",
        "mail": "ann.lee@lab.test",
        "title": "Engineer",
        "telephoneNumber": "+1 555 0100",
        "userAccountControl": "512",
        "employeeNumber": "E-1001",
        "department": "R&D",
        "manager": MANAGER_DN,
        "objectClass": ["top", "person", "organizationalPerson", "user"],
    }
    attrs.update(overrides)
    attrs = {k: v for k, v in attrs.items() if v is not None}
    return ad_object(ObjectKind.USER, "CN=Ann Lee,OU=People,DC=lab,DC=test", **attrs)


def resolver(known: dict[str, str]):
    return lambda dn: known.get(dn.lower())


DEFAULT = compile_mapping(TargetConfig(name="scim"))
CTX = ProjectionContext(clock=CLOCK, seed="seed", resolve_reference=resolver({MANAGER_DN.lower(): "scim-id-boss"}))


def test_an_enabled_user_projects_every_default_attribute():
    p = DEFAULT.project(ad_user(), CTX)
    assert p.ok
    assert dict(p.values) == {
        "userName": "ann.lee@lab.test",
        "name.givenName": "Ann",
        "name.familyName": "Lee",
        "displayName": "Ann Lee",
        EMAIL: "ann.lee@lab.test",
        "title": "Engineer",
        PHONE: "+1 555 0100",
        "active": True,
        f"{SCIM_ENTERPRISE}:employeeNumber": "E-1001",
        f"{SCIM_ENTERPRISE}:department": "R&D",
        MANAGER_PATH: "scim-id-boss",
    }


@pytest.mark.parametrize(("uac", "active"), [("512", True), ("514", False), ("66048", True), ("66050", False), ("546", False)])
def test_active_follows_the_disabled_bit_of_user_account_control(uac, active):
    assert DEFAULT.project(ad_user(userAccountControl=uac), CTX).values["active"] is active


def test_a_user_without_mail_clears_the_work_email():
    p = DEFAULT.project(ad_user(mail=None, title=None), CTX)
    assert p.values[EMAIL] is None
    assert p.values["title"] is None


def test_unicode_and_a_256_character_display_name_pass_through_intact():
    long_name = ("Zoë Ångström-Łukasiewicz 山田 " * 12)[:256]
    p = DEFAULT.project(ad_user(givenName="Zoë", sn="Ångström", displayName=long_name), CTX)
    assert p.values["displayName"] == long_name and len(p.values["displayName"]) == 256
    assert (p.values["name.givenName"], p.values["name.familyName"]) == ("Zoë", "Ångström")


def test_the_manager_is_omitted_until_it_is_provisioned_and_cleared_when_removed():
    unresolved = ProjectionContext(clock=CLOCK, seed="seed")
    assert MANAGER_PATH not in DEFAULT.project(ad_user(), unresolved).values
    assert DEFAULT.project(ad_user(manager=None), unresolved).values[MANAGER_PATH] is None
    assert DEFAULT.project(ad_user(), CTX).values[MANAGER_PATH] == "scim-id-boss"


def test_reference_and_boolean_paths_are_documented_by_predicates():
    assert is_reference_path(MANAGER_PATH) and is_reference_path(MANAGER_PATH.upper())
    assert not is_reference_path("displayName")
    assert is_boolean_path("active") and is_boolean_path('emails[type eq "work"].primary')
    assert not is_boolean_path("title")


def test_a_contact_is_an_inactive_user_of_type_contact():
    contact = ad_object(ObjectKind.CONTACT, "CN=Ext Partner,OU=Contacts,DC=lab,DC=test",
                        cn="Ext Partner", mail="partner@example.org", givenName="Ext", sn="Partner")
    p = DEFAULT.project(contact, CTX)
    assert dict(p.values) == {
        "userName": "partner@example.org",
        "displayName": "Ext Partner",
        "name.givenName": "Ext",
        "name.familyName": "Partner",
        EMAIL: "partner@example.org",
        "active": False,
        "userType": "Contact",
    }
    bare = ad_object(ObjectKind.CONTACT, "CN=NoMail,DC=lab,DC=test", cn="NoMail")
    assert DEFAULT.project(bare, CTX).values["userName"] == "NoMail"


def test_a_group_projects_its_cn_as_display_name():
    group = ad_object(ObjectKind.GROUP, "CN=Sales Team,OU=Groups,DC=lab,DC=test", cn="Sales Team",
                      member=["CN=a,DC=lab,DC=test", "CN=b,DC=lab,DC=test"])
    assert dict(DEFAULT.project(group, CTX).values) == {"displayName": "Sales Team"}


def test_references_list_the_source_attributes_each_kind_needs():
    assert DEFAULT.references("user") == frozenset({
        "userprincipalname", "givenname", "sn", "displayname", "mail", "title", "telephonenumber",
        "useraccountcontrol", "employeenumber", "department", "manager"})
    assert DEFAULT.references(ObjectKind.GROUP) == frozenset({"cn"})
    assert DEFAULT.references("contact") == frozenset({"mail", "cn", "displayname", "givenname", "sn"})
    assert DEFAULT.paths("group") == ("displayName",)
    assert DEFAULT.paths("user") == tuple(DEFAULT_MAPPINGS["user"])


def test_overrides_replace_one_kind_and_empty_expressions_drop_a_path():
    user = dict(DEFAULT_MAPPINGS["user"])
    user["title"] = ""  # dropped
    user["displayName"] = 'Join(", ", [sn], [givenName])'
    user["nickName"] = "IgnoreFlowIfNullOrEmpty([middleName])"
    user["emails[type eq \"other\"].value"] = "[otherMailbox]"
    m = compile_mapping(TargetConfig(name="t", mapping={"user": user}))
    p = m.project(ad_user(otherMailbox=["a@x.test", "b@x.test"]), CTX)
    assert "title" not in p.values
    assert p.values["displayName"] == "Lee, Ann"
    assert "nickName" not in p.values  # IgnoreFlowIfNullOrEmpty: leave the target alone
    assert p.values['emails[type eq "other"].value'] == ["a@x.test", "b@x.test"]
    assert m.project(ad_user(middleName="Q"), CTX).values["nickName"] == "Q"
    assert m.paths("group") == ("displayName",)  # kinds not configured keep their defaults


def test_booleans_coerce_text_and_numbers_and_reject_anything_else():
    m = compile_mapping(TargetConfig(name="t", mapping={"user": {"active": "[flag]"}}))
    for raw, expected in (("True", True), ("false", False), ("1", True), ("0", False)):
        assert m.project(ad_user(flag=raw), CTX).values["active"] is expected
    p = m.project(ad_user(flag="maybe"), CTX)
    assert not p.ok and p.values == {}
    assert p.errors[0].attribute == "active"


def test_a_failing_expression_yields_errors_and_no_half_built_payload():
    m = compile_mapping(TargetConfig(name="t", mapping={"user": {
        "userName": "[userPrincipalName]",
        "nickName": "Item([proxyAddresses], 5)",
        "title": "CDate([title])",
    }}))
    p = m.project(ad_user(proxyAddresses=["smtp:a@x", "SMTP:b@x"]), CTX)
    assert p.values == {}
    assert [e.attribute for e in p.errors] == ["nickName", "title"]
    err = p.errors[0]
    assert isinstance(err, MappingError)
    assert err.object_ref == "CN=Ann Lee,OU=People,DC=lab,DC=test"
    assert err.expression == "Item([proxyAddresses], 5)"
    assert "out of range" in str(err)


def test_config_errors_name_target_kind_attribute_and_column_all_at_once():
    cfg = TargetConfig(name="t", mapping={
        "user": {"userName": "ToLower([userPrincipalName]", "displayName": "Foo([cn])", "title": "[title]"},
        "group": {"displayName": 'Join(" ", Left([cn]))'},
    })
    with pytest.raises(ConfigError) as info:
        compile_mapping(cfg, file="hybridsync.toml", index=1)
    problems = {p.key: p for p in info.value.problems}
    assert set(problems) == {
        "target[1].mapping.user.userName",
        "target[1].mapping.user.displayName",
        "target[1].mapping.group.displayName",
    }
    assert "column 28" in problems["target[1].mapping.user.userName"].message
    assert "unknown function 'Foo'" in problems["target[1].mapping.user.displayName"].message
    assert "Left takes 2 arguments" in problems["target[1].mapping.group.displayName"].message
    assert "column 11" in problems["target[1].mapping.group.displayName"].message
    assert all(p.file == "hybridsync.toml" for p in info.value.problems)


def test_select_unique_value_asks_the_target_per_path():
    m = compile_mapping(TargetConfig(name="t", mapping={"user": {
        "userName": 'SelectUniqueValue(Join("@", [givenName], "lab.test"), Join("@", Join(".", [givenName], [sn]), "lab.test"))'}}))
    taken = {("userName", "Ann@lab.test")}
    ctx = ProjectionContext(clock=CLOCK, seed="s", is_unique=lambda path, v: (path, v) not in taken)
    assert m.project(ad_user(), ctx).values["userName"] == "Ann.Lee@lab.test"


_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=64)


@given(_names, _names, st.sampled_from(["512", "514", "66048", "66050"]), st.booleans())
def test_projection_is_deterministic_and_active_matches_the_disabled_flag(given_name, sn, uac, with_mail):
    user = ad_user(givenName=given_name, sn=sn, userAccountControl=uac, mail="x@lab.test" if with_mail else None)
    a, b = DEFAULT.project(user, CTX), DEFAULT.project(user, CTX)
    assert a == b and a.ok
    assert a.values["active"] is (not user.disabled)
    assert a.values["name.givenName"] == given_name
    assert (a.values[EMAIL] is None) is (not with_mail)


_values = st.lists(st.text(max_size=12), max_size=4)


@given(_values)
def test_the_bare_attribute_fast_path_agrees_with_full_evaluation(values):
    m = compile_mapping(TargetConfig(name="t", mapping={"user": {
        "title": "[extensionAttribute1]", "nickName": "Coalesce([extensionAttribute1])",
        "active": "[extensionAttribute2]", "x.primary": "CStr([extensionAttribute2])"}}))
    user = ad_user(extensionAttribute1=values, extensionAttribute2="True")
    p = m.project(user, CTX)
    assert p.values["title"] == p.values["nickName"]
    assert p.values["active"] is p.values["x.primary"] is True


def test_a_user_without_user_account_control_is_active_as_not_of_null_is_true():
    # doc, "Not": "If source value is True, returns False. Otherwise, returns True."
    assert DEFAULT.project(ad_user(userAccountControl=None), CTX).values["active"] is True

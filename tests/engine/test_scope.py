"""Scoping: DN comparison, OUs, object types, nested group scope and Entra-style filters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hybridsync.engine.core.config import ScopeClause, ScopeConfig
from hybridsync.engine.core.errors import ConfigError
from hybridsync.engine.plan.scope import CompiledScope, dn_within, expand_group_scope, normalize_dn, parse_dn
from hybridsync.engine.core.values import ObjectKind, SourceObject

STAFF = "OU=Staff,DC=lab,DC=test"


def obj(dn=f"CN=x,{STAFF}", kind=ObjectKind.USER, guid="g1", **attrs) -> SourceObject:
    return SourceObject(anchor=guid, object_guid=guid, kind=kind, dn=dn, attributes=attrs)


def test_an_escaped_comma_is_part_of_the_value_not_an_rdn_boundary():
    assert parse_dn(r"CN=Doe\, John,OU=Staff,DC=lab,DC=test")[0] == (("cn", "doe, john"),)
    fake = parse_dn(r"CN=x,OU=Staff\,DC=lab,DC=test")
    assert fake[1] == (("ou", "staff,dc=lab"),) and not dn_within(fake, parse_dn("DC=lab,DC=test"))
    assert not dn_within(parse_dn(r"CN=x,OU=Old\,OU=Staff,DC=lab,DC=test"), parse_dn(STAFF))


def test_dns_compare_case_insensitively_with_unicode_and_hex_escapes():
    assert parse_dn("OU=Stäff,DC=Lab,DC=test") == parse_dn(r"ou=ST\C3\84FF, dc=lab ,dc=TEST")
    assert normalize_dn("CN=Ünal,OU=X") == normalize_dn(r"cn=\C3\9Cnal,ou=x")


def test_extended_dn_prefixes_from_ad_are_ignored():
    assert parse_dn(f"<GUID=abc>;<SID=S-1-5>;CN=x,{STAFF}") == parse_dn(f"CN=x,{STAFF}")


def test_multi_valued_rdns_compare_in_any_order():
    assert parse_dn("CN=a+UID=b,DC=x") == parse_dn("uid=B+cn=A,dc=X")


def test_a_dangling_backslash_is_a_dn_error():
    with pytest.raises(ValueError):
        parse_dn("CN=x\\")


_value = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=8)


@given(st.lists(st.tuples(st.sampled_from(["CN", "OU", "DC", "uid"]), _value), min_size=1, max_size=5))
def test_normalized_dns_parse_back_to_the_same_rdns(rdns):
    def esc(v: str) -> str:
        out = "".join("\\" + c if c in '\\,+;"<>=' else c for c in v)
        if out.startswith((" ", "#")):
            out = "\\" + out
        if out.endswith(" "):
            out = out[:-1] + "\\ "
        return out
    dn = ",".join(f"{a}={esc(v)}" for a, v in rdns)
    parsed = parse_dn(dn)
    assert len(parsed) == len(rdns)
    assert parse_dn(normalize_dn(dn)) == parsed
    parent = ",".join(f"{a}={esc(v)}" for a, v in rdns[1:])
    assert dn_within(parsed, parse_dn(parent))
    # the scope's per-parent memo agrees with a full comparison, for this DN and its parent as bases
    for base in {dn, parent, ",".join(f"{a}={esc(v)}" for a, v in rdns[-1:])}:
        if not base:
            continue
        decision = CompiledScope(ScopeConfig(include_ous=(base,))).decide(obj(dn))
        assert decision.in_scope == dn_within(parsed, parse_dn(base))


def test_exclude_ous_win_over_include_ous_and_name_their_index():
    s = CompiledScope(ScopeConfig(include_ous=("DC=lab,DC=test",), exclude_ous=("OU=A,DC=lab,DC=test", STAFF)))
    d = s.decide(obj(f"CN=x,OU=Sub,{STAFF}"))
    assert (d.in_scope, d.rule) == (False, "scope.exclude_ous[1]")
    assert s.decide(obj("CN=x,OU=B,DC=lab,DC=test")).rule == "scope.include_ous[0]"


def test_objects_outside_every_include_ou_are_out_of_scope():
    d = CompiledScope(ScopeConfig(include_ous=(STAFF,))).decide(obj("CN=x,OU=Other,DC=lab,DC=test"))
    assert (d.in_scope, d.rule) == (False, "scope.include_ous")


def test_object_types_not_listed_are_out_of_scope():
    d = CompiledScope(ScopeConfig(object_types=("user",))).decide(obj(kind=ObjectKind.GROUP))
    assert (d.in_scope, d.rule) == (False, "scope.object_types")


def test_group_scope_is_the_transitive_closure_and_tolerates_cycles():
    members = {"G1": {"G2", "u1"}, "G2": {"G3"}, "G3": {"G1", "u3"}, "G9": {"u9"}}
    gs = expand_group_scope(["CN=G1,DC=x", "CN=Missing,DC=x"], {normalize_dn("cn=g1,dc=x"): "G1"}, members)
    assert gs.members == {"G1", "G2", "G3", "u1", "u3"}
    assert gs.missing == ("CN=Missing,DC=x",)
    s = CompiledScope(ScopeConfig(groups=("CN=G1,DC=x",)))
    assert s.decide(obj(guid="u3"), gs).rule == "scope.groups[0]"
    assert s.decide(obj(guid="u9"), gs).rule == "scope.groups"


CASES = [
    # (operator, value, attributes, expected)
    ("EQUALS", "Sales", {"department": "sales"}, True),
    ("EQUALS", "Sales", {}, False),
    ("NOT EQUALS", "Sales", {"department": "HR"}, True),
    ("NOT EQUALS", "Sales", {}, True),
    ("IS TRUE", None, {"department": "TRUE"}, True),
    ("IS TRUE", None, {"department": "FALSE"}, False),
    ("IS FALSE", None, {"department": "FALSE"}, True),
    ("IS FALSE", None, {}, False),
    ("IS NULL", None, {}, True),
    ("IS NULL", None, {"department": "x"}, False),
    ("IS NOT NULL", None, {"department": "x"}, True),
    ("REGEX MATCH", "^[1-9][0-9]$", {"department": "42"}, True),
    ("REGEX MATCH", "^[1-9][0-9]$", {"department": "420"}, False),
    ("NOT REGEX MATCH", "^x", {"department": "yx"}, True),
    ("NOT REGEX MATCH", "^x", {}, True),
    ("GREATER_THAN", "10", {"department": "11"}, True),
    ("GREATER_THAN", "10", {"department": "10"}, False),
    ("GREATER_THAN", "10", {"department": "abc"}, False),
    ("GREATER_THAN_OR_EQUALS", "10", {"department": "10"}, True),
    ("LESS_THAN", "10", {"department": "9"}, True),
    ("LESS_THAN", "10", {}, False),
    ("INCLUDES", "ale", {"department": "Sales"}, True),
    ("INCLUDES", "ALE", {"department": "Sales"}, False),
    ("IS IN", "HR, Sales", {"department": "sales"}, True),
    ("IS IN", "HR, Sales", {"department": "IT"}, False),
    ("IS NOT IN", "HR, Sales", {"department": "IT"}, True),
    ("IS NOT IN", "HR, Sales", {"department": "HR"}, False),
]


@pytest.mark.parametrize("op,value,attrs,expected", CASES)
def test_each_filter_operator_decides_like_entra(op, value, attrs, expected):
    s = CompiledScope(ScopeConfig(filters=((ScopeClause("department", op, value),),)))
    d = s.decide(obj(**attrs))
    assert d.in_scope is expected
    assert d.rule == ("scope.filters[0]" if expected else "scope.filters[0][0]")


def test_clauses_are_anded_inside_a_group_and_groups_are_ored():
    s = CompiledScope(ScopeConfig(filters=(
        (ScopeClause("department", "EQUALS", "Sales"), ScopeClause("title", "IS NOT NULL")),
        (ScopeClause("employeeType", "EQUALS", "contractor"),),
    )))
    assert s.decide(obj(department="Sales", title="x")).rule == "scope.filters[0]"
    assert s.decide(obj(department="Sales")).rule == "scope.filters[0][1]"
    assert s.decide(obj(department="Sales", employeetype="Contractor")).rule == "scope.filters[1]"


def test_a_bad_operator_or_regex_is_a_config_error_naming_the_clause():
    with pytest.raises(ConfigError) as err:
        CompiledScope(ScopeConfig(filters=((ScopeClause("a", "LIKE", "x"), ScopeClause("b", "REGEX MATCH", "(")),)))
    keys = [p.key for p in err.value.problems]
    assert keys == ["scope.filters[0][0]", "scope.filters[0][1]"]


def test_a_critical_system_object_is_out_of_scope_whatever_its_ou():
    from hybridsync.engine.core.config import ScopeConfig
    from hybridsync.engine.plan.scope import CompiledScope
    from hybridsync.engine.core.values import ObjectKind, SourceObject

    admin = SourceObject(anchor="a", object_guid="a", kind=ObjectKind.USER, dn="CN=Administrator,CN=Users,DC=lab,DC=test",
                         attributes={"isCriticalSystemObject": "TRUE", "userAccountControl": "512"})
    plain = SourceObject(anchor="b", object_guid="b", kind=ObjectKind.USER, dn="CN=Bob,CN=Users,DC=lab,DC=test",
                         attributes={"isCriticalSystemObject": "FALSE"})
    scope = CompiledScope(ScopeConfig(include_ous=("DC=lab,DC=test",)))
    decided = scope.decide(admin)
    assert not decided.in_scope and decided.rule == "scope.critical_system_object"
    assert scope.decide(plain).in_scope

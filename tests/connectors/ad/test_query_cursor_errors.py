"""Pure parts of the AD source: filters and escaping, cursor validity, error classification."""

import base64
import uuid

from hypothesis import given
from hypothesis import strategies as st
from ldap3.core import exceptions as lx
from ldap3.utils.conv import escape_filter_chars

from hybridsync.connectors.ad import cursor, errors, query
from hybridsync.engine.core.errors import Permanent, Retriable
from hybridsync.engine.core.values import DcIdentity, DirSyncCookie, Refresh, UsnWatermark

DC = DcIdentity(url="ldaps://dc1", invocation_id="7f9f451f-bb35-48ba-9b2a-659aef18e753", highest_usn=5000)


def test_attribute_list_keeps_fixed_attributes_first_and_drops_duplicates_case_insensitively():
    attrs = query.attribute_list(["displayName", "MAIL", "mail", "objectguid", " "])
    assert attrs[: len(query.FIXED_ATTRIBUTES)] == query.FIXED_ATTRIBUTES
    assert attrs[len(query.FIXED_ATTRIBUTES):] == ("displayName", "MAIL")
    assert query.with_member_range(attrs, 1000).count("member;range=0-999") == 1
    assert "member" not in query.with_member_range(attrs, 1000)


@given(st.text(min_size=1, max_size=40).filter(lambda s: s.strip() and "=" not in s))
def test_name_lookups_escape_every_filter_special_character(name):
    lk = query.lookup_for(name)
    if lk.kind == "guid":
        return
    assert lk.kind == "name"
    value = escape_filter_chars(name.strip())
    assert lk.filter == f"(|(sAMAccountName={value})(userPrincipalName={value}))"
    inner = lk.filter[2:-1]
    for ch in "()*\x00":
        assert ch not in value.replace("\\28", "").replace("\\29", "").replace("\\2a", "").replace("\\00", "")
    assert inner.count("(") == inner.count(")") == 2


def test_guid_lookups_accept_text_braced_and_base64_forms_and_match_the_consistency_guid_too():
    g = uuid.uuid4()
    b64 = base64.b64encode(g.bytes_le).decode()
    forms = [str(g), "{" + str(g).upper() + "}", b64]
    filters = {query.lookup_for(f).filter for f in forms}
    assert len(filters) == 1
    (flt,) = filters
    escaped = "".join(f"\\{b:02x}" for b in g.bytes_le)
    assert flt == f"(|(objectGUID={escaped})(mS-DS-ConsistencyGuid={escaped}))"


def test_dns_are_base_lookups_and_upns_are_name_lookups():
    assert query.lookup_for('CN=Odd\\, \\+\\"x,OU=a,DC=lab,DC=test').dn.startswith("CN=Odd")
    assert query.lookup_for('CN=Semi\\; Plus\\+ #1,OU=a,DC=lab,DC=test').kind == "dn"
    assert query.lookup_for("alice@lab.test").kind == "name"
    assert query.naming_context_of("OU=a,OU=b,DC=lab,DC=test") == "DC=lab,DC=test"


def test_usn_and_tombstone_filters_bound_the_range_at_both_ends():
    assert query.usn_filter(41, 99, ["user"]) == "(&(uSNChanged>=42)(uSNChanged<=99)(&(objectCategory=person)(objectClass=user)))"
    assert "(isDeleted=TRUE)(uSNChanged>=42)(uSNChanged<=99)" in query.tombstone_filter(41, 99)


def test_a_watermark_from_another_dc_or_above_the_dcs_usn_means_refresh():
    assert cursor.check(UsnWatermark(DC.invocation_id, 4000), delta="usn", dc=DC) is None
    other = cursor.check(UsnWatermark("0f9f451f-bb35-48ba-9b2a-659aef18e753", 4000), delta="usn", dc=DC)
    assert isinstance(other, Refresh) and "restore" in other.reason
    above = cursor.check(UsnWatermark(DC.invocation_id, 5001), delta="usn", dc=DC)
    assert isinstance(above, Refresh) and "5001" in above.reason


def test_a_dirsync_cookie_needs_the_same_invocation_id_and_the_right_mode():
    assert cursor.check(DirSyncCookie(b"MSDS", DC.invocation_id.upper()), delta="dirsync", dc=DC) is None
    assert isinstance(cursor.check(DirSyncCookie(b"MSDS", ""), delta="dirsync", dc=DC), Refresh)
    assert isinstance(cursor.check(DirSyncCookie(b"", DC.invocation_id), delta="dirsync", dc=DC), Refresh)
    assert isinstance(cursor.check(UsnWatermark(DC.invocation_id, 1), delta="dirsync", dc=DC), Refresh)
    assert isinstance(cursor.check(DirSyncCookie(b"MSDS", DC.invocation_id), delta="usn", dc=DC), Refresh)


def _result(cls, text="boom"):
    return cls(result=0, description=cls.__name__, message=text)


def test_connection_trouble_is_retriable_and_names_the_dc():
    for exc in (lx.LDAPSocketOpenError("refused"), _result(lx.LDAPBusyResult), _result(lx.LDAPUnavailableResult),
                _result(lx.LDAPTimeLimitExceededResult), lx.LDAPSessionTerminatedByServerError("x"), TimeoutError()):
        err = errors.classify(exc, dc="ldaps://dc2")
        assert isinstance(err, Retriable), exc
        assert "ldaps://dc2" in str(err) and err.where == "ldaps://dc2"


def test_refusals_are_terminal_and_say_which_right_is_missing():
    creds = errors.classify(_result(lx.LDAPInvalidCredentialsResult), dc="ldaps://dc1", who="CN=svc,DC=x")
    assert isinstance(creds, Permanent) and "invalid credentials" in str(creds) and "CN=svc" in str(creds)
    rights = errors.classify(_result(lx.LDAPInsufficientAccessRightsResult), dc="ldaps://dc1", operation="dirsync")
    assert isinstance(rights, Permanent) and "Replicating Directory Changes" in str(rights)
    cert = errors.classify(lx.LDAPSocketOpenError("socket ssl wrapping error: [SSL: CERTIFICATE_VERIFY_FAILED]"), dc="ldaps://dc1")
    assert isinstance(cert, Permanent) and "ca_file" in str(cert)

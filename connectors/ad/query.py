"""Pure LDAP query building for the AD source: filters, attribute lists, controls.

Nothing here does I/O. Filter values are escaped (RFC 4515) with ldap3's helpers; DNs are
parsed with ldap3's DN utilities, never by splitting strings.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Iterable

from attrs import frozen
from ldap3.core.exceptions import LDAPInvalidDnError
from ldap3.protocol.microsoft import dir_sync_control, extended_dn_control, show_deleted_control
from ldap3.utils.conv import escape_bytes, escape_filter_chars
from ldap3.utils.dn import parse_dn

# The attributes every read asks for, whatever the mapping needs.
FIXED_ATTRIBUTES: tuple[str, ...] = (
    "objectGUID",
    "mS-DS-ConsistencyGuid",
    "objectSid",
    "distinguishedName",
    "uSNChanged",
    "whenChanged",
    "userAccountControl",
    "member",
    "memberOf",
    "objectClass",
    "objectCategory",
    "name",
    "cn",
    "sAMAccountName",
    "userPrincipalName",
    "manager",
    "isDeleted",
    "lastKnownParent",
    "parentGUID",
    "isCriticalSystemObject",  # Administrator, krbtgt, Guest...: the planner keeps them out of scope
)

OID_PAGED = "1.2.840.113556.1.4.319"
OID_DIRSYNC = "1.2.840.113556.1.4.841"

KIND_FILTERS: dict[str, str] = {
    "user": "(&(objectCategory=person)(objectClass=user))",
    "group": "(objectClass=group)",
    "contact": "(objectClass=contact)",
}
# Tombstones lose objectCategory but keep objectClass: the class-only form matches them too.
TOMBSTONE_KIND_FILTER = "(|(objectClass=user)(objectClass=group)(objectClass=contact))"


def attribute_list(extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The fixed attributes plus ``extra``, without duplicates (case-insensitive), in order."""
    seen: set[str] = set()
    out: list[str] = []
    for name in (*FIXED_ATTRIBUTES, *extra):
        name = name.strip()
        if not name or name.lower() in seen:
            continue
        seen.add(name.lower())
        out.append(name)
    return tuple(out)


def with_member_range(attributes: Iterable[str], page: int | None) -> tuple[str, ...]:
    """Replace ``member`` by ``member;range=0-(page-1)`` when an explicit range is wanted."""
    if not page:
        return tuple(attributes)
    return tuple(f"member;range=0-{page - 1}" if a.lower() == "member" else a for a in attributes)


def member_range_attribute(start: int, page: int | None) -> str:
    return f"member;range={start}-{start + page - 1}" if page else f"member;range={start}-*"


def kind_filter(object_types: Iterable[str] = ("user", "group", "contact")) -> str:
    parts = [KIND_FILTERS[t] for t in object_types if t in KIND_FILTERS]
    if not parts:
        raise ValueError("no object type to read")
    return parts[0] if len(parts) == 1 else "(|" + "".join(parts) + ")"


def usn_filter(after: int, upto: int, object_types: Iterable[str] = ("user", "group", "contact")) -> str:
    """Objects changed after USN ``after`` up to and including ``upto``."""
    return f"(&(uSNChanged>={int(after) + 1})(uSNChanged<={int(upto)}){kind_filter(object_types)})"


def tombstone_filter(after: int, upto: int) -> str:
    return f"(&(isDeleted=TRUE)(uSNChanged>={int(after) + 1})(uSNChanged<={int(upto)}){TOMBSTONE_KIND_FILTER})"


def guid_filter(raw: bytes) -> str:
    """Match an object by objectGUID or by mS-DS-ConsistencyGuid (the anchor)."""
    value = escape_bytes(raw)
    return f"(|(objectGUID={value})(mS-DS-ConsistencyGuid={value}))"


def name_filter(name: str) -> str:
    value = escape_filter_chars(name)
    return f"(|(sAMAccountName={value})(userPrincipalName={value}))"


_GUID_TEXT = re.compile(r"^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$")


@frozen
class Lookup:
    """How to find one object named by an admin: a DN (base search) or a filter."""

    kind: str  # "guid" | "dn" | "name"
    dn: str | None = None
    filter: str | None = None


def parse_guid_ref(ref: str) -> bytes | None:
    """objectGUID bytes from its text form (``{..}`` or bare) or its base64 form, else None."""
    ref = ref.strip()
    if _GUID_TEXT.match(ref):
        return uuid.UUID(ref.strip("{}")).bytes_le
    if len(ref) == 24 and ref.endswith("=="):
        try:
            raw = base64.b64decode(ref, validate=True)
        except (binascii.Error, ValueError):
            return None
        return raw if len(raw) == 16 else None
    return None


def is_dn(ref: str) -> bool:
    if "=" not in ref:
        return False
    try:  # escape=True: ldap3 otherwise refuses an unescaped '#' inside a value, which AD accepts
        return bool(parse_dn(ref, escape=True, strip=True))
    except (LDAPInvalidDnError, IndexError, ValueError):
        return False


def lookup_for(ref: str) -> Lookup:
    """Classify ``ref`` (objectGUID text/base64, DN, sAMAccountName or UPN) into a lookup."""
    raw = parse_guid_ref(ref)
    if raw is not None:
        return Lookup("guid", filter=guid_filter(raw))
    if is_dn(ref):
        return Lookup("dn", dn=ref.strip())
    return Lookup("name", filter=name_filter(ref.strip()))


# ---- controls (ldap3 control tuples) ---------------------------------------------------------


def extended_dn() -> tuple:
    """Member and DN values as ``<GUID=...>;<SID=...>;CN=...`` (string GUID form)."""
    return extended_dn_control(criticality=False, hex_format=False)


def show_deleted() -> tuple:
    return show_deleted_control(criticality=True)


def dirsync(cookie: bytes | None, *, object_security: bool, max_bytes: int = 1 << 20) -> tuple:
    return dir_sync_control(
        criticality=True,
        object_security=object_security,
        ancestors_first=True,
        public_data_only=False,
        incremental_values=True,
        max_length=max_bytes,
        cookie=cookie or None,
    )


def naming_context_of(base_dn: str) -> str:
    """The domain naming context containing ``base_dn``: its trailing ``DC=`` RDNs."""
    parts = parse_dn(base_dn, escape=False, strip=True)
    tail: list[str] = []
    for attr, value, _sep in reversed(parts):
        if attr.lower() != "dc":
            break
        tail.append(f"{attr}={value}")
    return ",".join(reversed(tail))

"""Pure normalization: one LDAP entry (raw bytes) -> a frozen ``SourceObject``.

``from_ldap_entry`` never raises for odd data: it returns a ``SourceObjectError`` naming the DN
and the attribute, or ``None`` for an entry that is not a user, group or contact.

- anchor: base64 mS-DS-ConsistencyGuid when set, else base64 objectGUID. A DirSync delta or a
  tombstone usually lacks mS-DS-ConsistencyGuid, so for ``partial``/``deleted`` objects the
  engine must find the stored object by ``object_guid`` (the anchor is then the objectGUID's).
- kind: objectCategory Person + objectClass user -> user; group; contact. ``None`` when the entry
  carries no objectClass (DirSync deltas, tombstones): the engine knows it from earlier rounds.
- attributes: lowercased names -> tuple of text. Known binary syntaxes are base64, objectSid and
  sIDHistory as ``S-1-5-...``; DN-valued attributes (read with the extended-DN control) are
  reduced to the plain DN. A non-UTF-8 value in a string attribute is a per-object error.
- members: objectGUIDs (base64) parsed from ``<GUID=...>;<SID=...>;CN=...`` member values.
  ``member;range=1-1`` (DirSync incremental add) -> ``members_added``, ``member;range=0-0`` ->
  ``members_removed``; a plain ``member`` (or a completed ranged read) -> ``members``.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence

from attrs import frozen

from hybridsync.engine.core.dn import plain_dn, split_extended_dn
from hybridsync.engine.core.errors import SourceError
from hybridsync.engine.core.values import ObjectKind, SourceObject, SourceObjectError, guid_to_anchor

SID_ATTRIBUTES: frozenset[str] = frozenset({"objectsid", "sidhistory"})
# Octet-string / SID syntaxes we know without reading the schema (the source adds more from it).
BINARY_ATTRIBUTES: frozenset[str] = SID_ATTRIBUTES | frozenset(
    {
        "objectguid",
        "ms-ds-consistencyguid",
        "objectsid",
        "sidhistory",
        "parentguid",
        "thumbnailphoto",
        "jpegphoto",
        "usercertificate",
        "usersmimecertificate",
        "msexchmailboxguid",
        "ntsecuritydescriptor",
        "logonhours",
        "msds-generationid",
        "invocationid",
    }
)
# DN syntax attributes among the fixed ones (values come in extended form; keep the plain DN).
DN_ATTRIBUTES: frozenset[str] = frozenset(
    {"distinguishedname", "memberof", "manager", "objectcategory", "lastknownparent", "directreports",
     "managedby", "member"}
)

_RANGE = re.compile(r"^member;range=(\d+)-(\d+|\*)$", re.IGNORECASE)
# DirSync with incremental values sends every linked attribute ranged, not only member: a
# changed ``manager`` arrives as ``manager;range=1-1`` (the value now held) and/or
# ``manager;range=0-0`` (the value removed). For these single-valued links the held value is
# the attribute; a removal alone clears it.
_LINK_RANGE = re.compile(r"^(manager|managedby);range=([01])-([01])$", re.IGNORECASE)


@frozen
class RawEntry:
    """An LDAP search entry as bytes: what the wire gave, before any interpretation."""

    dn: str
    # values are lists/tuples of bytes; None (DirSync: the attribute was cleared) means none
    raw: Mapping[str, Sequence[bytes] | None]

    @classmethod
    def from_ldap3(cls, item: Mapping) -> "RawEntry":
        return cls(item["dn"], item["raw_attributes"])

    def to_json(self) -> dict:
        return {"dn": self.dn, "raw": {k: [base64.b64encode(v).decode() for v in vs or ()] for k, vs in self.raw.items()}}

    @classmethod
    def from_json(cls, data: Mapping) -> "RawEntry":
        return cls(data["dn"], {k: [base64.b64decode(v) for v in vs] for k, vs in data["raw"].items()})


class _Bad(SourceError):
    def __init__(self, attribute: str | None, message: str):
        self.attribute = attribute
        super().__init__(message)


def sid_to_text(raw: bytes) -> str:
    """Binary SID -> ``S-1-5-21-...``."""
    if len(raw) < 8 or raw[0] != 1 or len(raw) != 8 + 4 * raw[1]:
        raise ValueError(f"not a SID ({len(raw)} bytes)")
    authority = int.from_bytes(raw[2:8], "big")
    subs = [int.from_bytes(raw[8 + 4 * i : 12 + 4 * i], "little") for i in range(raw[1])]
    return "S-" + "-".join(str(x) for x in (raw[0], authority, *subs))


def guid_text_to_anchor(text: str) -> str:
    """The GUID of an extended DN (string or hex form) -> base64 of its bytes as stored."""
    text = text.strip("{}")
    if len(text) == 32 and "-" not in text:
        return guid_to_anchor(bytes.fromhex(text))
    return guid_to_anchor(uuid.UUID(text).bytes_le)


def member_guid(value: bytes) -> str:
    if value[:6] == b"<GUID=" and value[42:43] == b">":  # the string form, always from Samba/AD
        return guid_to_anchor(uuid.UUID(value[6:42].decode("ascii")).bytes_le)
    text = value.decode("utf-8")
    parts, dn = split_extended_dn(text)
    if "GUID" not in parts:
        raise ValueError(f"member value without a GUID: {dn[:200]!r}")
    return guid_text_to_anchor(parts["GUID"])


def _text(dn: str, name: str, value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Bad(name, f"value is not valid UTF-8 ({len(value)} bytes, bad byte at {exc.start})") from None


def decode_values(name: str, values: Sequence[bytes] | None, binary: frozenset[str]) -> tuple[str, ...]:
    if not values:
        return ()
    low = name.lower()
    if low in binary:
        if low in SID_ATTRIBUTES:
            try:
                return tuple([sid_to_text(v) for v in values])
            except ValueError as exc:
                raise _Bad(name, str(exc)) from None
        return tuple([base64.b64encode(v).decode("ascii") for v in values])
    try:
        out = [v.decode("utf-8") for v in values]
    except UnicodeDecodeError:
        out = [_text("", name, v) for v in values]  # names the bad value
    if low in DN_ATTRIBUTES:
        out = [plain_dn(v) for v in out]
    return tuple(out)


def _kind(classes: Iterable[str], category: str | None) -> ObjectKind | None | bool:
    """The kind, ``None`` if unknowable (no objectClass), ``False`` if not ours."""
    cls = {c.lower() for c in classes}
    if not cls:
        return None
    if "group" in cls:
        return ObjectKind.GROUP
    if "contact" in cls:
        return ObjectKind.CONTACT
    if "user" in cls:
        if category is None:
            return False if "computer" in cls else ObjectKind.USER
        first = category.split(",", 1)[0].lower()
        return ObjectKind.USER if first == "cn=person" else False
    return False


# Attributes whose values repeat across a page (few distinct values in a directory): one tuple
# per distinct value is kept per page (``shared``) and every object of the page points at it.
SHARED_VALUES: frozenset[str] = frozenset(
    {"objectclass", "objectcategory", "useraccountcontrol", "iscriticalsystemobject", "department", "company",
     "title", "l", "st", "c", "co", "physicaldeliveryofficename"}
)

_TEXT, _OTHER, _MEMBER = range(3)
_CLASS_CACHE: dict[tuple[str, frozenset[str]], tuple[str, int]] = {}


def _classify(name: str, binary: frozenset[str]) -> tuple[str, int]:
    """(lowercased name, how to decode it), cached: a read sees the same few names again and again."""
    key = (name, binary)
    hit = _CLASS_CACHE.get(key)
    if hit is None:
        low = name.lower()
        if low == "member" or low.startswith("member;"):
            code = _MEMBER
        elif low in binary or low in DN_ATTRIBUTES:
            code = _OTHER
        else:
            code = _TEXT
        if len(_CLASS_CACHE) > 4096:
            _CLASS_CACHE.clear()
        hit = _CLASS_CACHE[key] = (low, code)
    return hit


def from_ldap_entry(
    entry: RawEntry,
    *,
    partial: bool = False,
    binary: frozenset[str] = BINARY_ATTRIBUTES,
    complete_members: Sequence[bytes] | None = None,
    shared: dict[tuple[str, ...], tuple[str, ...]] | None = None,
) -> SourceObject | SourceObjectError | None:
    """Normalize one entry. ``complete_members`` replaces the entry's (ranged) member values.
    ``shared`` (one dict per page): equal values of the ``SHARED_VALUES`` attributes become one
    tuple, and ``distinguishedname``/``objectguid`` reuse the DN and GUID strings the object
    holds anyway (the same text, not a second copy per object)."""
    dn = plain_dn(entry.dn)
    guid_raw = _single(entry.raw, "objectGUID")
    guid = guid_to_anchor(guid_raw) if guid_raw and len(guid_raw) == 16 else None
    try:
        classes = decode_values("objectClass", _values(entry.raw, "objectClass"), binary)
        categories = decode_values("objectCategory", _values(entry.raw, "objectCategory"), binary)
        kind = _kind(classes, categories[0] if categories else None)
        if kind is False:
            return None  # not a user, group or contact: not ours, not an error
        if guid is None:
            raise _Bad("objectGUID", "missing or not 16 bytes")
        attrs: dict[str, tuple[str, ...]] = {}
        members: set[str] | None = None
        added: set[str] = set()
        removed: set[str] = set()
        for name, values in entry.raw.items():
            low, code = _classify(name, binary)
            link = _LINK_RANGE.match(name) if ";" in name else None
            if link is not None:
                base = link.group(1).lower()
                if link.group(2) == "1":
                    attrs[base] = decode_values(base, values, binary)
                else:
                    attrs.setdefault(base, ())
                continue
            if code == _TEXT:  # the common case, inlined
                if not values:
                    attrs[low] = ()
                    continue
                try:
                    attrs[low] = tuple([v.decode("utf-8") for v in values])
                except UnicodeDecodeError:
                    attrs[low] = decode_values(name, values, binary)  # raises, naming the attribute
                continue
            if code == _MEMBER:
                m = _RANGE.match(name)
                try:
                    guids = {member_guid(v) for v in values or ()}
                except (ValueError, UnicodeDecodeError) as exc:
                    raise _Bad(name, str(exc)) from None
                if m and partial and m.group(1) == "1" and m.group(2) == "1":
                    added |= guids
                elif m and partial and m.group(1) == "0" and m.group(2) == "0":
                    removed |= guids
                elif complete_members is None:
                    if m and m.group(2) != "*":
                        raise _Bad(name, "ranged member values without the rest of the range")
                    members = (members or set()) | guids
                continue
            attrs[low] = decode_values(name, values, binary)
        if shared is not None:
            for low in SHARED_VALUES.intersection(attrs):
                value = attrs[low]
                attrs[low] = shared.setdefault(value, value)
            if attrs.get("distinguishedname") == (dn,):
                attrs["distinguishedname"] = (dn,)
            if attrs.get("objectguid") == (guid,):
                attrs["objectguid"] = (guid,)
        if complete_members is not None:
            try:
                members = {member_guid(v) for v in complete_members}
            except (ValueError, UnicodeDecodeError) as exc:
                raise _Bad("member", str(exc)) from None
        deleted = (attrs.get("isdeleted") or ("FALSE",))[0].upper() == "TRUE"
        if kind is None and not (partial or deleted):
            raise _Bad("objectClass", "missing: cannot tell user, group or contact")
        if kind == ObjectKind.GROUP and members is None and not partial and not deleted:
            members = set()
        consistency = _single(entry.raw, "mS-DS-ConsistencyGuid")
        anchor = guid_to_anchor(consistency) if consistency else guid
        usn_text = (attrs.get("usnchanged") or (None,))[0]
        try:
            usn = int(usn_text) if usn_text is not None else None
        except ValueError:
            raise _Bad("uSNChanged", f"not an integer: {usn_text[:40]!r}") from None
        return SourceObject(
            anchor=anchor,
            object_guid=guid,
            kind=kind,
            dn=dn,
            attributes=attrs,
            members=frozenset(members) if members is not None else None,
            members_added=frozenset(added),
            members_removed=frozenset(removed),
            usn=usn,
            deleted=deleted,
            partial=partial,
        )
    except _Bad as bad:
        return SourceObjectError(dn=dn, attribute=bad.attribute, message=str(bad), object_guid=guid)


def _values(raw: Mapping[str, Sequence[bytes]], name: str) -> Sequence[bytes]:
    if name in raw:
        return raw[name] or ()
    low = name.lower()
    return next((v or () for k, v in raw.items() if k.lower() == low), ())


def _single(raw: Mapping[str, Sequence[bytes]], name: str) -> bytes | None:
    values = _values(raw, name)
    return values[0] if values else None


def range_of(name: str) -> tuple[int, int | None] | None:
    """``member;range=0-999`` -> (0, 999); ``member;range=1000-*`` -> (1000, None)."""
    m = _RANGE.match(name)
    if not m:
        return None
    return int(m.group(1)), None if m.group(2) == "*" else int(m.group(2))


def ranged_member_key(raw: Mapping[str, Sequence[bytes]]) -> str | None:
    for key in raw:
        if key.lower().startswith("member;range="):
            return key
    return None

"""Distinguished names, parsed once: AD's extended form (``<GUID=..>;<SID=..>;CN=..``), RFC 4514
parsing into comparable RDNs (escaped commas, hex escapes, multi-valued RDNs, case-insensitive,
unicode casefolded), a canonical text form and the "at or below" test. Pure.

The one DN parser of hybridsync's own: the planner's scope, the config's "under base_dn" check
and the AD connector's extended-DN handling all use it (the AD connector still lets ldap3 parse
what it sends to a DC).
"""

from __future__ import annotations

from collections.abc import Mapping

from hybridsync.engine.core.errors import HybridsyncError

__all__ = ["DnError", "ParsedDn", "Rdn", "dn_within", "manager_dn", "normalize_dn", "parse_dn", "plain_dn", "split_extended_dn"]

Rdn = tuple[tuple[str, str], ...]
ParsedDn = tuple[Rdn, ...]

_HEX = "0123456789abcdefABCDEF"


class DnError(HybridsyncError, ValueError):
    """A text that is not a DN."""


def _extended_end(value: str) -> int:
    """Where the plain DN starts in AD's extended form ``<GUID=..>;<SID=..>;CN=..`` (0 when
    ``value`` is not extended)."""
    i = 0
    while value.startswith("<", i):
        j = value.find(">", i)
        if j < 0:
            break
        i = j + 2 if value.startswith(";", j + 1) else j + 1
    return i


def plain_dn(value: str) -> str:
    """``<GUID=..>;<SID=..>;CN=x,...`` -> ``CN=x,...`` (unchanged when not extended)."""
    i = _extended_end(value)
    return value[i:] if i else value


def split_extended_dn(value: str) -> tuple[dict[str, str], str]:
    """``<GUID=..>;<SID=..>;CN=x,...`` -> ({'GUID': .., 'SID': ..}, 'CN=x,...')."""
    i = _extended_end(value)
    parts: dict[str, str] = {}
    for component in value[:i].split(">"):
        component = component.lstrip(";")
        if component.startswith("<"):
            key, _, val = component[1:].partition("=")
            parts[key.upper()] = val
    return parts, value[i:]


def unescape_value(raw: str, dn: str | None = None) -> str:
    """An RFC 4514 attribute value without its escapes (``\\,`` and ``\\2B`` forms); ``dn`` only
    names the DN in the error (the value itself when None)."""
    return _unescape(raw, raw if dn is None else dn)


def _unescape(raw: str, dn: str) -> str:
    out = bytearray()
    i, n = 0, len(raw)
    while i < n:
        ch = raw[i]
        if ch == "\\":
            pair = raw[i + 1:i + 3]
            if len(pair) == 2 and all(c in _HEX for c in pair):
                out.append(int(pair, 16))
                i += 3
                continue
            if i + 1 >= n:
                raise DnError(f"dangling backslash in DN {dn!r}")
            out += raw[i + 1].encode("utf-8")
            i += 2
            continue
        out += ch.encode("utf-8")
        i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DnError(f"invalid UTF-8 escape in DN {dn!r}") from exc


def _strip_unescaped(raw: str) -> str:
    """Drop leading spaces and trailing spaces that are not escaped (``\\ `` stays)."""
    value = raw.lstrip(" ")
    while value.endswith(" "):
        body = value[:-1]
        slashes = len(body) - len(body.rstrip("\\"))
        if slashes % 2:
            break
        value = body
    return value


def parse_dn(dn: str) -> ParsedDn:
    """Parse an RFC 4514 DN into RDNs of (attribute, value) pairs, normalized for comparison.

    Attribute types are lowercased; values are unescaped, surrounding unescaped spaces removed
    and casefolded; multi-valued RDNs (``+``) are sorted. ``#hex`` values are kept as lowercase.
    """
    text = _strip_unescaped(plain_dn(dn.lstrip()))
    if not text:
        return ()
    if "\\" not in text and "+" not in text and ";" not in text and '"' not in text and "#" not in text:
        fast: list[Rdn] = []  # the common case: no escapes, no multi-valued RDNs
        for part in text.split(","):
            attr, sep, value = part.partition("=")
            attr = attr.strip().lower()
            if not sep or not attr:
                raise DnError(f"missing '=' or attribute type in DN {dn!r}")
            fast.append(((attr, value.strip(" ").casefold()),))
        return tuple(fast)
    rdns: list[Rdn] = []
    pairs: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        eq = text.find("=", i)
        if eq < 0:
            raise DnError(f"missing '=' in DN {dn!r}")
        attr = text[i:eq].strip().lower()
        if not attr:
            raise DnError(f"empty attribute type in DN {dn!r}")
        j = eq + 1
        start = j
        while j < n and text[j] not in ",+;":
            j += 2 if text[j] == "\\" else 1
        raw = text[start:min(j, n)]
        stripped = _strip_unescaped(raw)
        if stripped.startswith("#"):
            value = stripped.lower()
        else:
            value = _unescape(stripped, dn).casefold()
        pairs.append((attr, value))
        if j >= n or text[j] in ",;":
            rdns.append(tuple(sorted(pairs)))
            pairs = []
        j += 1
        i = j
        if i == n and text[-1] in ",;+":
            raise DnError(f"DN ends with a separator: {dn!r}")
    return tuple(rdns)


def normalize_dn(dn: str) -> str:
    """A canonical text form of ``dn`` (equal for DNs that compare equal): the key of
    ``References.anchor_by_dn``."""
    return ",".join("+".join(f"{a}={_escape(v)}" for a, v in rdn) for rdn in parse_dn(dn))


def _escape(value: str) -> str:
    out = "".join("\\" + c if c in '\\,+;"<>=' else c for c in value)
    if out.endswith(" "):
        out = out[:-1] + "\\ "
    if out.startswith((" ", "#")):
        out = "\\" + out
    return out


def dn_within(dn: ParsedDn, base: ParsedDn) -> bool:
    """True if ``dn`` is ``base`` or below it."""
    return len(dn) >= len(base) and (not base or dn[-len(base):] == base)


def manager_dn(attributes: Mapping[str, object]) -> str | None:
    """The normalized DN (``normalize_dn``) that ``attributes``' ``manager`` names (any case of the
    name; one value, or a list of them: the first), None without one or when it is no DN. The
    store's reports-by-manager index (``objects.manager_dn``, migration m004) and the runtime's
    reports follow-up (``runtime.reports``) both key by it."""
    value = next((v for n, v in attributes.items() if n.lower() == "manager"), None)
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return normalize_dn(value)
    except ValueError:
        return None

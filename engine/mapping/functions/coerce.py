"""Value coercions of the mapping functions: the single- and multi-valued views of an
attribute, text/number/boolean/date conversions with Entra's rules, and comparison.

DateTime values are UTC and print as ``M/d/yyyy h:mm:ss tt`` (Entra's text for a date).
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from hybridsync.engine.mapping.functions.registry import IGNORE, MISSING, Invocation

UTC = timezone.utc
FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
FILETIME_NEVER = (0, 0x7FFFFFFFFFFFFFFF)
MONTHS = list(calendar.month_name)[1:]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

_ISO = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?$",
    re.I,
)
_US = re.compile(
    r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([AP]M))?)?$", re.I
)
_GENERALIZED = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(?:[.,](\d+))?(Z|[+-]\d{4})?$", re.I)


def utc_offset(text: str | None) -> timezone:
    if not text or text.upper() == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def microseconds(text: str | None) -> int:
    return int((text or "0")[:6].ljust(6, "0"))


def parse_datetime(text: str) -> datetime | None:
    """ISO 8601 (also date-only with an offset: ``2020-03-16-07:00``), ``M/d/yyyy h:mm:ss tt``
    and LDAP generalized time; no offset means UTC. Returns an aware UTC datetime or None."""
    s = text.strip()
    try:
        if m := _ISO.match(s):
            y, mo, d, h, mi, sec, frac, off = m.groups()
            dt = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(sec or 0), microseconds(frac))
            return dt.replace(tzinfo=utc_offset(off)).astimezone(UTC)
        if m := _US.match(s):
            mo, d, y, h, mi, sec, ampm = m.groups()
            hour = int(h or 0)
            if ampm:
                if not 1 <= hour <= 12:
                    return None
                hour = hour % 12 + (12 if ampm.upper() == "PM" else 0)
            return datetime(int(y), int(mo), int(d), hour, int(mi or 0), int(sec or 0), tzinfo=UTC)
        if m := _GENERALIZED.match(s):
            y, mo, d, h, mi, sec, frac, off = m.groups()
            dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec or 0), microseconds(frac))
            return dt.replace(tzinfo=utc_offset(off)).astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return None


def to_datetime(inv: Invocation | None, v: Any) -> datetime | None:
    v = first(v)
    if v is None:
        return None
    if isinstance(v, datetime):
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
    dt = parse_datetime(as_str(v) or "")
    if dt is None:
        if inv is None:
            raise ValueError(f"not a date: {v!r}")
        raise inv.fail(f"not a date/time: {str(v)[:40]!r}")
    return dt


def format_default(v: datetime) -> str:
    """Entra's DateTime text: ``M/d/yyyy h:mm:ss tt`` in UTC."""
    v = v.astimezone(UTC) if v.tzinfo else v
    h12 = v.hour % 12 or 12
    return f"{v.month}/{v.day}/{v.year} {h12}:{v.minute:02d}:{v.second:02d} {'AM' if v.hour < 12 else 'PM'}"


# --------------------------------------------------------------------------------------------
# Coercions
# --------------------------------------------------------------------------------------------


def unescape_string(body: str) -> str:
    r"""A string literal's body: ``\"`` -> ``"``, ``\\`` -> ``\``; other ``\x`` stay as written."""
    return re.sub(r'\\(["\\])', r"\1", body)


def is_null(v: Any) -> bool:
    return v is None or v is MISSING or v is IGNORE


def first(v: Any) -> Any:
    """Single-valued view: a multi-valued attribute contributes its first value."""
    if isinstance(v, list):
        return v[0] if v else None
    return None if v is MISSING or v is IGNORE else v


def as_list(v: Any) -> list[Any]:
    """Multi-valued view: null is [], a single value is [value]."""
    if is_null(v):
        return []
    return list(v) if isinstance(v, list) else [v]


def as_str(v: Any) -> str | None:
    v = first(v)
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, datetime):
        return format_default(v)
    return str(v)


def as_int(inv: Invocation, v: Any, what: str) -> int | None:
    v = first(v)
    if v is None:
        return None
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if v.is_integer():
            return int(v)
        raise inv.fail(f"{what} must be a whole number, got {v!r}")
    text = str(v).strip()
    try:
        if text[:2].lower() == "&h":
            return int(text[2:], 16)
        return int(text)
    except ValueError:
        try:
            f = float(text)
        except ValueError:
            raise inv.fail(f"{what} must be a number, got {_short(text)!r}") from None
        if f.is_integer():
            return int(f)
        raise inv.fail(f"{what} must be a whole number, got {_short(text)!r}") from None


def truthy(v: Any) -> bool:
    """CBool's rule: True, "True" (any case) or a non-zero number is true; everything else false."""
    v = first(v)
    if v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    text = str(v).strip()
    if text.lower() == "true":
        return True
    try:
        return float(text) != 0
    except ValueError:
        return False


def _short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[:n] + "..."


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    try:
        return float(str(v).strip())
    except ValueError:
        return None


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def compare(op: str, left: Any, right: Any) -> bool | None:
    """``=``, ``<>``, ``<``, ``<=``, ``>``, ``>=``. Numerically when one side is a number (a
    literal like ``5`` or a function result like DateDiff's) and the other reads as one; as dates
    when one side is a date; otherwise as text (case-sensitive, ordinal: "01" <> "1").
    A null side makes the comparison null."""
    left, right = first(left), first(right)
    if left is None or right is None:
        return None
    a: Any
    b: Any
    if isinstance(left, datetime) or isinstance(right, datetime):
        a, b = to_datetime(None, left), to_datetime(None, right)
    elif (_is_num(left) or _is_num(right)) and (na := _number(left)) is not None and (nb := _number(right)) is not None:
        a, b = na, nb
    else:
        a, b = as_str(left), as_str(right)
    if op == "=":
        return bool(a == b)
    if op == "<>":
        return bool(a != b)
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


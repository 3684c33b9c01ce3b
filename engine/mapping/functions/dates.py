"""Mapping-expression functions: dates (CDate, DateAdd, DateDiff, DateFromNum, FormatDateTime,
Now, NumFromDate). Registered into ``registry.FUNCTIONS`` on import.

Semantics follow Entra's reference
(https://learn.microsoft.com/en-us/entra/identity/app-provisioning/functions-for-customizing-application-data):
DateTime values are UTC and print as ``M/d/yyyy h:mm:ss tt``; DateAdd/DateDiff take VBA intervals
(yyyy, q, m, y, d, w, ww, h, n, s) and DateDiff counts boundaries crossed, as VBA does (that is
what makes Entra's documented -493 weeks / -113 months come out). FormatDateTime speaks .NET
custom date/time format strings (invariant culture).
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta
from typing import Any

from hybridsync.engine.mapping.functions.coerce import (
    DAYS,
    FILETIME_EPOCH,
    FILETIME_NEVER,
    MONTHS,
    UTC,
    as_int,
    as_str,
    first,
    microseconds,
    to_datetime,
    utc_offset,
)
from hybridsync.engine.mapping.functions.registry import Invocation, register

@register("Now", 0, context=True)
def now(inv: Invocation) -> datetime:
    clock: datetime = inv.ctx.clock
    return clock.replace(tzinfo=UTC) if clock.tzinfo is None else clock.astimezone(UTC)


@register("CDate", 1)
def cdate(inv: Invocation, v: Any) -> datetime | None:
    return to_datetime(inv, v)


@register("DateFromNum", 1)
def date_from_num(inv: Invocation, v: Any) -> datetime | None:
    n = as_int(inv, v, "value")
    if n is None or n in FILETIME_NEVER:
        return None
    if n < 0:
        raise inv.fail(f"not an AD date (negative): {n}")
    try:
        return FILETIME_EPOCH + timedelta(microseconds=n // 10)
    except OverflowError:
        raise inv.fail(f"AD date out of range: {n}") from None


@register("NumFromDate", 1)
def num_from_date(inv: Invocation, v: Any) -> int | None:
    dt = to_datetime(inv, v)
    if dt is None:
        return None
    delta = dt - FILETIME_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


_INTERVALS = ("yyyy", "q", "m", "y", "d", "w", "ww", "h", "n", "s")


def _check_interval(args: list[Any]) -> tuple[int, str] | None:
    if isinstance(args[0], str) and args[0].strip().lower() not in _INTERVALS:
        return 0, f"interval must be one of {', '.join(_INTERVALS)}; got {args[0]!r}"
    return None


def _check_formats(args: list[Any]) -> tuple[int, str] | None:
    for index, what, fmt in ((2, "inputFormat", args[2]), (3, "outputFormat", args[3])):
        if isinstance(fmt, str):
            try:
                tokenize(fmt)
            except ValueError as exc:
                return index, f"{what} {fmt!r}: {exc}"
    return None


def _interval(inv: Invocation, v: Any) -> str:
    name = (as_str(v) or "").strip().lower()
    if name not in _INTERVALS:
        raise inv.fail(f"interval must be one of {', '.join(_INTERVALS)}; got {name!r}")
    return name


def add_months(dt: datetime, months: int) -> datetime:
    total = dt.year * 12 + (dt.month - 1) + months
    year, month = divmod(total, 12)
    day = min(dt.day, calendar.monthrange(year, month + 1)[1])
    return dt.replace(year=year, month=month + 1, day=day)


@register("DateAdd", 3, check=_check_interval)
def date_add(inv: Invocation, interval: Any, value: Any, date: Any) -> datetime | None:
    unit = _interval(inv, interval)
    n = as_int(inv, value, "value")
    dt = to_datetime(inv, date)
    if n is None or dt is None:
        return None
    try:
        if unit in ("yyyy", "q", "m"):
            return add_months(dt, n * {"yyyy": 12, "q": 3, "m": 1}[unit])
        step = {"y": timedelta(days=1), "d": timedelta(days=1), "w": timedelta(days=1),
                "ww": timedelta(weeks=1), "h": timedelta(hours=1), "n": timedelta(minutes=1),
                "s": timedelta(seconds=1)}[unit]
        return dt + n * step
    except (OverflowError, ValueError):
        raise inv.fail("result is out of the representable date range") from None


@register("DateDiff", 3, check=_check_interval)
def date_diff(inv: Invocation, interval: Any, date1: Any, date2: Any) -> int | None:
    """date2 - date1 in whole ``interval`` boundaries crossed (VBA DateDiff)."""
    unit = _interval(inv, interval)
    a, b = to_datetime(inv, date1), to_datetime(inv, date2)
    if a is None or b is None:
        return None
    if unit == "yyyy":
        return b.year - a.year
    if unit == "q":
        return (b.year * 4 + (b.month - 1) // 3) - (a.year * 4 + (a.month - 1) // 3)
    if unit == "m":
        return (b.year * 12 + b.month) - (a.year * 12 + a.month)
    days = b.date().toordinal() - a.date().toordinal()
    if unit in ("y", "d"):
        return days
    if unit == "w":
        return int(days / 7)
    if unit == "ww":  # Sundays crossed (proleptic ordinal 7 is a Sunday)
        return b.date().toordinal() // 7 - a.date().toordinal() // 7
    size = {"h": 3600, "n": 60, "s": 1}[unit]
    ta = (a - FILETIME_EPOCH) // timedelta(seconds=1)
    tb = (b - FILETIME_EPOCH) // timedelta(seconds=1)
    return tb // size - ta // size


# --------------------------------------------------------------------------------------------
# FormatDateTime: .NET custom format strings
# --------------------------------------------------------------------------------------------

_STANDARD = {
    "o": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
    "s": "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
    "u": "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
    "d": "MM/dd/yyyy",
    "D": "dddd, dd MMMM yyyy",
    "g": "MM/dd/yyyy HH:mm",
    "G": "MM/dd/yyyy HH:mm:ss",
    "t": "HH:mm",
    "T": "HH:mm:ss",
}
_LETTERS = set("yMdhHmsfFtzKg")


def tokenize(fmt: str) -> list[tuple[str, str | int]]:
    """[("lit", text) | (letter, run length)] for a .NET custom format string."""
    if len(fmt) == 1:
        std = _STANDARD.get(fmt) or _STANDARD.get(fmt.lower() if fmt in "oO" else fmt)
        if std is None:
            raise ValueError(f"unsupported standard format {fmt!r}")
        fmt = std
    out: list[tuple[str, str | int]] = []
    i = 0
    while i < len(fmt):
        c = fmt[i]
        if c in "'\"":
            j = fmt.find(c, i + 1)
            if j < 0:
                raise ValueError("unterminated quote in format")
            out.append(("lit", fmt[i + 1 : j]))
            i = j + 1
        elif c == "\\":
            if i + 1 >= len(fmt):
                raise ValueError("dangling backslash in format")
            out.append(("lit", fmt[i + 1]))
            i += 2
        elif c == "%":
            i += 1
        elif c in _LETTERS:
            j = i
            while j < len(fmt) and fmt[j] == c:
                j += 1
            out.append((c, j - i))
            i = j
        else:
            out.append(("lit", c))
            i += 1
    return out


def format_dotnet(dt: datetime, fmt: str) -> str:
    parts: list[str] = []
    off = dt.utcoffset() if dt.tzinfo else timedelta(0)
    for kind, n in tokenize(fmt):
        if kind == "lit":
            parts.append(str(n))
            continue
        assert isinstance(n, int)
        if kind == "y":
            parts.append(str(dt.year % 100) if n == 1 else f"{dt.year % 100:02d}" if n == 2 else f"{dt.year:0{n}d}")
        elif kind == "M":
            parts.append([str(dt.month), f"{dt.month:02d}", MONTHS[dt.month - 1][:3], MONTHS[dt.month - 1]][min(n, 4) - 1])
        elif kind == "d":
            wd = DAYS[dt.weekday()]
            parts.append([str(dt.day), f"{dt.day:02d}", wd[:3], wd][min(n, 4) - 1])
        elif kind in "hHms":
            v = {"h": dt.hour % 12 or 12, "H": dt.hour, "m": dt.minute, "s": dt.second}[kind]
            parts.append(str(v) if n == 1 else f"{v:02d}")
        elif kind in "fF":
            if n > 7:
                raise ValueError("at most 7 fraction digits")
            digits = f"{dt.microsecond:06d}0"[:n]
            if kind == "F":
                digits = digits.rstrip("0")
                if not digits and parts and parts[-1] == ".":
                    parts.pop()
            parts.append(digits)
        elif kind == "t":
            parts.append(("AM" if dt.hour < 12 else "PM")[: 1 if n == 1 else 2])
        elif kind in "zK":
            if kind == "K" and dt.tzinfo is not None and off == timedelta(0):
                parts.append("Z")
                continue
            total = int(off.total_seconds() // 60) if off is not None else 0
            sign = "-" if total < 0 else "+"
            hh, mm = divmod(abs(total), 60)
            parts.append(f"{sign}{hh}" if n == 1 and kind == "z" else f"{sign}{hh:02d}" if n == 2 else f"{sign}{hh:02d}:{mm:02d}")
        elif kind == "g":
            parts.append("A.D.")
    return "".join(parts)


def parse_dotnet(text: str, fmt: str) -> datetime:
    pattern: list[str] = []
    seen: set[str] = set()
    for kind, n in tokenize(fmt):
        if kind == "lit":
            pattern.append(re.escape(str(n)))
            continue
        assert isinstance(n, int)
        if kind == "y":
            rx = r"\d{1,2}" if n <= 2 else r"\d{%d,5}" % n
        elif kind == "M":
            rx = r"\d{1,2}" if n == 1 else r"\d{2}" if n == 2 else "|".join(m[:3] if n == 3 else m for m in MONTHS)
        elif kind == "d":
            rx = r"\d{1,2}" if n == 1 else r"\d{2}" if n == 2 else "|".join(d[:3] if n == 3 else d for d in DAYS)
        elif kind in "hHms":
            rx = r"\d{1,2}" if n == 1 else r"\d{2}"
        elif kind == "f":
            rx = r"\d{%d}" % n
        elif kind == "F":
            rx = r"\d{0,%d}" % n
        elif kind == "t":
            rx = "[AP]" if n == 1 else "AM|PM"
        elif kind == "z":
            rx = r"[+-]\d{1,2}" if n == 1 else r"[+-]\d{2}" if n == 2 else r"[+-]\d{2}:\d{2}"
        elif kind == "K":
            rx = r"Z|[+-]\d{2}:\d{2}|"
        else:
            rx = r"A\.D\.|AD"
        key = {"d": "dname", "M": "mname"}.get(kind, kind) if n >= 3 and kind in "dM" else kind
        if key in seen:
            pattern.append(f"(?:{rx})")
        else:
            seen.add(key)
            pattern.append(f"(?P<{key}>{rx})")
    m = re.fullmatch("".join(pattern), text.strip(), re.I)
    if not m:
        raise ValueError(f"does not match inputFormat {fmt!r}")
    g = {k: v for k, v in m.groupdict().items() if v is not None}
    year = int(g.get("y", "1"))
    if "y" in g and len(g["y"]) <= 2:
        year += 2000 if year < 50 else 1900
    month = int(g["M"]) if "M" in g else (
        [x.lower()[: len(g["mname"])] for x in MONTHS].index(g["mname"].lower()) + 1 if "mname" in g else 1)
    hour = int(g.get("H", g.get("h", "0")))
    if "t" in g:
        hour = hour % 12 + (12 if g["t"].upper().startswith("P") else 0)
    frac = g.get("f") or g.get("F") or ""
    dt = datetime(year, month, int(g.get("d", "1")), hour, int(g.get("m", "0")), int(g.get("s", "0")), microseconds(frac))
    off = g.get("z") or g.get("K")
    if off:
        if len(off) <= 3 and off.upper() != "Z":
            off = f"{off[0]}{int(off[1:]):02d}:00"
        return dt.replace(tzinfo=utc_offset(off))
    return dt


@register("FormatDateTime", 4, required=(0, 2, 3), check=_check_formats)
def format_date_time(inv: Invocation, source: Any, styles: Any, input_format: Any, output_format: Any) -> str | None:
    value = first(source)
    if value is None:
        return None
    infmt, outfmt = as_str(input_format) or "", as_str(output_format) or ""
    try:
        dt = value if isinstance(value, datetime) else parse_dotnet(as_str(value) or "", infmt)
    except (ValueError, OverflowError) as exc:
        raise inv.fail(f"{str(as_str(value))[:40]!r} {exc}") from None
    try:
        return format_dotnet(dt, outfmt)
    except ValueError as exc:
        raise inv.fail(f"outputFormat {outfmt!r}: {exc}") from None

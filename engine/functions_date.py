"""Mapping-expression functions (date); registered into functions.FUNCTIONS on import."""

from datetime import datetime, timezone


def format_default(v: datetime) -> str:
    v = v.astimezone(timezone.utc) if v.tzinfo else v
    h12 = v.hour % 12 or 12
    return f"{v.month}/{v.day}/{v.year} {h12}:{v.minute:02d}:{v.second:02d} {'AM' if v.hour < 12 else 'PM'}"


def to_datetime(inv, v):  # placeholder, replaced by the full implementation
    return v

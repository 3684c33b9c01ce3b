"""Attribute diffs and the reasons that name them. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hybridsync.engine.core.values import ObjectKind, Reason, SourceObject

__all__ = ["attribute_diff", "changed_reason", "counted_reason", "disabled_in_ad"]

_CHANGED: dict[str, Reason] = {}  # path -> Reason(f"mapping.{path}", "changed"), made once
_COUNTED: dict[tuple[str, int], Reason] = {}  # (kind, n) -> Reason(f"mapping.{kind}", "n attributes")


def changed_reason(path: str) -> Reason:
    r = _CHANGED.get(path)
    if r is None:
        r = Reason(f"mapping.{path}", "changed")
        if len(_CHANGED) < 4096:
            _CHANGED[path] = r
    return r


def counted_reason(kind: ObjectKind, n: int) -> Reason:
    r = _COUNTED.get((kind, n))
    if r is None:
        r = Reason(f"mapping.{kind}", f"{n} attributes")
        if len(_COUNTED) < 4096:
            _COUNTED[(kind, n)] = r
    return r


def disabled_in_ad(obj: SourceObject) -> bool:
    """``obj.disabled`` (userAccountControl bit 2), read without the property chain."""
    vals = obj.attributes.get("useraccountcontrol")
    try:
        return bool(int((vals[0] if vals else None) or 0) & 2)
    except ValueError:
        return False


_MISSING = object()


def _norm(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return tuple(_norm(x) for x in v)
    return v


def attribute_diff(desired: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """The minimal diff taking ``base`` (last applied projection) to ``desired``.

    Paths absent from ``desired`` are left alone; ``None`` clears a path that ``base`` holds.
    """
    get = base.get
    for path, value in desired.items():  # the common case first: nothing changed (no sort)
        old = get(path, _MISSING)
        if old is _MISSING:
            if value is not None:
                break
        elif old != value and (type(old) is type(value) or _norm(old) != _norm(value)):
            break
    else:
        return {}
    out: dict[str, Any] = {}
    for path in sorted(desired):
        value = desired[path]
        old = base.get(path, _MISSING)
        if old is _MISSING:
            if value is not None:
                out[path] = value
        elif old != value and (type(old) is type(value) or _norm(old) != _norm(value)):
            out[path] = value
    return out

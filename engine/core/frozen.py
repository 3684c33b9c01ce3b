"""Immutable mappings for frozen attrs values: ``frozen_mapping`` (any mapping) and
``freeze_attributes`` (an LDAP attribute mapping: lowercased names, tuple values)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

__all__ = ["freeze_attributes", "frozen_mapping"]


def freeze_attributes(value: Mapping[str, Any] | None) -> Mapping[str, tuple[str, ...]]:
    """Normalize an attribute mapping: lowercase names, values as tuples of str.

    A mapping this function already produced is returned as it is (it is immutable): building a
    ``SourceObject`` from a stored ``ObjectState`` (or another SourceObject) costs nothing.
    """
    if type(value) is _FrozenAttrs:
        return value
    out: dict[str, tuple[str, ...]] = {}
    for name, vals in (value or {}).items():
        if type(vals) is not tuple:  # tuple(a_tuple) is that tuple: skip the call
            vals = (vals,) if isinstance(vals, (str, bytes)) else tuple(vals)
        out[name.lower()] = vals
    return _FrozenAttrs(out)


class _FrozenDict(dict[str, Any]):
    """A dict that refuses mutation and hashes by content (for frozen attrs values)."""

    __slots__ = ()

    def _refuse(self, *a: object, **k: object) -> NoReturn:  # pragma: no cover - trivial
        raise TypeError("frozen mapping")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted((k, v if not isinstance(v, list) else tuple(v)) for k, v in self.items())))


class _FrozenAttrs(_FrozenDict):
    """What ``freeze_attributes`` returns: names already lowercased, values already tuples."""

    __slots__ = ()


_EMPTY = _FrozenDict()


def frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """An immutable copy of ``value`` (a mapping that is already frozen is returned as it is)."""
    if isinstance(value, _FrozenDict):
        return value
    if not value:
        return _EMPTY
    return _FrozenDict(value)

"""Evidence for absence (issue 14, finding 1): what a full read may take as "gone".

- An object the source reported as a per-object error (``SourceBatch.errors``) was SEEN: it
  exists, it only could not be decoded. It is never absent. An error that does not name its
  objectGUID could be any object: a full read that had one proves no absence at all.
- Before an object absent from a complete full read is disabled, the source confirms it by a
  direct lookup by objectGUID (AD: a base search on ``<GUID=...>``; one cheap read per
  candidate). Found under the read's base DN -> the paged read missed it (moved between pages,
  say): left alone and reported. Found elsewhere, or not found -> confirmed. The lookup failing
  -> unconfirmable: left alone and reported; the next complete full read asks again.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import attrs

from hybridsync.engine.core.dn import DnError, dn_within, parse_dn
from hybridsync.engine.core.values import ObjectState, SourceBatch, SourceObject, SourceObjectError

UNNAMED = "\x00unnamed-error"  # in a full read's ``seen``: an error without objectGUID occurred


_SURROGATE = re.compile("[\ud800-\udfff]")


def _bad_text(obj: SourceObject) -> str | None:
    """Which text of ``obj`` is not valid Unicode (a lone surrogate from a source plugin)."""
    if _surrogate(obj.dn) or _surrogate(obj.anchor):
        return "dn"
    for name, values in obj.attributes.items():
        for v in (values,) if isinstance(values, str) else values:
            if isinstance(v, str) and _surrogate(v):
                return name
    return None


def _surrogate(text: str) -> bool:
    """A lone surrogate in ``text`` (ASCII text, nearly every value, is answered without the regex)."""
    return not text.isascii() and _SURROGATE.search(text) is not None


def screen(batch: SourceBatch) -> SourceBatch:
    """``batch`` with every object holding bad text moved to its per-object errors (with its
    objectGUID: the object is seen, and only it fails)."""
    bad = [(o, a) for o in batch.objects if (a := _bad_text(o)) is not None]
    if not bad:
        return batch
    drop = {id(o) for o, _ in bad}
    errors = tuple(SourceObjectError(o.dn.encode("utf-8", "backslashreplace").decode("utf-8"), attr,
                                     "a lone surrogate: not valid Unicode text", object_guid=o.object_guid)
                   for o, attr in bad)
    return attrs.evolve(batch, objects=tuple(o for o in batch.objects if id(o) not in drop),
                        errors=batch.errors + errors)


class ScreenedSource:
    """A source whose batches are ``screen``ed before anyone (the recorder included) sees them."""

    def __init__(self, inner: Any):
        self._inner = inner

    def read(self, cursor: Any) -> Iterator[SourceBatch]:
        return map(screen, self._inner.read(cursor))

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._inner, attr)


def errored_anchors(store: Any, source: str, errors: Iterable[SourceObjectError]) -> list[str]:
    """The anchors of the objects behind per-object errors (UNNAMED for one without objectGUID)."""
    out: list[str] = []
    for err in errors:
        if not err.object_guid:
            out.append(UNNAMED)
            continue
        st = store.object_by_guid(source, err.object_guid)
        out.append(st.anchor if st is not None else err.object_guid)
    return out


def lookup_by_guid(source: Any, object_guid: str) -> SourceObject | None:
    """The live object with ``object_guid`` now, or None when the source says it is gone."""
    lookup = getattr(source, "lookup_guid", None)
    if lookup is not None:
        found: SourceObject | None = lookup(object_guid)
    else:  # a third-party source without the optional method: its read_object by GUID
        found = source.read_object(object_guid)
    return None if found is None or found.deleted else found


def confirm_absent(source: Any, base_dn: str, states: Sequence[ObjectState]
                   ) -> tuple[set[str], list[tuple[ObjectState, str]]]:
    """(anchors confirmed gone, [(state, why it is left alone)])."""
    confirmed: set[str] = set()
    left: list[tuple[ObjectState, str]] = []
    base = _parsed(base_dn)
    for st in states:
        try:
            found = lookup_by_guid(source, st.object_guid)
        except Exception as exc:  # noqa: BLE001 - any failure means "not confirmed"
            left.append((st, f"absent from the full read but not confirmed by a lookup by objectGUID "
                             f"({type(exc).__name__}: {exc}); left alone"))
            continue
        if found is None:
            confirmed.add(st.anchor)
            continue
        where = _parsed(found.dn)
        if base is None or where is None or dn_within(where, base):
            left.append((st, f"absent from the full read but present by a lookup by objectGUID at "
                             f"{found.dn!r}; left alone"))
        else:
            confirmed.add(st.anchor)  # moved out of the read's base: gone from what we sync
    return confirmed, left


def window_counts(store: Any, safety: Any, targets: Iterable[str], now: datetime) -> dict[str, int]:
    """Per target, the access-removing actions applied within ``delete_threshold_window``: what
    the delete threshold has already used when a cycle begins (issue 14, finding 3)."""
    count = getattr(store, "access_removals", None)
    if count is None:
        return {}
    since = now - timedelta(seconds=safety.delete_threshold_window)
    return {name: int(count(name, since)) for name in targets}


def _parsed(dn: str) -> Any:
    try:
        return parse_dn(dn)
    except DnError:
        return None


__all__ = ["UNNAMED", "ScreenedSource", "confirm_absent", "errored_anchors", "lookup_by_guid", "screen", "window_counts"]

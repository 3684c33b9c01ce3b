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

from collections.abc import Iterable, Sequence
from typing import Any

from hybridsync.engine.core.dn import DnError, dn_within, parse_dn
from hybridsync.engine.core.values import ObjectState, SourceObject, SourceObjectError

UNNAMED = "\x00unnamed-error"  # in a full read's ``seen``: an error without objectGUID occurred


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


def _parsed(dn: str) -> Any:
    try:
        return parse_dn(dn)
    except DnError:
        return None


__all__ = ["UNNAMED", "confirm_absent", "errored_anchors", "lookup_by_guid"]

"""``whenChanged`` for the objects of a DirSync page (the engine's lag metric, issue 17).

DirSync returns only the replicated attributes that changed; ``whenChanged`` is not replicated
(each DC keeps its own), so a DirSync entry never carries it (a USN delta and a full read do:
it is among ``query.FIXED_ATTRIBUTES``). After each DirSync page with objects, ONE indexed
search per ``CHUNK`` objects (``(|(objectGUID=..)..)``, Show Deleted for tombstones, two
attributes) reads it from the same DC, and each object gets it as ``whenchanged``. The value is
the DC's: when the change reached the DC the engine reads (for an edit made on another DC, its
replication time). Read after the DirSync, it may already be a later edit's (the lag then reads
shorter; that edit comes with the next delta). A failed search costs only the metric: the page
is yielded as read, logged ``ad.when_changed_unread``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import ldap3
from ldap3.utils.conv import escape_bytes

from hybridsync.connectors.ad import connection as cx
from hybridsync.connectors.ad import query
from hybridsync.engine.core.values import SourceObject

CHUNK = 100  # objectGUIDs per search filter
Search = Callable[..., list[dict]]  # AdSource._search


def with_when_changed(search: Search, base: str, objects: Sequence[SourceObject], log: Any) -> tuple[SourceObject, ...]:
    """``objects`` with ``whenchanged`` read from the DC for those that lack it."""
    wanted: dict[bytes, int] = {}
    for i, o in enumerate(objects):
        if not o.get("whenChanged"):
            try:
                raw = base64.b64decode(o.object_guid, validate=True)
            except (binascii.Error, ValueError):
                continue
            wanted[raw] = i
    if not wanted:
        return tuple(objects)
    found: dict[int, str] = {}
    guids = list(wanted)
    try:
        for start in range(0, len(guids), CHUNK):
            part = guids[start:start + CHUNK]
            flt = "(|" + "".join(f"(objectGUID={escape_bytes(g)})" for g in part) + ")"
            for e in search("read", base, flt, ldap3.SUBTREE, attributes=["objectGUID", "whenChanged"],
                            controls=[query.show_deleted()]):
                guid, when = cx.first_value(e, "objectGUID"), cx.first_value(e, "whenChanged")
                if guid in wanted and when:
                    found[wanted[guid]] = when.decode("ascii", "replace")
    except Exception as exc:  # noqa: BLE001 - only the lag metric depends on it
        log.info("ad.when_changed_unread", objects=len(wanted), error=f"{type(exc).__name__}: {exc}"[:300])
        return tuple(objects)
    return tuple(attrs.evolve(o, attributes={**o.attributes, "whenchanged": (found[i],)}) if i in found else o
                 for i, o in enumerate(objects))


__all__ = ["CHUNK", "with_when_changed"]

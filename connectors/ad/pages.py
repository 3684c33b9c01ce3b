"""A page of LDAP entries -> SourceObjects, following ranged ``member`` values to the end.

The only I/O is the ``read_range(dn, attribute)`` callable the source passes in (a base search
that returns ``[]`` when the group is gone and raises ``Retriable``/``Permanent`` otherwise).
A group whose ranged read fails is reported as a ``SourceObjectError`` (with its objectGUID, so
the engine never takes its absence from a complete read as a delete), never with a truncated
member list. A ``Retriable`` failure propagates: the read as a whole fails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hybridsync.connectors.ad import normalize, query
from hybridsync.engine.core.dn import plain_dn
from hybridsync.engine.core.errors import Permanent
from hybridsync.engine.core.values import SourceObject, SourceObjectError, guid_to_anchor

ReadRange = Callable[[str, str], list[dict]]

SUCCESS = 0


def result_problem(result: Any) -> str | None:
    """Why a search answer is not a complete page, or None. ldap3 does not raise on
    timeLimitExceeded (3), sizeLimitExceeded (4) and a few others: every page is checked, and
    anything but success makes the read incomplete (the caller raises a retriable error)."""
    if not isinstance(result, dict):
        return "no result for the search"
    code = result.get("result")
    if code == SUCCESS:
        return None
    return f"search answered {code} {result.get('description', '')} {result.get('message', '')}".strip()


def normalize_page(
    found: list[Any],
    *,
    partial: bool,
    binary: frozenset[str],
    member_range: int | None,
    read_range: ReadRange,
    log: Any,
) -> tuple[tuple[SourceObject, ...], tuple[SourceObjectError, ...]]:
    """Normalize a page of ldap3 entries. ``found`` is CONSUMED: each raw entry is dropped from
    it as its object is made, so a page is not held twice (raw ~5 KB + object ~4 KB per user
    on Samba: the raw page is freed as the objects grow, not after). The caller must hold no
    other reference to the entries (clear ``conn.response`` first)."""
    objects: list[SourceObject] = []
    errs: list[SourceObjectError] = []
    shared: dict[tuple[str, ...], tuple[str, ...]] = {}
    for i in range(len(found)):
        item, found[i] = found[i], None
        entry = normalize.RawEntry.from_ldap3(item)
        del item
        complete = None
        key = normalize.ranged_member_key(entry.raw)
        if key is not None and not partial:
            complete = follow_ranges(entry, key, member_range=member_range, read_range=read_range)
            if isinstance(complete, SourceObjectError):
                log.warning("ad.object_error", dn=complete.dn, attribute=complete.attribute, error=complete.message)
                errs.append(complete)
                continue
        result = normalize.from_ldap_entry(entry, partial=partial, binary=binary, complete_members=complete,
                                           shared=shared)
        del entry, complete
        if isinstance(result, SourceObjectError):
            log.warning("ad.object_error", dn=result.dn, attribute=result.attribute, error=result.message)
            errs.append(result)
        elif result is not None:
            objects.append(result)
    return tuple(objects), tuple(errs)


def follow_ranges(
    entry: normalize.RawEntry, key: str, *, member_range: int | None, read_range: ReadRange
) -> list[bytes] | SourceObjectError:
    """All member values of a group whose ``member`` came ranged; never a truncated list."""
    dn = plain_dn(entry.dn)
    guid_raw = normalize._single(entry.raw, "objectGUID")
    guid = guid_to_anchor(guid_raw) if guid_raw else None

    def failed(message: str) -> SourceObjectError:
        return SourceObjectError(dn, "member", message, object_guid=guid)

    values = list(entry.raw[key] or ())
    span = normalize.range_of(key)
    while span is not None and span[1] is not None:
        start = span[1] + 1
        want = query.member_range_attribute(start, member_range)
        try:
            found = read_range(dn, want)
        except Permanent as exc:
            return failed(f"ranged member read failed at {start}: {exc}")
        if not found:
            return failed(f"ranged member read failed at {start}: the group is gone")
        raw = found[0]["raw_attributes"]
        next_key = normalize.ranged_member_key(raw)
        if next_key is None:
            return failed(f"ranged member read stopped at {start} without reaching '*'")
        span = normalize.range_of(next_key)
        if span is None or span[0] != start:
            return failed(f"asked {want}, got {next_key}")
        values.extend(raw[next_key] or ())
    return values

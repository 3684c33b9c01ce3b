"""Merge what a read returned with what the store remembers: pure, no I/O.

A DirSync delta carries only the changed attributes, incremental member values, and tombstones
without objectClass or UPN. The planner wants whole objects, so every partial object is merged
with the stored ``ObjectState`` into a full ``SourceObject`` here. A tombstone takes its kind
(and the stored anchor, which may be mS-DS-ConsistencyGuid rather than objectGUID) from the store.

The attributes AD derives from the RDN (``cn`` or ``ou``, and ``name``) follow the merged DN: a
rename or a move arrives as the new DN, ``name`` and ``parentGUID`` without ``cn``, so the stored
``cn`` would otherwise stay stale for good (issue 16). They are recomputed from the DN of every
live object, in every read mode, whatever the record carried.
"""

from __future__ import annotations

from datetime import datetime

from attrs import frozen

from hybridsync.engine.core.dn import DnError, plain_dn, unescape_value
from hybridsync.engine.core.values import ObjectKind, ObjectState, SourceObject


@frozen
class Merged:
    """The full view of one object after a read, or why there is none."""

    obj: SourceObject | None
    problem: str | None = None  # e.g. a delta for an object never seen whose kind is unknown
    changed: tuple[str, ...] = ()  # attribute names whose value changed vs the store (+ "dn", "members")


def merge(stored: ObjectState | None, seen: SourceObject) -> Merged:
    """Return the full object after applying ``seen`` (full or partial) on top of ``stored``."""
    kind: ObjectKind | None = seen.kind or (stored.kind if stored else None)
    anchor = stored.anchor if stored is not None else seen.anchor
    if kind is None:
        if seen.deleted:
            return Merged(None, f"tombstone {seen.object_guid} of an object never seen: nothing to do")
        return Merged(None, f"{seen.dn}: object kind unknown (partial read of an object never seen)")

    if seen.deleted:
        base = stored.as_source_object() if stored is not None else seen
        obj = SourceObject(
            anchor=anchor, object_guid=seen.object_guid or base.object_guid, kind=kind,
            dn=stored.dn if stored is not None else seen.dn, attributes=base.attributes,
            members=frozenset(), usn=seen.usn if seen.usn is not None else base.usn, deleted=True,
        )
        return Merged(obj, changed=("deleted",))

    if seen.partial and stored is not None:
        attrs = dict(stored.attributes)
        for name, values in seen.attributes.items():
            if values:
                attrs[name] = values
            else:
                attrs.pop(name, None)
    else:
        attrs = {n: v for n, v in seen.attributes.items() if v}

    old_members = stored.members if stored is not None else frozenset()
    if seen.members is not None:
        members = frozenset(seen.members)
    elif seen.partial:
        members = old_members
    else:
        members = frozenset() if kind != ObjectKind.GROUP else old_members
    members = (members | seen.members_added) - seen.members_removed

    dn = seen.dn or (stored.dn if stored else "")
    attrs.update(rdn_attributes(dn))
    obj = SourceObject(
        anchor=anchor, object_guid=seen.object_guid or (stored.object_guid if stored else anchor),
        kind=kind, dn=dn, attributes=attrs,
        members=members if kind == ObjectKind.GROUP else None,
        usn=seen.usn if seen.usn is not None else (stored.usn if stored else None),
    )
    return Merged(obj, changed=_changed(stored, obj))


_RDN_TYPES = {"cn": "cn", "ou": "ou"}


def rdn_attributes(dn: str) -> dict[str, tuple[str, ...]]:
    """The attributes AD derives from ``dn``'s first RDN, case kept: ``{"cn"|"ou": v, "name": v}``.

    Empty for a DN that can't be read, a multi-valued RDN or an RDN type other than CN/OU (the
    record's values are then kept as they are).
    """
    text = plain_dn(dn).lstrip()
    i, n = 0, len(text)
    while i < n and text[i] not in ",+;":
        i += 2 if text[i] == "\\" else 1
    if i < n and text[i] == "+":
        return {}
    attr, sep, raw = text[:i].partition("=")
    key = _RDN_TYPES.get(attr.strip().lower())
    if not sep or key is None:
        return {}
    try:
        value = unescape_value(raw.strip(" ") if not raw.endswith("\\ ") else raw.lstrip(" "))
    except DnError:
        return {}
    if not value:
        return {}
    return {key: (value,), "name": (value,)}


def _changed(stored: ObjectState | None, obj: SourceObject) -> tuple[str, ...]:
    if stored is None:
        return ("created",)
    out = []
    if stored.deleted:
        out.append("undeleted")
    if stored.dn != obj.dn:
        out.append("dn")
    before = {**stored.attributes, **rdn_attributes(stored.dn)} if not stored.deleted else dict(stored.attributes)
    names = set(before) | set(obj.attributes)
    out.extend(sorted(n for n in names if before.get(n, ()) != obj.attributes.get(n, ())))
    if obj.kind == ObjectKind.GROUP and (obj.members or frozenset()) != stored.members:
        out.append("members")
    return tuple(out)


def to_state(source: str, obj: SourceObject, *, round_no: int = 0, previous: ObjectState | None = None,
             deleted_at: datetime | None = None) -> ObjectState:
    """The ObjectState to store for a merged object."""
    return ObjectState(
        source=source, anchor=obj.anchor, object_guid=obj.object_guid, kind=obj.kind or ObjectKind.USER,
        dn=obj.dn, attributes=obj.attributes, members=frozenset(obj.members or ()), usn=obj.usn,
        deleted=obj.deleted,
        deleted_at=deleted_at if obj.deleted else None,
        last_seen_round=round_no or (previous.last_seen_round if previous else 0),
    )

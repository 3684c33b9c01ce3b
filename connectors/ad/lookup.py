"""Reading one object now: by any reference (``read_object``) or by objectGUID alone with a base
search on ``<GUID=...>`` (``lookup_guid``: how the engine confirms an absence, issue 14)."""

from __future__ import annotations

import uuid
from typing import Any

import ldap3

from hybridsync.connectors.ad import query
from hybridsync.engine.core.errors import ObjectError
from hybridsync.engine.core.values import SourceObject


def read_object(src: Any, ref: str) -> SourceObject | None:
    with src._lock:
        src._start()
        lk = query.lookup_for(ref)
        attrs = list(query.with_member_range(src.attributes, src.member_range))
        controls = [query.extended_dn()]
        if lk.dn is not None:
            found = src._search("read", lk.dn, "(objectClass=*)", ldap3.BASE, missing_ok=True, attributes=attrs,
                                 controls=controls)
        else:
            if lk.kind == "guid":
                controls.append(query.show_deleted())
            found = src._search("read", src.naming_context, lk.filter, ldap3.SUBTREE, attributes=attrs,
                                 controls=controls)
        objects, errs = src._normalize_page(found, partial=False)
        if errs:
            e = errs[0]
            raise ObjectError(e.message, object_ref=e.dn, stage="normalize", attribute=e.attribute)
        live = [o for o in objects if not o.deleted] or list(objects)
        if len(live) > 1:
            raise ObjectError(f"{ref!r} matches {len(live)} objects", object_ref=ref, stage="ldap_read")
        return live[0] if live else None


def lookup_guid(src: Any, object_guid: str) -> SourceObject | None:
    """The live object with ``object_guid`` by a base search on ``<GUID=...>`` (no Show
    Deleted), or None when AD answers noSuchObject. Raises when the answer proves nothing
    (unreadable object, DC failure): the engine then leaves the object alone."""
    raw = query.parse_guid_ref(object_guid)
    if raw is None:
        raise ObjectError(f"not an objectGUID: {object_guid!r}", object_ref=object_guid, stage="ldap_read")
    with src._lock:
        src._start()
        attrs = list(query.with_member_range(src.attributes, src.member_range))
        found = src._search("read", f"<GUID={uuid.UUID(bytes_le=raw)}>", "(objectClass=*)", ldap3.BASE,
                             missing_ok=True, attributes=attrs, controls=[query.extended_dn()])
        objects, errs = src._normalize_page(found, partial=False)
        if errs:
            raise ObjectError(errs[0].message, object_ref=errs[0].dn, stage="normalize", attribute=errs[0].attribute)
        live = [o for o in objects if not o.deleted]
        return live[0] if live else None


__all__ = ["lookup_guid", "read_object"]

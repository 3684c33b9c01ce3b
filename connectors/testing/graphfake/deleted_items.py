"""``/directory/deletedItems``: get, list by type, restore, delete permanently.

Rules, https://learn.microsoft.com/graph/api/resources/directory and
https://learn.microsoft.com/graph/api/directory-deleteditems-restore:
- "Deleted items remain available to restore for up to 30 days. After 30 days, the items are
  permanently deleted." (the fake purges on its clock, see ``state.DELETED_RETENTION_SECONDS``);
- ``POST /directory/deletedItems/{id}/restore`` -> 200 and the restored object; an id that is
  not in deleted items -> 404;
- ``GET /directory/deletedItems/microsoft.graph.user`` (and ``.group``) lists them
  (directory-deleteditems-list);
- ``DELETE /directory/deletedItems/{id}`` -> 204, gone for good (directory-deleteditems-delete).
"""

from __future__ import annotations

from hybridsync.connectors.testing.graphfake import groups, paging, users
from hybridsync.connectors.testing.graphfake.errors import Reply, bad_request, not_found
from hybridsync.connectors.testing.graphfake.request import Request
from hybridsync.connectors.testing.graphfake.state import Directory, DirObject

_KINDS = {"microsoft.graph.user": "user", "microsoft.graph.group": "group"}


def _serialize(d: Directory, obj: DirObject) -> dict:
    return users.serialize(d, obj) if obj.kind == "user" else groups.serialize(d, obj)


def _deleted(d: Directory, oid: str) -> DirObject:
    obj = d.get_deleted(oid)
    if obj is None:
        raise not_found(oid)
    return obj


def get(d: Directory, req: Request, oid: str) -> Reply:
    if oid in _KINDS:
        kind = _KINDS[oid]
        d.expire_deleted()
        items = [_serialize(d, o) for o in d.objects.values() if o.kind == kind and o.deleted_at is not None]
        return paging.page(d, req, "directoryObjects", items)
    return Reply(200, {"@odata.context": f"{d.base_url}/$metadata#directoryObjects/$entity",
                       **_serialize(d, _deleted(d, oid))})


def restore(d: Directory, req: Request, oid: str) -> Reply:
    obj = _deleted(d, oid)
    if obj.kind == "user":
        upn = obj.data.get("userPrincipalName", "")
        for other in d.objects.values():
            if (other.kind == "user" and other.id != obj.id and other.deleted_at is None
                    and other.data.get("userPrincipalName", "").lower() == upn.lower()):
                raise bad_request("Another object with the same value for property userPrincipalName already exists.")
    obj.deleted_at = None
    obj.data.pop("deletedDateTime", None)
    d.record(obj.kind, obj.id)
    return Reply(200, {"@odata.context": f"{d.base_url}/$metadata#directoryObjects/$entity", **_serialize(d, obj)})


def purge(d: Directory, req: Request, oid: str) -> Reply:
    _deleted(d, oid)
    d.purge(oid)
    return Reply(204)

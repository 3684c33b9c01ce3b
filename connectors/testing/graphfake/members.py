"""Group membership: ``$ref`` add and remove, ``members@odata.bind``, listing members.

Rules:
- add one member: ``POST /groups/{id}/members/$ref`` with ``{"@odata.id": ".../directoryObjects/{id}"}``
  -> 204; a member already present -> 400 ``Request_BadRequest`` ("One or more added object
  references already exist for the following modified properties: 'members'.");
  https://learn.microsoft.com/graph/api/group-post-members
- add many: ``PATCH /groups/{id}`` with ``members@odata.bind`` -- "When using the API to add
  multiple members in one request, you can add up to only 20 members." (same page); the
  request is applied whole or not at all (one PATCH is one directory write);
- which objects a group may contain (same page, table): users, security groups, devices,
  service principals and org contacts in a security group; only users in a Microsoft 365 group;
- a just-created group may answer 400 "The source resource object or one of the objects being
  referenced do not exist." while it replicates (same page, note on replication delays);
- remove: ``DELETE /groups/{id}/members/{id}/$ref`` -> 204; not a member -> 404
  ``Request_ResourceNotFound``. https://learn.microsoft.com/graph/api/group-delete-members
"""

from __future__ import annotations

import re
from typing import Any

from hybridsync.connectors.testing.graphfake import paging
from hybridsync.connectors.testing.graphfake.errors import Reply, bad_request, not_found
from hybridsync.connectors.testing.graphfake.request import Request
from hybridsync.connectors.testing.graphfake.state import Directory, DirObject

BIND_LIMIT = 20
_REF = re.compile(r"^(?:https?://[^/]+)?(?:/v1\.0)?/?(directoryObjects|users|groups|contacts)/([^/?]+)$")
_ODATA_TYPE = {"user": "#microsoft.graph.user", "group": "#microsoft.graph.group",
               "orgContact": "#microsoft.graph.orgContact"}
ALREADY = "One or more added object references already exist for the following modified properties: 'members'."
NOT_REPLICATED = "The source resource object or one of the objects being referenced do not exist."


def parse_ref(url: Any) -> str:
    m = _REF.match(url) if isinstance(url, str) else None
    if not m:
        raise bad_request(f"Invalid object identifier '{url}'.")
    return m.group(2)


def _group(d: Directory, gid: str) -> DirObject:
    obj = d.get_live(gid, "group")
    if obj is None:
        lagging = d.objects.get(gid)
        if lagging is not None and lagging.deleted_at is None and lagging.kind == "group":
            raise bad_request(NOT_REPLICATED)
        raise not_found(gid)
    return obj


def _member(d: Directory, group: DirObject, mid: str) -> DirObject:
    obj = d.get_live(mid)
    if obj is None:
        lagging = d.objects.get(mid)
        if lagging is not None and lagging.deleted_at is None:
            raise bad_request(NOT_REPLICATED)
        raise not_found(mid)
    if obj.id == group.id:
        raise bad_request("A group cannot be a member of itself.")
    unified = "Unified" in (group.data.get("groupTypes") or [])
    if unified and obj.kind != "user":
        raise bad_request(f"A {obj.kind} cannot be a member of a Microsoft 365 group.")
    return obj


def resolve_binds(d: Directory, group: DirObject | None, urls: Any, *, limit: int = BIND_LIMIT) -> list[str]:
    """Check every reference of a ``members@odata.bind`` list; nothing is written here."""
    if not isinstance(urls, list):
        raise bad_request("Invalid value specified for property 'members@odata.bind'.")
    if len(urls) > limit:
        raise bad_request(f"The request has {len(urls)} references; at most {limit} can be added in one request.")
    ids = [parse_ref(u) for u in urls]
    if len(set(ids)) != len(ids):
        raise bad_request(ALREADY)
    for mid in ids:
        if group is not None:
            _member(d, group, mid)
            if mid in group.members:
                raise bad_request(ALREADY)
        elif d.get_live(mid) is None:
            raise not_found(mid)
    return ids


def apply_binds(d: Directory, group: DirObject, ids: list[str]) -> None:
    for mid in ids:
        group.members.add(mid)
        d.record("group", group.id, member=mid, added=True)


def add(d: Directory, req: Request, gid: str) -> Reply:
    group = _group(d, gid)
    if not isinstance(req.body, dict) or "@odata.id" not in req.body:
        raise bad_request("The request body must contain '@odata.id'.")
    mid = parse_ref(req.body["@odata.id"])
    _member(d, group, mid)
    if mid in group.members:
        raise bad_request(ALREADY)
    apply_binds(d, group, [mid])
    return Reply(204)


def remove(d: Directory, req: Request, gid: str, mid: str) -> Reply:
    group = _group(d, gid)
    if mid not in group.members:
        raise not_found(mid)
    group.members.discard(mid)
    d.record("group", group.id, member=mid, added=False)
    return Reply(204)


def list_(d: Directory, req: Request, gid: str) -> Reply:
    group = _group(d, gid)
    items = []
    for mid in sorted(group.members):
        obj = d.get_live(mid)
        if obj is not None:  # a soft-deleted member is not listed
            items.append({"@odata.type": _ODATA_TYPE[obj.kind], "id": obj.id,
                          **({"displayName": obj.data.get("displayName")} if "displayName" in obj.data else {})})
    return paging.page(d, req, "directoryObjects", items)


def odata_type(kind: str) -> str:
    return _ODATA_TYPE[kind]



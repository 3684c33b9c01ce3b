"""The route table (method, path pattern, rule) and the one dispatch both HTTP and ``$batch`` use.

Writes are charged to the write quota here, once per request -- once per ``$batch`` item:
"Requests in a batch are evaluated individually against throttling limits and if any request
exceeds the limits, it fails with a status of 429" (https://learn.microsoft.com/graph/json-batching,
"Batch size limitations"). Paths are below ``/v1.0``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from hybridsync.connectors.testing.graphfake import deleted_items, delta, groups, manager, members, paging, users
from hybridsync.connectors.testing.graphfake.errors import GraphError, Reply, not_found
from hybridsync.connectors.testing.graphfake.request import Request
from hybridsync.connectors.testing.graphfake.state import Directory
from hybridsync.connectors.testing.graphfake.throttle import WRITE_METHODS, WriteQuota

_ID = r"(?P<oid>[^/]+)"


def contacts_read_only(d: Directory, req: Request, **_: Any) -> Reply:
    # orgContact resource: "organizational contacts are either synchronized from on-premises
    # directories or from Exchange Online, and are read-only in Microsoft Graph"; its method
    # table has List, Get and delta only. https://learn.microsoft.com/graph/api/resources/orgcontact
    # The exact status for a write is not documented; the fake answers Graph's generic 405.
    raise GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")


def contacts_list(d: Directory, req: Request) -> Reply:
    items = [{"@odata.type": "#microsoft.graph.orgContact", "id": o.id, **o.data} for o in d.live("orgContact")]
    return paging.page(d, req, "contacts", items)


def contacts_get(d: Directory, req: Request, oid: str) -> Reply:
    obj = d.get_live(oid, "orgContact")
    if obj is None:
        raise not_found(oid)
    return Reply(200, {"@odata.type": "#microsoft.graph.orgContact", "id": obj.id, **obj.data})


Rule = Callable[..., Reply]
ROUTES: list[tuple[str, re.Pattern[str], Rule]] = [(m, re.compile(p), f) for m, p, f in [
    ("POST", r"^/users$", users.create),
    ("GET", r"^/users$", users.list_),
    ("GET", r"^/users/(?:microsoft\.graph\.)?delta(?:\(\))?$", delta.users_delta),
    ("PUT", r"^/users/(?P<oid>[^/]+)/manager/\$ref$", manager.put),
    ("DELETE", r"^/users/(?P<oid>[^/]+)/manager/\$ref$", manager.delete),
    ("GET", r"^/users/(?P<oid>[^/]+)/manager$", manager.get),
    ("GET", rf"^/users/{_ID}$", users.get),
    ("PATCH", rf"^/users/{_ID}$", users.update),
    ("DELETE", rf"^/users/{_ID}$", users.delete),
    ("POST", r"^/groups$", groups.create),
    ("GET", r"^/groups$", groups.list_),
    ("GET", r"^/groups/(?:microsoft\.graph\.)?delta(?:\(\))?$", delta.groups_delta),
    ("GET", rf"^/groups/{_ID}$", groups.get),
    ("PATCH", rf"^/groups/{_ID}$", groups.update),
    ("DELETE", rf"^/groups/{_ID}$", groups.delete),
    ("GET", r"^/groups/(?P<gid>[^/]+)/members$", members.list_),
    ("POST", r"^/groups/(?P<gid>[^/]+)/members/\$ref$", members.add),
    ("DELETE", r"^/groups/(?P<gid>[^/]+)/members/(?P<mid>[^/]+)/\$ref$", members.remove),
    ("GET", r"^/contacts$", contacts_list),
    ("GET", rf"^/contacts/{_ID}$", contacts_get),
    ("POST", r"^/contacts$", contacts_read_only),
    ("PATCH", rf"^/contacts/{_ID}$", contacts_read_only),
    ("DELETE", rf"^/contacts/{_ID}$", contacts_read_only),
    ("GET", rf"^/directory/deletedItems/{_ID}$", deleted_items.get),
    ("POST", rf"^/directory/deletedItems/{_ID}/restore$", deleted_items.restore),
    ("DELETE", rf"^/directory/deletedItems/{_ID}$", deleted_items.purge),
]]


def dispatch(d: Directory, quota: WriteQuota, req: Request) -> Reply:
    """Answer one request (auth already checked). Never raises."""
    matched_path = False
    for method, pattern, rule in ROUTES:
        m = pattern.match(req.path)
        if not m:
            continue
        matched_path = True
        if method != req.method:
            continue
        headers: dict[str, str] = {}
        try:
            if req.method in WRITE_METHODS:
                headers = quota.charge(d.clock.now(), d.knobs.write_quota,
                                       client_id=d.knobs.client_id, tenant=d.knobs.tenant)
            with d.lock:
                reply = rule(d, req, **m.groupdict())
        except GraphError as exc:
            return exc.reply().with_headers(headers)
        return reply.with_headers(headers)
    if matched_path:
        return GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.").reply()
    segment = req.path.strip("/").split("/")[0] or "/"
    return GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.").reply()

"""``/users/delta`` and ``/groups/delta``: rounds of pages ending in a delta link.

Rules, https://learn.microsoft.com/graph/delta-query-overview, .../api/user-delta,
.../api/group-delta, .../delta-query-groups:
- the first request returns every object, in pages; each page but the last carries
  ``@odata.nextLink`` (a ``$skiptoken``), the last carries ``@odata.deltaLink`` (a
  ``$deltatoken``); query parameters of the first request (``$select``) are carried in both links;
- a request with the delta link returns only objects changed since, with their current state;
- a deleted object comes back as ``{"id": ..., "@removed": {"reason": ...}}``: "changed" when it
  is in deleted items and can be restored, "deleted" when it is gone for good; ``@removed`` "can
  be returned in the initial delta query response" too -- the fake's initial round lists what
  sits in deleted items (never what was purged);
- a group's membership changes come in ``members@delta``: each member as ``@odata.type`` + ``id``,
  a removed member with ``"@removed": {"reason": "deleted"}``.
- a deltaLink older than ``Knobs.delta_link_lifetime`` (7 days for identity resources) or
  expired by ``Backdoor.expire_delta_links()`` -> ``Knobs.delta_expired_status`` (400
  ``syncStateNotFound`` "The sync state generation is not found. The delta token is expired and
  data must be synchronized again.", as Microsoft's devblog announcing the 7-day lifetime quotes
  it; or 410 Gone ``resyncRequired``): the client must start a full round again;
- an unknown or malformed token -> 400 ``syncStateInvalid`` (the fake's stand-in for Graph's
  "resync required" answers).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from hybridsync.connectors.testing.graphfake import groups, members, paging, users
from hybridsync.connectors.testing.graphfake.errors import GraphError, Reply
from hybridsync.connectors.testing.graphfake.request import Request, select
from hybridsync.connectors.testing.graphfake.state import Directory

_SEGMENT = {"user": "users", "group": "groups"}


def _entries(d: Directory, kind: str, since: int, upto: int, query: dict[str, str]) -> list[dict[str, Any]]:
    d.expire_deleted()
    order: list[str] = []
    member_changes: dict[str, dict[str, bool]] = {}
    for change in d.changes:
        if change.seq <= since or change.seq > upto or change.kind != kind:
            continue
        if change.object_id not in order:
            order.append(change.object_id)
        if change.member is not None:
            member_changes.setdefault(change.object_id, {})[change.member] = change.member_added
    initial = since == 0
    out: list[dict[str, Any]] = []
    for oid in order:
        obj = d.objects.get(oid)
        if obj is None or obj.deleted_at is not None:
            # "The @removed object can be returned in the initial delta query response and in
            # tracked (deltaLink) responses": an initial round lists what sits in deleted items.
            if obj is not None or not initial:
                reason = "changed" if obj is not None else "deleted"
                out.append({"@odata.type": members.odata_type(kind), "id": oid, "@removed": {"reason": reason}})
            continue
        body = users.serialize(d, obj) if kind == "user" else groups.serialize(d, obj)
        body = select(body, query)
        if kind == "group":
            if initial:
                changes = {m: True for m in sorted(obj.members)}
            else:
                changes = member_changes.get(oid, {})
            if changes:
                entries = []
                for mid, added in changes.items():
                    m = d.objects.get(mid)
                    entry = {"@odata.type": members.odata_type(m.kind if m else d.purged.get(mid, "user")), "id": mid}
                    if not added:
                        entry["@removed"] = {"reason": "deleted"}
                    entries.append(entry)
                body["members@delta"] = entries
        out.append(body)
    return out


def _round(d: Directory, req: Request, kind: str) -> Reply:
    segment = _SEGMENT[kind]
    carried = {k: v for k, v in req.query.items() if k == "$select"}
    if "$skiptoken" in req.query:
        state = paging.decode(req.query["$skiptoken"])
        since, upto, offset = state.get("since"), state.get("upto"), state.get("offset", 0)
        carried = state.get("query", {})
    elif "$deltatoken" in req.query:
        try:
            since = int(req.query["$deltatoken"])
        except ValueError as exc:
            raise GraphError(400, "syncStateInvalid", "The delta token is invalid.") from exc
        if since < 0 or since > d.seq:
            raise GraphError(400, "syncStateInvalid", "The delta token is invalid.")
        issued = d.delta_issued.get(since)
        if issued is None or d.clock.now() - issued > d.knobs.delta_link_lifetime:
            status = d.knobs.delta_expired_status
            code = "resyncRequired" if status == 410 else "syncStateNotFound"
            raise GraphError(status, code, "The sync state generation is not found. The delta token is expired "
                                           "and data must be synchronized again.")
        upto, offset = d.seq, 0
    else:
        since, upto, offset = 0, d.seq, 0
    if not isinstance(since, int) or not isinstance(upto, int):
        raise GraphError(400, "BadRequest", "The skip token is invalid or expired.")
    entries = _entries(d, kind, since, upto, carried)
    size = d.knobs.delta_page_size
    body: dict[str, Any] = {"@odata.context": f"{d.base_url}/$metadata#{segment}",
                            "value": entries[offset:offset + size]}
    base = f"{d.base_url}/{segment}/delta"
    if offset + size < len(entries):
        token = paging.encode({"since": since, "upto": upto, "offset": offset + size, "query": carried})
        body["@odata.nextLink"] = f"{base}?{urlencode({**carried, '$skiptoken': token}, safe='$')}"
    else:
        d.delta_issued.setdefault(upto, d.clock.now())
        body["@odata.deltaLink"] = f"{base}?{urlencode({**carried, '$deltatoken': str(upto)}, safe='$')}"
    return Reply(200, body)


def users_delta(d: Directory, req: Request) -> Reply:
    return _round(d, req, "user")


def groups_delta(d: Directory, req: Request) -> Reply:
    return _round(d, req, "group")

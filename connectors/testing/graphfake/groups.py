"""``/groups``: create (optionally with members), read, list (with ``$filter``), update
(including ``members@odata.bind``), delete.

Rules:
- required properties: displayName, mailEnabled, mailNickname, securityEnabled; "A maximum of
  20 relationships, such as owners and members, can be added as part of group creation."
  https://learn.microsoft.com/graph/api/group-post-groups
- mailNickname characters and length: ``schema.check_mail_nickname``;
- a mail-enabled security group or a distribution group cannot be created through Graph
  (group-post-groups lists the creatable kinds: Microsoft 365 groups -- Unified, mailEnabled --
  and security groups -- securityEnabled, not mailEnabled);
- DELETE: Microsoft 365 groups go to deleted items for 30 days; security groups are deleted
  permanently ("This isn't applicable to security groups, which are deleted permanently.")
  https://learn.microsoft.com/graph/api/directory-deleteditems-restore
"""

from __future__ import annotations

from typing import Any

from hybridsync.connectors.testing.graphfake import members, paging, schema
from hybridsync.connectors.testing.graphfake.errors import Reply, bad_request, not_found
from hybridsync.connectors.testing.graphfake.request import Request, iso_now, parse_eq_filter, select
from hybridsync.connectors.testing.graphfake.state import Directory, DirObject

FILTERABLE = ("displayName", "mailNickname", "id", "securityEnabled", "mailEnabled", "onPremisesSecurityIdentifier")
BIND_KEYS = ("members@odata.bind", "owners@odata.bind")


def serialize(d: Directory, obj: DirObject, query: dict[str, str] | None = None) -> dict[str, Any]:
    body = {"@odata.type": "#microsoft.graph.group", "id": obj.id, **obj.data}
    return select(body, query or {})


def is_unified(obj: DirObject) -> bool:
    return "Unified" in (obj.data.get("groupTypes") or [])


def _check_kind(data: dict[str, Any]) -> None:
    unified = "Unified" in (data.get("groupTypes") or [])
    if data.get("mailEnabled") and not unified:
        raise bad_request("Creating mail-enabled security groups or distribution groups is not supported "
                          "through Microsoft Graph.")


def create(d: Directory, req: Request) -> Reply:
    plain = schema.validate("group", req.body, create=True)
    schema.check_mail_nickname("group", plain["mailNickname"])
    schema.check_display_name("group", plain["displayName"])
    _check_kind(plain)
    binds = {k: req.body.get(k) for k in BIND_KEYS if k in req.body}
    total = sum(len(v) if isinstance(v, list) else 0 for v in binds.values())
    if total > members.BIND_LIMIT:
        raise bad_request(f"A maximum of {members.BIND_LIMIT} relationships, such as owners and members, can be "
                          "added as part of group creation.")
    member_ids = members.resolve_binds(d, None, binds.get("members@odata.bind", []))
    for url in binds.get("owners@odata.bind", []) or []:
        if d.get_live(members.parse_ref(url), "user") is None:
            raise not_found(members.parse_ref(url))
    data = {"groupTypes": [], **plain, "createdDateTime": iso_now(), "mail": None, "proxyAddresses": [],
            "onPremisesSyncEnabled": None}
    if data.get("mailEnabled"):
        # group resource, mail: "The SMTP address for the group ... Read-only." -- set by the service.
        domain = (d.knobs.verified_domains or ("contoso.onmicrosoft.com",))[0]
        data["mail"] = f"{data['mailNickname']}@{domain}"
        data["proxyAddresses"] = [f"SMTP:{data['mail']}"]
    obj = DirObject("group", d.new_id(), data, d.clock.now())
    d.objects[obj.id] = obj
    d.record("group", obj.id)
    members.apply_binds(d, obj, member_ids)
    # group-post-groups, "Response": 201 Created and the group object.
    return Reply(201, {"@odata.context": f"{d.base_url}/$metadata#groups/$entity", **serialize(d, obj)})


def _live(d: Directory, gid: str) -> DirObject:
    obj = d.get_live(gid, "group")
    if obj is None:
        raise not_found(gid)
    return obj


def get(d: Directory, req: Request, oid: str) -> Reply:
    obj = _live(d, oid)
    return Reply(200, {"@odata.context": f"{d.base_url}/$metadata#groups/$entity",
                       **serialize(d, obj, dict(req.query))})


def list_(d: Directory, req: Request) -> Reply:
    objs = list(d.live("group"))
    if "$filter" in req.query:
        prop, value = parse_eq_filter(req.query["$filter"], FILTERABLE, "Group")
        objs = [o for o in objs if str(o.id if prop == "id" else o.data.get(prop)).lower() == value.lower()]
    return paging.page(d, req, "groups", [serialize(d, o, dict(req.query)) for o in objs])


def update(d: Directory, req: Request, oid: str) -> Reply:
    obj = _live(d, oid)
    plain = schema.validate("group", req.body, create=False)
    if "mailNickname" in plain:
        schema.check_mail_nickname("group", plain["mailNickname"])
    if isinstance(plain.get("displayName"), str):
        schema.check_display_name("group", plain["displayName"])
    # group-post-members: members@odata.bind on PATCH, up to 20, the whole PATCH or nothing.
    member_ids = members.resolve_binds(d, obj, req.body["members@odata.bind"]) if "members@odata.bind" in req.body else []
    obj.data.update(plain)
    if plain:
        d.record("group", obj.id)
    members.apply_binds(d, obj, member_ids)
    # group-update: 204 No Content.
    return Reply(204)


def delete(d: Directory, req: Request, oid: str) -> Reply:
    obj = _live(d, oid)
    if is_unified(obj):
        obj.deleted_at = d.clock.now()
        obj.data["deletedDateTime"] = iso_now()
        d.record("group", obj.id)
    else:
        d.purge(obj.id)
    return Reply(204)

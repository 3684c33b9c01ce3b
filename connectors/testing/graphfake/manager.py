"""A user's ``manager``: a navigation property, written only through its ``$ref``.

Rules:
- assign: ``PUT /users/{id}/manager/$ref`` with ``{"@odata.id": "https://graph.microsoft.com/v1.0/users/{managerId}"}``
  ("the read URL of the directoryObject, user, or organizational contact object to be added")
  -> 204 No Content, replacing any manager the user had.
  https://learn.microsoft.com/graph/api/user-post-manager
- remove: ``DELETE /users/{id}/manager/$ref`` -> 204 No Content.
  https://learn.microsoft.com/graph/api/user-delete-manager
  The answer for a user that has no manager is not documented; the fake answers 404
  ``Request_ResourceNotFound`` (as for a missing member reference, group-delete-members).
- read: ``GET /users/{id}/manager`` -> the manager, 404 when there is none.
  https://learn.microsoft.com/graph/api/user-list-manager
- ``manager`` is not a property of the user resource: in a ``POST /users`` or ``PATCH`` body it
  is refused with 400 ("You can assign a manager to a user only after it has been created";
  the message "Property manager in payload has a value that does not match schema." is the one
  reported from the live service, learn.microsoft.com/answers/questions/982891).
- the user and the manager must exist and have replicated: a just-created object can answer
  "does not exist" for a while (eventual consistency), and an unknown id is 404; a user cannot
  be their own manager (the fake's 400; the live answer is not documented).
"""

from __future__ import annotations

from hybridsync.connectors.testing.graphfake import members, users
from hybridsync.connectors.testing.graphfake.errors import Reply, bad_request, not_found
from hybridsync.connectors.testing.graphfake.request import Request
from hybridsync.connectors.testing.graphfake.state import Directory, DirObject

refuse_in_body = users.refuse_manager  # the body rule lives with the other /users body rules


def _user(d: Directory, oid: str) -> DirObject:
    obj = d.get_live(oid, "user")
    if obj is None:
        lagging = d.objects.get(oid)
        if lagging is not None and lagging.deleted_at is None and lagging.kind == "user":
            raise bad_request(members.NOT_REPLICATED)
        raise not_found(oid)
    return obj


def put(d: Directory, req: Request, oid: str) -> Reply:
    obj = _user(d, oid)
    if not isinstance(req.body, dict) or "@odata.id" not in req.body:
        raise bad_request("The request body must contain '@odata.id'.")
    mid = members.parse_ref(req.body["@odata.id"])
    manager = d.get_live(mid)
    if manager is None:
        lagging = d.objects.get(mid)
        if lagging is not None and lagging.deleted_at is None:
            raise bad_request(members.NOT_REPLICATED)
        raise not_found(mid)
    if manager.kind not in ("user", "orgContact"):
        raise bad_request(f"A {manager.kind} cannot be the manager of a user.")
    if manager.id == obj.id:
        raise bad_request("A user cannot be their own manager.")
    if obj.manager != manager.id:
        obj.manager = manager.id
        d.record("user", obj.id)
    return Reply(204)


def delete(d: Directory, req: Request, oid: str) -> Reply:
    obj = _user(d, oid)
    if obj.manager is None:
        raise not_found(f"{oid}/manager")
    obj.manager = None
    d.record("user", obj.id)
    return Reply(204)


def get(d: Directory, req: Request, oid: str) -> Reply:
    obj = _user(d, oid)
    manager = d.get_live(obj.manager) if obj.manager else None
    if manager is None:
        raise not_found(f"{oid}/manager")
    return Reply(200, {"@odata.context": f"{d.base_url}/$metadata#directoryObjects/$entity",
                       **users.serialize(d, manager, dict(req.query))})

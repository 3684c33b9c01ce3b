"""``/users``: create, read, list (with ``$filter``), update, delete.

Rules (each cited where it is enforced):
- required properties, unknown and read-only properties: ``schema.validate``;
- userPrincipalName: format, verified domain, uniqueness;
- passwordProfile: a password that meets the default strong-password policy; never returned;
- onPremisesImmutableId: unique in the tenant;
- DELETE moves the user to deleted items (restorable for 30 days).
"""

from __future__ import annotations

import re
from typing import Any

from hybridsync.connectors.testing.graphfake import paging, schema
from hybridsync.connectors.testing.graphfake.errors import Reply, bad_request, not_found
from hybridsync.connectors.testing.graphfake.request import Request, iso_now, parse_eq_filter, select
from hybridsync.connectors.testing.graphfake.state import Directory, DirObject

# user-post-users, userPrincipalName: "The general format is alias@domain, where domain must be
# present in the tenant's collection of verified domains ... This property can't contain accent
# characters. Only the following characters are allowed A - Z, a - z, 0 - 9, ' . - _ ! # ^ ~."
# https://learn.microsoft.com/graph/api/user-post-users
_UPN = re.compile(r"^[A-Za-z0-9'.\-_!#^~]+@[A-Za-z0-9.\-]+$")
# Filterable with eq per the user resource page ("Supports $filter (eq, ...)").
FILTERABLE = ("userPrincipalName", "onPremisesImmutableId", "mailNickname", "displayName", "mail",
              "id", "employeeId", "accountEnabled")


MANAGER_IN_BODY = "Property manager in payload has a value that does not match schema."


def refuse_manager(body: Any) -> None:
    """``manager`` is a navigation property, set only through ``/users/{id}/manager/$ref``
    after the user exists (user-post-manager; manager.py): a user body carrying it (or a bind
    of it) is refused with the message reported from the service."""
    if isinstance(body, dict) and any(k == "manager" or k.startswith("manager@") for k in body):
        raise bad_request(MANAGER_IN_BODY)


def serialize(d: Directory, obj: DirObject, query: dict[str, str] | None = None) -> dict[str, Any]:
    # passwordProfile is write-only in practice: user-post-users' example response does not
    # return it and the password is never readable.
    body = {"@odata.type": "#microsoft.graph.user", "id": obj.id,
            **{k: v for k, v in obj.data.items() if k != "passwordProfile"}}
    if obj.deleted_at is not None:
        body["deletedDateTime"] = obj.data.get("deletedDateTime")
    return select(body, query or {})


def _check_upn(d: Directory, upn: str, self_id: str | None) -> None:
    if not _UPN.match(upn) or upn.startswith(".") or ".@" in upn:
        raise bad_request("Property userPrincipalName is invalid.")
    domain = upn.rsplit("@", 1)[1].lower()
    verified = d.knobs.verified_domains
    if verified is not None and domain not in {v.lower() for v in verified}:
        raise bad_request("The domain portion of the userPrincipalName property is invalid. You must use "
                          "one of the verified domain names in your organization.")
    _check_unique(d, "userPrincipalName", upn, self_id)


def _check_unique(d: Directory, prop: str, value: str, self_id: str | None) -> None:
    # Uniqueness holds across all directory replicas, so an object still inside its
    # replication window already takes the value.
    for other in d.objects.values():
        if other.kind == "user" and other.id != self_id and other.deleted_at is None:
            held = other.data.get(prop)
            if isinstance(held, str) and held.lower() == value.lower():
                raise bad_request(f"Another object with the same value for property {prop} already exists.")


def _check_password(profile: dict[str, Any]) -> None:
    # passwordProfile resource: password "must satisfy minimum requirements as specified by the
    # passwordPolicies property. By default, a strong password is required."
    # https://learn.microsoft.com/graph/api/resources/passwordprofile
    # Strong = 8-256 characters, at least three of: lowercase, uppercase, digit, symbol
    # (https://learn.microsoft.com/entra/identity/authentication/concept-sspr-policy).
    password = profile.get("password")
    if not isinstance(password, str) or not password:
        raise bad_request("A value is required for property 'passwordProfile.password' of resource 'User'.")
    classes = sum((any(c.islower() for c in password), any(c.isupper() for c in password),
                   any(c.isdigit() for c in password), any(not c.isalnum() for c in password)))
    if not 8 <= len(password) <= 256 or classes < 3:
        raise bad_request("The specified password does not comply with password complexity requirements. "
                          "Please provide a different password.")


def _check_values(d: Directory, plain: dict[str, Any], self_id: str | None) -> None:
    if "mailNickname" in plain:
        schema.check_mail_nickname("user", plain["mailNickname"])
    if isinstance(plain.get("displayName"), str):
        schema.check_display_name("user", plain["displayName"])
    if "userPrincipalName" in plain:
        _check_upn(d, plain["userPrincipalName"], self_id)
    if isinstance(plain.get("onPremisesImmutableId"), str):
        # user resource, onPremisesImmutableId: "The $ and _ characters can't be used".
        if any(c in "$_" for c in plain["onPremisesImmutableId"]):
            raise bad_request("Invalid value specified for property 'onPremisesImmutableId' of resource 'User'.")
        _check_unique(d, "onPremisesImmutableId", plain["onPremisesImmutableId"], self_id)
    if "passwordProfile" in plain:
        _check_password(plain["passwordProfile"] or {})


def create(d: Directory, req: Request) -> Reply:
    refuse_manager(req.body)
    plain = schema.validate("user", req.body, create=True)
    _check_values(d, plain, None)
    obj = DirObject("user", d.new_id(), {**plain, "createdDateTime": iso_now(), "proxyAddresses": [],
                                           "onPremisesSyncEnabled": None}, d.clock.now())
    d.objects[obj.id] = obj
    d.record("user", obj.id)
    # user-post-users, "Response": 201 Created and the user object.
    return Reply(201, {"@odata.context": f"{d.base_url}/$metadata#users/$entity", **serialize(d, obj)})


def get(d: Directory, req: Request, oid: str) -> Reply:
    obj = d.get_live(oid, "user") or _by_upn(d, oid)
    if obj is None:
        raise not_found(oid)
    return Reply(200, {"@odata.context": f"{d.base_url}/$metadata#users/$entity", **serialize(d, obj, dict(req.query))})


def _by_upn(d: Directory, key: str) -> DirObject | None:
    # user-get: "GET /users/{id | userPrincipalName}".
    for obj in d.live("user"):
        if obj.data.get("userPrincipalName", "").lower() == key.lower():
            return obj
    return None


def list_(d: Directory, req: Request) -> Reply:
    objs = list(d.live("user"))
    if "$filter" in req.query:
        prop, value = parse_eq_filter(req.query["$filter"], FILTERABLE, "User")
        objs = [o for o in objs if _matches(o, prop, value)]
    return paging.page(d, req, "users", [serialize(d, o, dict(req.query)) for o in objs])


def _matches(obj: DirObject, prop: str, value: str) -> bool:
    held = obj.id if prop == "id" else obj.data.get(prop)
    if isinstance(held, bool):
        return str(held).lower() == value.lower()
    return isinstance(held, str) and held.lower() == value.lower()


def update(d: Directory, req: Request, oid: str) -> Reply:
    obj = d.get_live(oid, "user") or _by_upn(d, oid)
    if obj is None:
        raise not_found(oid)
    refuse_manager(req.body)
    plain = schema.validate("user", req.body, create=False)
    _check_values(d, plain, obj.id)
    obj.data.update(plain)
    d.record("user", obj.id)
    # user-update: "If successful, this method returns a 204 No Content response code."
    return Reply(204)


def delete(d: Directory, req: Request, oid: str) -> Reply:
    obj = d.get_live(oid, "user") or _by_upn(d, oid)
    if obj is None:
        raise not_found(oid)
    # user-delete: a deleted user is moved to a temporary container (deleted items) and can be
    # restored within 30 days. https://learn.microsoft.com/graph/api/user-delete
    obj.deleted_at = d.clock.now()
    obj.data["deletedDateTime"] = iso_now()
    d.record("user", obj.id)
    return Reply(204)



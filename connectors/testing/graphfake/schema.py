"""Request bodies checked against Graph's published v1.0 entity schema.

The property names, types and ``Nullable`` facets come from ``graph-v1.0-entities.json``,
trimmed from Microsoft's CSDL (see SOURCE.md). The CSDL does not say which properties are
read-only or required on create; those tables below come from the learn.microsoft.com pages
cited next to each.

Error wording: Graph answers these with status 400 and code ``Request_BadRequest``; the
messages below are the ones commonly reported from the live service where one is known
("A value is required for property ... of resource 'User'.", "Invalid value specified for
property ... of resource 'User'.", "Property ... does not exist as a declared property or
extension property."), otherwise the fake's own. A connector must branch on status and code,
never on message text.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any

from attrs import frozen

from hybridsync.connectors.testing.graphfake.errors import bad_request

# -- read-only properties, per entity ------------------------------------------------------
# user: every property the user resource page marks "Read-only" (and `id`, "Key. Not
# nullable. Read-only." inherited from directoryObject/entity). proxyAddresses: "Read-only in
# Microsoft Graph; you can update this property only through the Microsoft 365 admin center."
# https://learn.microsoft.com/graph/api/resources/user#properties
USER_READ_ONLY = frozenset({
    "id", "deletedDateTime", "createdDateTime", "creationType", "assignedPlans", "provisionedPlans",
    "imAddresses", "legalAgeGroupClassification", "licenseAssignmentStates",
    "onPremisesDistinguishedName", "onPremisesDomainName", "onPremisesLastSyncDateTime",
    "onPremisesSamAccountName", "onPremisesSecurityIdentifier", "onPremisesSyncEnabled",
    "onPremisesUserPrincipalName", "onPremisesProvisioningErrors", "proxyAddresses",
    "securityIdentifier", "signInActivity", "signInSessionsValidFromDateTime",
    "assignedLicenses",  # written only through the assignLicense action (user resource: methods)
    # deletedDateTime (from directoryObject) is set by the service when the user is deleted.
})
# group: the group resource page marks these "Read-only" (mail, proxyAddresses, the
# onPremises* set, securityIdentifier, createdDateTime, renewedDateTime, expirationDateTime).
# https://learn.microsoft.com/graph/api/resources/group#properties
GROUP_READ_ONLY = frozenset({
    "id", "deletedDateTime", "createdDateTime", "mail", "proxyAddresses", "onPremisesDomainName",
    "onPremisesLastSyncDateTime", "onPremisesNetBiosName", "onPremisesProvisioningErrors",
    "onPremisesSamAccountName", "onPremisesSecurityIdentifier", "onPremisesSyncEnabled",
    "securityIdentifier", "renewedDateTime", "expirationDateTime", "assignedLicenses",
    "licenseProcessingState", "hasMembersWithLicenseErrors", "serviceProvisioningErrors",
})

# -- required on create ----------------------------------------------------------------------
# user-post-users, "Request body": accountEnabled, displayName, mailNickname, passwordProfile,
# userPrincipalName (onPremisesImmutableId only for a federated domain, not modelled).
# https://learn.microsoft.com/graph/api/user-post-users
USER_REQUIRED = ("accountEnabled", "displayName", "mailNickname", "passwordProfile", "userPrincipalName")
# group-post-groups, "Request body": displayName, mailEnabled, mailNickname, securityEnabled.
# https://learn.microsoft.com/graph/api/group-post-groups
GROUP_REQUIRED = ("displayName", "mailEnabled", "mailNickname", "securityEnabled")

_RESOURCE_NAME = {"user": "User", "group": "Group", "orgContact": "Contact"}
# Directory extension properties are declared by an app and named extension_{appId}_{name}.
# https://learn.microsoft.com/graph/extensibility-overview#microsoft-entra-directory-extensions
_EXTENSION = re.compile(r"^extension_[0-9a-fA-F]{32}_[A-Za-z0-9_]+$")


@frozen
class Prop:
    name: str
    type: str
    nullable: bool


@functools.cache
def _metadata() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("graph-v1.0-entities.json").read_text(encoding="utf-8")
    return json.loads(text)


def source() -> dict[str, str]:
    """Where the schema came from (repository, file, commit)."""
    return dict(_metadata()["source"])


@functools.cache
def properties(type_name: str) -> dict[str, Prop]:
    """The structural properties of an entity or complex type, base types included."""
    meta = _metadata()
    table = meta["entityTypes"] if type_name in meta["entityTypes"] else meta["complexTypes"]
    node = table[type_name]
    out = dict(properties(node["baseType"])) if node.get("baseType") else {}
    for p in node["properties"]:
        out[p["name"]] = Prop(p["name"], p["type"], p["nullable"])
    return out


def _type_ok(type_name: str, value: Any) -> bool:
    meta = _metadata()
    if type_name.startswith("Collection("):
        inner = type_name[len("Collection("):-1]
        return isinstance(value, list) and all(_type_ok(inner, v) for v in value)
    t = type_name.replace("graph.", "")
    if t in ("Edm.String", "Edm.DateTimeOffset", "Edm.Guid", "Edm.Date", "Edm.TimeOfDay", "Edm.Duration", "Edm.Binary"):
        return isinstance(value, str)
    if t == "Edm.Boolean":
        return isinstance(value, bool)
    if t in ("Edm.Int32", "Edm.Int64", "Edm.Int16", "Edm.Byte"):
        return isinstance(value, int) and not isinstance(value, bool)
    if t in ("Edm.Double", "Edm.Single", "Edm.Decimal"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t in meta["enumTypes"]:
        return isinstance(value, str) and all(m.strip() in meta["enumTypes"][t] for m in value.split(","))
    if t in meta["complexTypes"]:
        if not isinstance(value, dict):
            return False
        props = properties(t)
        return all(k.startswith("@") or (k in props and (v is None or _type_ok(props[k].type, v)))
                   for k, v in value.items())
    return True  # Edm types the three entities do not use


def read_only(entity: str) -> frozenset[str]:
    if entity == "user":
        return USER_READ_ONLY
    if entity == "group":
        return GROUP_READ_ONLY
    # orgContact resource: "organizational contacts are ... read-only in Microsoft Graph."
    # https://learn.microsoft.com/graph/api/resources/orgcontact
    return frozenset(properties(entity))


def validate(entity: str, body: Any, *, create: bool) -> dict[str, Any]:
    """Check a POST (``create``) or PATCH body; returns the plain properties (annotations and
    ``x@odata.bind`` keys left out). Raises ``GraphError`` 400 on the first violation."""
    if not isinstance(body, dict):
        raise bad_request("Empty Payload. JSON content expected.")
    resource = _RESOURCE_NAME[entity]
    props = properties(entity)
    ro = read_only(entity)
    plain: dict[str, Any] = {}
    for key, value in body.items():
        if "@" in key:
            continue  # instance annotations (@odata.type) and binds (members@odata.bind)
        if _EXTENSION.match(key):
            plain[key] = value
            continue
        if key not in props:
            raise bad_request(f"Property '{key}' does not exist as a declared property or extension property.")
        if key in ro:
            raise bad_request(f"Property '{key}' is read-only and cannot be set.")
        prop = props[key]
        if value is None:
            if not prop.nullable or (entity, key) in (("user", "displayName"), ("group", "displayName")):
                # user resource: displayName "is required when a user is created and it cannot
                # be cleared during updates."
                raise bad_request(f"Invalid value specified for property '{key}' of resource '{resource}'.")
        elif not _type_ok(prop.type, value):
            raise bad_request(f"Invalid value specified for property '{key}' of resource '{resource}'.")
        plain[key] = value
    if create:
        required = USER_REQUIRED if entity == "user" else GROUP_REQUIRED if entity == "group" else ()
        for key in required:
            if plain.get(key) is None:
                raise bad_request(f"A value is required for property '{key}' of resource '{resource}'.")
    return plain


# -- mailNickname --------------------------------------------------------------------------
# group resource, mailNickname: "Maximum length is 64 characters. This property can contain
# only characters in the ASCII character set 0 - 127 except the following characters:
# @ () \ [] " ; : <> , SPACE." https://learn.microsoft.com/graph/api/resources/group#properties
# user resource, mailNickname: "Maximum length is 64 characters."
# https://learn.microsoft.com/graph/api/resources/user#properties -- the character set is
# documented on the group page only; the fake applies it to users too (the live service is
# widely reported to refuse e.g. a space in a user's mailNickname with the same 400).
_NICKNAME_FORBIDDEN = set('@()\\[]";:<>, ')


def check_mail_nickname(entity: str, value: str) -> None:
    if not value or len(value) > 64 or any(ord(c) > 127 or c in _NICKNAME_FORBIDDEN for c in value):
        raise bad_request(f"Invalid value specified for property 'mailNickname' of resource '{_RESOURCE_NAME[entity]}'.")


def check_display_name(entity: str, value: str) -> None:
    # user and group resources: displayName "Maximum length is 256 characters."
    if len(value) > 256:
        raise bad_request(f"Invalid value specified for property 'displayName' of resource '{_RESOURCE_NAME[entity]}'.")



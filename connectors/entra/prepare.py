"""Pure: projections -> Graph request bodies, Graph objects -> ``TargetObject``.

Graph pages behind each rule:
- ``POST /users`` requires accountEnabled, displayName, mailNickname, userPrincipalName and
  passwordProfile (https://learn.microsoft.com/graph/api/user-post-users).
- ``mailNickname``: at most 64 ASCII characters, none of ``@ () \\ [] " ; : <> ,`` nor space
  (https://learn.microsoft.com/graph/api/resources/user, /resources/group): derived safely here,
  and every changed value is reported (``Prepared.notes``).
- ``onPremisesImmutableId`` carries the anchor (base64 objectGUID or mS-DS-ConsistencyGuid), so a
  later move to Entra Connect / Cloud Sync hard-matches (https://learn.microsoft.com/graph/api/resources/user).
- ``proxyAddresses`` is read-only in Graph; contacts (``orgContact``) are read-only; AD
  distribution and mail-enabled groups cannot be created (https://learn.microsoft.com/graph/api/group-post-groups):
  each is an *unsupported* reason, never a silent drop.
- Groups have no ``onPremisesImmutableId``: a security group (not mail-enabled) has a
  ``mailNickname`` Graph requires but no mail uses, so it carries ``hs-`` + the anchor.
"""

from __future__ import annotations

import secrets
import string
import unicodedata
from collections.abc import Mapping
from typing import Any

import attrs

from hybridsync.engine.core.errors import TargetError
from hybridsync.engine.core.values import ObjectKind, TargetObject

NICK_FORBIDDEN = set('@()\\[]";:<>, ')
NICK_MAX = 64
GROUP_NICK_PREFIX = "hs-"
MANAGER = "manager"  # the mapping path: the manager's Entra object id (a resolved reference)
UNSUPPORTED = "unsupported by Microsoft Graph"
# Projection keys the connector reads but never writes as such.
GROUP_CLASSIFIERS = ("groupType", "mail")
SECURITY_BIT = 0x80000000  # AD groupType: security group


@attrs.frozen
class Prepared:
    body: dict[str, Any]
    notes: tuple[str, ...] = ()
    # A user's manager is a navigation property, never in a body: written after the user exists
    # through PUT/DELETE /users/{id}/manager/$ref (https://learn.microsoft.com/graph/api/user-post-manager,
    # /user-delete-manager). ``manager_set``: the projection names it (``manager`` None clears it).
    manager_set: bool = False
    manager: str | None = None


def _split_manager(body: dict[str, Any]) -> tuple[bool, str | None]:
    if MANAGER not in body:
        return False, None
    value = body.pop(MANAGER)
    return True, (str(value) if value not in (None, "") else None)


class Unsupported(TargetError, ValueError):
    """This object (or attribute) cannot be written through Graph; the message says why."""


def quote(value: str) -> str:
    """An OData string literal's content (a quote is doubled)."""
    return value.replace("'", "''")


def mail_nickname(value: str) -> tuple[str, str | None]:
    """A valid mailNickname from ``value``, and a note when it had to change it."""
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    out = "".join(c for c in folded if 32 < ord(c) < 127 and c not in NICK_FORBIDDEN)[:NICK_MAX]
    if not out:
        out = "u" + secrets.token_hex(6)
    note = None if out == value else f"mailNickname {value!r} is not valid in Graph; written as {out!r}"
    return out, note


def random_password(length: int = 20) -> str:
    """A password meeting Entra's strong policy (8-256 chars, 3 of 4 classes): all four here."""
    classes = [string.ascii_lowercase, string.ascii_uppercase, string.digits, "!#%*+-.=?@^_~"]
    chars = [secrets.choice(c) for c in classes]
    alphabet = "".join(classes)
    chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def _writable(changes: Mapping[str, Any], kind: ObjectKind) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "proxyAddresses":
            raise Unsupported(f"proxyAddresses is read-only in Microsoft Graph")
        if kind is ObjectKind.GROUP and key in GROUP_CLASSIFIERS:
            continue
        if key == "active":
            key, value = "accountEnabled", bool(value) if value is not None else True
        if key == "externalId":  # the engine's name for the anchor (an adoption sends it)
            if value is None:
                continue
            key, value = (("mailNickname", mail_nickname(group_nickname(str(value)))[0]) if kind is ObjectKind.GROUP
                          else ("onPremisesImmutableId", value))
        out[key] = value
    return out


def user_create(anchor: str, attributes: Mapping[str, Any], password_policy: str) -> Prepared:
    body = {k: v for k, v in _writable(attributes, ObjectKind.USER).items() if v is not None}
    manager_set, manager = _split_manager(body)
    notes = []
    upn = body.get("userPrincipalName")
    if not upn:
        raise Unsupported("a user needs a userPrincipalName to be created in Entra ID")
    nick_source = body.get("mailNickname") or str(upn).split("@", 1)[0]
    body["mailNickname"], note = mail_nickname(str(nick_source))
    if note:
        notes.append(note)
    body.setdefault("displayName", upn)
    body.setdefault("accountEnabled", True)
    body["onPremisesImmutableId"] = anchor
    if password_policy == "random":
        # never stored, never logged: Entra holds it; the user must change it at first sign-in
        body["passwordProfile"] = {"password": random_password(), "forceChangePasswordNextSignIn": True}
    return Prepared(body, tuple(notes), manager_set, manager)


def user_update(changes: Mapping[str, Any], anchor: str | None) -> Prepared:
    body = _writable(changes, ObjectKind.USER)
    manager_set, manager = _split_manager(body)
    notes = []
    for required in ("displayName", "userPrincipalName"):
        if required in body and body[required] is None:
            body.pop(required)  # required by Graph: cannot be cleared; the old value stays
            notes.append(f"{required} cannot be cleared in Graph; left as it is")
    if "mailNickname" in body:
        if body["mailNickname"] is None:
            body.pop("mailNickname")  # required by Graph: cannot be cleared; keep the old one
            notes.append("mailNickname cannot be cleared in Graph; left as it is")
        else:
            body["mailNickname"], note = mail_nickname(str(body["mailNickname"]))
            notes += [note] if note else []
    if anchor is not None:
        body["onPremisesImmutableId"] = anchor
    return Prepared(body, tuple(notes), manager_set, manager)


def group_unsupported(attributes: Mapping[str, Any]) -> str | None:
    """Why this AD group cannot be a Graph security group, or None."""
    raw = attributes.get("groupType")
    if raw is not None:
        try:
            if not int(raw) & SECURITY_BIT:
                return f"AD distribution group: Graph cannot create distribution groups"
        except (TypeError, ValueError):
            pass
    if attributes.get("mail"):
        return f"mail-enabled group: Graph cannot create mail-enabled security groups"
    return None


def group_nickname(anchor: str) -> str:
    return GROUP_NICK_PREFIX + anchor


def group_create(anchor: str, attributes: Mapping[str, Any]) -> Prepared:
    if reason := group_unsupported(attributes):
        raise Unsupported(reason)
    body = {k: v for k, v in _writable(attributes, ObjectKind.GROUP).items() if v is not None}
    body.pop("accountEnabled", None)
    nick, note = mail_nickname(group_nickname(anchor))
    body.update(mailNickname=nick, mailEnabled=False, securityEnabled=True)
    body.setdefault("displayName", nick)
    return Prepared(body, (note,) if note else ())


def group_update(changes: Mapping[str, Any], anchor: str | None) -> Prepared:
    if any(k in changes for k in GROUP_CLASSIFIERS) and (reason := group_unsupported(changes)):
        raise Unsupported(reason)
    body = _writable(changes, ObjectKind.GROUP)
    body.pop("accountEnabled", None)
    if anchor is not None:
        body["mailNickname"] = mail_nickname(group_nickname(anchor))[0]
    return Prepared(body)


USER_SELECT = ("id,userPrincipalName,displayName,mailNickname,givenName,surname,mail,jobTitle,department,"
               "companyName,employeeId,mobilePhone,officeLocation,city,state,postalCode,streetAddress,"
               "accountEnabled,onPremisesImmutableId")
GROUP_SELECT = "id,displayName,mailNickname,description,securityEnabled,mailEnabled"


def flatten(obj: Mapping[str, Any], kind: ObjectKind) -> TargetObject:
    """A Graph user/group as the engine sees it: anchor, flat attributes, active."""
    keep = set((GROUP_SELECT if kind is ObjectKind.GROUP else USER_SELECT).split(",")) - {"id"}
    attrs_ = {k: v for k, v in obj.items() if k in keep}
    if kind is ObjectKind.GROUP:
        nick = str(obj.get("mailNickname") or "")
        external = nick[len(GROUP_NICK_PREFIX):] if nick.startswith(GROUP_NICK_PREFIX) else None
        return TargetObject(str(obj["id"]), kind, external, attrs_, None)
    active = obj.get("accountEnabled")
    return TargetObject(str(obj["id"]), kind, obj.get("onPremisesImmutableId"), attrs_,
                        None if active is None else bool(active))


def unsupported_contact() -> str:
    return f"contacts: orgContact is read-only in Microsoft Graph"

"""Pure: a Graph answer -> ``Done | RetryAfter | Terminal``.

Graph's error shape is ``{"error": {"code", "message", ...}}`` (https://learn.microsoft.com/graph/errors);
branch on status and ``code``, never on ``message`` -- except the two texts Graph documents no
code for and that are widely reported from the service: the duplicate-UPN 400 and the
already-a-member 400 (``DUPLICATE_UPN``, ``ALREADY_MEMBER``).
Throttling (https://learn.microsoft.com/graph/throttling): 429 (and 503) carry ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hybridsync.connectors.base import RetryAfter, Terminal
from hybridsync.connectors.scim.check import retry_after as retry_after  # the same rules as SCIM
from hybridsync.connectors.scim.check import transport_failure as transport_failure

RETRY_5XX = 5.0
DUPLICATE_UPN = "same value for property userPrincipalName"
ALREADY_MEMBER = "added object references already exist"
NOT_REPLICATED = "objects being referenced do not exist"


def error(body: Any) -> tuple[str | None, str]:
    """(code, message) of a Graph error body (also tolerates a SCIM error body)."""
    if isinstance(body, Mapping):
        err = body.get("error")
        if isinstance(err, Mapping):
            return err.get("code"), str(err.get("message") or "")
        if "scimType" in body or "detail" in body:
            return body.get("scimType"), str(body.get("detail") or "")
    return None, "" if body is None else str(body)[:300]


def classify(status: int, headers: Mapping[str, str], body: Any, *, what: str) -> RetryAfter | Terminal:
    code, message = error(body)
    if status in (429, 503):
        return RetryAfter(retry_after(headers), f"{what}: throttled ({status}{' ' + code if code else ''})", status)
    if status >= 500:
        return RetryAfter(retry_after(headers, default=RETRY_5XX), f"{what}: Graph answered {status}", status)
    if status in (401, 403):
        return Terminal(f"{what}: Graph refused the app ({status} {code or ''}); check the app's "
                        "credentials and its Graph application permissions", status, code, message)
    if status == 404:
        return Terminal(f"{what}: not found at Graph", 404, code, message)
    return Terminal(f"{what}: Graph answered {status} {code or ''}: {message}".rstrip(), status, code, message)


def is_duplicate_upn(status: int, body: Any) -> bool:
    return status == 400 and DUPLICATE_UPN in error(body)[1]


def is_already_member(status: int, body: Any) -> bool:
    return status == 400 and ALREADY_MEMBER in error(body)[1]


def is_not_replicated(status: int, body: Any) -> bool:
    return status == 400 and NOT_REPLICATED in error(body)[1]


# -- reading answers that must prove something ------------------------------------------------
# A 2xx proves a create, a lookup or a listing only when its body has Graph's shape: an object
# with a non-empty string ``id``; a collection ``{"value": [objects]}``
# (https://learn.microsoft.com/graph/api/user-list, /graph/paging). Anything else is unreadable:
# the caller answers ``RetryAfter`` (and a create counts as uncertain), never ``Done``.

def object_id(body: Any) -> str | None:
    """The ``id`` of a Graph object answer, or None when the body is no such object."""
    oid = body.get("id") if isinstance(body, Mapping) else None
    return oid if isinstance(oid, str) and oid.strip() and oid.strip() != "None" else None


def collection(body: Any, *, removed_ok: bool = False) -> list[Mapping[str, Any]] | None:
    """The items of a Graph collection page, or None when the page is malformed (an item without
    an id; ``removed_ok``: delta pages carry ``@removed`` items, which have ids too)."""
    items = body.get("value") if isinstance(body, Mapping) else None
    if not isinstance(items, list):
        return None
    out = []
    for item in items:
        if object_id(item) is None:
            return None
        if "@removed" in item and not removed_ok:
            return None
        out.append(item)
    return out


def unreadable(what: str, status: int) -> RetryAfter:
    return RetryAfter(RETRY_5XX, f"{what}: Graph answered {status} with a body that is not the expected "
                                 "Graph object or collection", status)

"""Pure response checking: a SCIM answer -> a result value (``Done | RetryAfter | Terminal``).

Errors are read with scim2-models: the body becomes an ``Error``, and
``SCIMException.from_error`` picks the one exception class per RFC 7644 ``scimType`` (and per
status for the typeless ones) that scim2-models defines. ``RULES`` then says, per exception
class, what the engine should do; the table is the whole error policy:

==========================  ======================  =========================================
exception (scimType)        status                  result
==========================  ======================  =========================================
UniquenessException         409 uniqueness          Terminal, detail names the taken value
ConflictException           409                     Terminal
InvalidValue/Syntax/Path,   400 (+scimType)         Terminal with the server's detail
NoTarget, Mutability,
InvalidFilter, TooMany,
InvalidVersion, Sensitive
NotFoundException           404                     Terminal(status=404): ``gone``
PreconditionFailed          412                     the target re-reads once, else RetryAfter(0)
Unauthorized / Forbidden    401 / 403               Terminal ``target_level``: quarantine
PayloadTooLarge             413                     Terminal (chunk smaller)
(any)                       429, 503                RetryAfter(Retry-After: seconds or date)
(any)                       other 5xx               RetryAfter(backoff hint)
transport failure           timeout, reset, refused RetryAfter(backoff hint)
==========================  ======================  =========================================

Listings are read as raw JSON rather than ``ListResponse[User]``: the static models refuse
values real servers hold (see ``prepare``), and one odd resource must not hide a whole page.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from functools import cache
from typing import TYPE_CHECKING

import httpx

from hybridsync.connectors.base import Done, Result, RetryAfter, Terminal
from hybridsync.connectors.scim.prepare import ENTERPRISE, parse_path
from hybridsync.engine.core.values import ObjectKind, TargetObject

RETRY_5XX = 2.0  # backoff hints (seconds); the loop owns the real backoff
RETRY_TRANSPORT = 1.0
RETRY_TIMEOUT = 5.0
RETRY_429_DEFAULT = 1.0

if TYPE_CHECKING:
    from scim2_models import SCIMException


@cache
def rules() -> Mapping[type["SCIMException"], str]:
    """What the engine should do per exception class: "terminal" | "gone" | "reread" | "target".
    scim2-models (with pydantic: ~12 MB resident, seconds of import) is imported on the first
    error answer, not with the connector: a sync whose calls all succeed never loads it."""
    from scim2_models import (
        ConflictException,
        ForbiddenException,
        NotFoundException,
        PreconditionFailedException,
        UnauthorizedException,
        UniquenessException,
    )

    return {
        UniquenessException: "conflict",
        ConflictException: "conflict",
        NotFoundException: "gone",
        PreconditionFailedException: "reread",
        UnauthorizedException: "target",
        ForbiddenException: "target",
    }


def error_of(status: int, body: Any) -> "SCIMException":
    """The scim2-models exception for an error answer (body may be absent or not SCIM)."""
    from scim2_models import Error, SCIMException

    try:
        error = Error.model_validate(body) if isinstance(body, Mapping) else None
    except Exception:
        error = None
    if error is None:
        error = Error(status=status, detail=str(body)[:200] if body else None)
    if error.status is None:
        error.status = status
    exc = SCIMException.from_error(error)
    exc.status = status  # the HTTP status wins over a body that disagrees
    return exc


def retry_after(headers: Mapping[str, str], now: datetime | None = None, default: float = RETRY_429_DEFAULT) -> float:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    value = (headers.get("retry-after") or headers.get("Retry-After") or "").strip()
    if not value:
        return default
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


def classify(status: int, headers: Mapping[str, str], body: Any, *, what: str,
             conflict: str | None = None, now: datetime | None = None) -> Result:
    """A non-2xx answer -> RetryAfter / Terminal. ``what`` names the object and operation."""
    if status in (429, 503):
        return RetryAfter(retry_after(headers, now), f"{what}: HTTP {status}, retry later", status)
    if status >= 500 and status != 501:
        return RetryAfter(RETRY_5XX, f"{what}: HTTP {status} from the target", status)
    exc = error_of(status, body)
    detail = exc.detail if hasattr(exc, "detail") else str(exc)
    scim_type = exc.scim_type or None
    rule = next((r for cls, r in rules().items() if type(exc) is cls), None)
    if rule is None and isinstance(exc, _conflict_class()):
        rule = "conflict"
    if rule == "conflict":
        taken = f" ({conflict} is already in use)" if conflict else ""
        return Terminal(f"{what}: conflict{taken}", status, scim_type or ("uniqueness" if status == 409 else None),
                        f"{conflict}; {detail}" if conflict else detail)
    if rule == "gone":
        return Terminal(f"{what}: the object no longer exists at the target", 404, scim_type, detail)
    if rule == "reread":
        return RetryAfter(0.0, f"{what}: changed at the target meanwhile (412), re-read and re-plan", 412)
    if rule == "target":
        return Terminal(f"{what}: the target refused our credentials (HTTP {status})", status, scim_type, detail)
    return Terminal(f"{what}: refused by the target (HTTP {status}{' ' + scim_type if scim_type else ''})",
                    status, scim_type, detail)


def _conflict_class() -> type["SCIMException"]:
    from scim2_models import ConflictException

    return ConflictException


def transport_failure(exc: Exception, *, what: str) -> RetryAfter:
    """A timeout, reset or refused connection: retriable. Recorded by the exception's *type*
    only: ``str(exc)`` of a request can quote a header (h11 quotes the refused header value)."""
    if isinstance(exc, httpx.TimeoutException):
        return RetryAfter(RETRY_TIMEOUT, f"{what}: timed out ({type(exc).__name__})")
    return RetryAfter(RETRY_TRANSPORT, f"{what}: connection failed ({type(exc).__name__})")


def untrusted(status: int, what: str, reason: str) -> RetryAfter:
    """A 2xx whose body proves nothing: an *uncertain* failure (retried; never success)."""
    return RetryAfter(RETRY_5XX, f"{what}: the target answered HTTP {status} but {reason}", status)


def created(status: int, headers: Mapping[str, str], body: Any, *, what: str = "create") -> Done | RetryAfter:
    """A 2xx to a create: ``Done`` only with the new resource's ``id``; without one the create is
    uncertain (the connector settles it by a lookup by externalId before creating again)."""
    rid = body.get("id") if isinstance(body, Mapping) else None
    if not isinstance(rid, str) or not rid.strip():
        return untrusted(status, what, "no SCIM resource with an id")
    etag = headers.get("etag") or get_path(body, "meta", "version")
    return Done(target_id=rid, etag=etag if isinstance(etag, str) else None, status=status)


def bulk_results(body: Any, *, whats: Mapping[str, str]) -> dict[str, tuple[Result, Any]]:
    """A BulkResponse (RFC 7644 §3.7.3) -> per ``bulkId`` of ``whats``: its result and the op's
    ``response`` (a resource or an Error, or None). A 2xx with a ``location`` (id = its last path
    segment) or a ``response.id`` is ``Done``; a 2xx without either is uncertain (``untrusted``);
    any other status is ``classify``'d. An op missing from the answer is missing here: the caller
    treats it as uncertain. ``status`` is a string per the RFC; an int or ``{"code": ...}`` too."""
    out: dict[str, tuple[Result, Any]] = {}
    ops = body.get("Operations") if isinstance(body, Mapping) else None
    for op in ops if isinstance(ops, list) else ():
        bid = op.get("bulkId") if isinstance(op, Mapping) else None
        if not isinstance(bid, str) or bid not in whats or bid in out:
            continue
        what, response = whats[bid], op.get("response")
        status = op.get("status")
        status = status.get("code") if isinstance(status, Mapping) else status
        try:
            code = int(str(status).strip())
        except ValueError:
            out[bid] = (untrusted(200, what, f"the bulk operation's status is {status!r}"), response)
            continue
        if not 200 <= code < 300:
            out[bid] = (classify(code, {}, response, what=what), response)
            continue
        rid = response.get("id") if isinstance(response, Mapping) else None
        location = op.get("location")
        if not (isinstance(rid, str) and rid.strip()) and isinstance(location, str):
            rid = urlsplit(location).path.rstrip("/").rpartition("/")[2]
        if not isinstance(rid, str) or not rid.strip():
            out[bid] = (untrusted(code, what, "no location and no resource id"), response)
            continue
        etag = op.get("version") or get_path(response, "meta", "version")
        out[bid] = (Done(target_id=rid, etag=etag if isinstance(etag, str) else None, status=code), response)
    return out


def get_path(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def flatten(resource: Mapping[str, Any], kind: ObjectKind, paths: Sequence[str] = ()) -> TargetObject:
    """A resource as a ``TargetObject`` with flat attributes: every simple attribute, every
    sub-attribute as ``a.b``, the ``type``-keyed entries of ``emails``/``phoneNumbers``/``addresses``
    as ``emails[type eq "work"].value``, extension attributes under their URN (a manager as its id),
    plus any extra ``paths`` asked for. Member lists are left out (never read to diff); an empty
    string is read as unassigned (RFC 7643 §2.5), an empty ``externalId`` as none."""
    flat: dict[str, Any] = {}
    for key, value in resource.items():
        if key in ("schemas", "id", "meta", "externalId", "members"):
            continue
        if key.startswith("urn:") and isinstance(value, Mapping):
            for sub, v in value.items():
                flat[f"{key}:{sub}"] = v.get("value") if sub == "manager" and isinstance(v, Mapping) else v
        elif isinstance(value, Mapping):
            for sub, v in value.items():
                flat[f"{key}.{sub}"] = v
        elif isinstance(value, list) and value and all(isinstance(i, Mapping) for i in value):
            for item in value:
                if "type" in item and "value" in item:
                    flat[f'{key}[type eq "{item["type"]}"].value'] = item["value"]
        else:
            flat[key] = _bool(value) if key == "active" else value
    for path in paths:
        if path not in flat:
            flat[path] = read_path(resource, path)
    # "" is how some servers (django-scim2) answer an unassigned string: read it as unassigned
    flat = {k: v for k, v in flat.items() if v != ""}
    active = _bool(resource.get("active")) if kind is not ObjectKind.GROUP else None
    external_id = resource.get("externalId")
    return TargetObject(
        target_id=str(resource.get("id")),
        kind=kind,
        external_id=external_id or None,  # django-scim2 answers an absent externalId as ""
        attributes=flat,
        active=active,
        etag=get_path(resource, "meta", "version"),
    )


def read_path(resource: Mapping[str, Any], path: str) -> Any:
    parsed = parse_path(path)
    holder = resource.get(parsed.urn, {}) if parsed.urn else resource
    value = holder.get(parsed.attr) if isinstance(holder, Mapping) else None
    if parsed.filter and isinstance(value, list):
        key, match = parsed.filter
        value = next((i for i in value if isinstance(i, Mapping) and i.get(key) == match), None)
    if parsed.sub and isinstance(value, Mapping):
        value = value.get(parsed.sub)
    if parsed.urn == ENTERPRISE and parsed.attr == "manager" and isinstance(value, Mapping):
        value = value.get("value")
    return value


CASE_EXACT = frozenset({"id", "externalId"})  # RFC 7643: userName, emails etc. compare caseless


def matches(resource: Mapping[str, Any], path: str, value: str) -> bool:
    """Does ``resource`` hold ``value`` at ``path``, compared as the RFC 7643 schema says."""
    held = read_path(resource, path)
    if path in CASE_EXACT or not isinstance(held, str) or not isinstance(value, str):
        return bool(held == value)
    return held.casefold() == value.casefold()


def list_page(body: Any) -> tuple[list[Mapping[str, Any]], int | None, int]:
    """(resources, totalResults, itemsPerPage) of a ListResponse body, leniently (discovery
    documents; listings of objects go through ``listing``, which checks them). Never raises."""
    if not isinstance(body, Mapping):
        return [], 0, 0
    raw = body.get("Resources")
    resources = [r for r in raw if isinstance(r, Mapping)] if isinstance(raw, list) else []
    total, per_page = body.get("totalResults"), body.get("itemsPerPage")
    try:
        total_n = _count(total) if total is not None else None
    except ValueError:
        total_n = None
    try:
        per_page_n = _count(per_page) if per_page else None
    except ValueError:
        per_page_n = None
    return resources, total_n, per_page_n if per_page_n is not None else len(resources)


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        raise ValueError("a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise ValueError(f"a {type(value).__name__}")


def listing(status: int, body: Any, what: str) -> tuple[list[Mapping[str, Any]], int | None] | RetryAfter:
    """A 2xx ListResponse, checked: (resources, totalResults). Not a JSON object, ``Resources``
    not a list of resources with ids, or a ``totalResults`` that is not a number: an uncertain
    failure -- never an empty listing or "not found"."""
    if not isinstance(body, Mapping):
        return untrusted(status, what, "not with a SCIM ListResponse")
    total_raw = body.get("totalResults")
    try:
        total = _count(total_raw) if total_raw is not None else None
    except ValueError as exc:
        return untrusted(status, what, f"totalResults is not a number ({exc})")
    raw = body.get("Resources")
    if raw is None:
        if total not in (0, None) or ("totalResults" not in body and not _list_schema(body)):
            return untrusted(status, what, "not with a SCIM ListResponse (no Resources)")
        return [], total
    if not isinstance(raw, list) or not all(isinstance(r, Mapping) and isinstance(r.get("id"), str) for r in raw):
        return untrusted(status, what, "Resources is not a list of resources with ids")
    return list(raw), total


def _list_schema(body: Mapping[str, Any]) -> bool:
    schemas = body.get("schemas")
    return isinstance(schemas, list) and any(isinstance(x, str) and x.endswith(":ListResponse") for x in schemas)


def advances(seen: set[str], resources: Sequence[Mapping[str, Any]]) -> bool:
    """Does this page bring a resource not seen on an earlier page (a server that ignores
    ``startIndex`` repeats its first page forever)? Adds the page's ids to ``seen``."""
    ids = {str(r.get("id")) for r in resources}
    new = bool(ids - seen)
    seen |= ids
    return new or not resources

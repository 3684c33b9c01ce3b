"""Pure request preparation: flat projections -> SCIM request payloads (no I/O).

Every function returns a ``Request`` value (method, path relative to the base URL, query,
JSON body, headers); ``transport`` moves it, ``check`` reads the answer.

What comes from scim2-models: the schema URNs of the messages and resources (spelled out
here, checked against scim2-models by a test, so that the connector does not import it at
start) and the PatchOp envelope's shape. What does not, and why:

- Resource bodies are built as plain JSON, not validated through ``scim2_models.User``: the
  static models are stricter than the RFC 7643 schemas the servers publish (``EmailStr`` refuses
  ``jdoe@lab.test`` and other reserved domains that real servers, scim2-server included, accept;
  ``manager.$ref`` is required) and would refuse values the target takes.
- Projections are flat (``emails[type eq "work"].value``); scim2-models has no "flat path ->
  nested resource" builder, so ``nest`` does that for the few path shapes mappings use.
- Dialect quirks have no place in the models: capitalised op names (``Replace``), string
  booleans (``"False"``), member removal as a ``value`` array; ``apply_dialect`` rewrites the
  payload after it is built.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from attrs import field, frozen

from hybridsync.connectors.scim.dialect import Dialect
from hybridsync.engine.core.errors import TargetError
from hybridsync.engine.core.values import ObjectKind

# The RFC 7643/7644 URNs, as scim2-models spells them (``User.__schema__`` ...; a test checks
# they stay equal): literal here so that the connector does not import scim2-models and pydantic
# on every engine start (check.py imports them on the first error answer).
USER_SCHEMA: str = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA: str = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE: str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_SCHEMA: str = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK_REQUEST_SCHEMA: str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BOOLEAN_PATHS = frozenset({"active"})

_PATH = re.compile(
    r"^(?:(?P<urn>urn:[^\[\]\s]+):)?(?P<attr>[A-Za-z$][\w$-]*)"
    r"(?:\[(?P<filter>[^\]]+)\])?(?:\.(?P<sub>[A-Za-z$][\w$-]*))?$"
)
_EQ = re.compile(r'^\s*(?P<attr>[A-Za-z$][\w$-]*)\s+eq\s+"(?P<value>(?:[^"\\]|\\.)*)"\s*$', re.I)


class PrepareError(TargetError, ValueError):
    """A projection that cannot be turned into a request (names the attribute path)."""

    def __init__(self, path: str, message: str):
        self.path = path
        super().__init__(f"{path}: {message}")


@frozen
class Request:
    method: str
    path: str
    params: Mapping[str, str] = field(factory=dict)
    json: Any = None
    headers: Mapping[str, str] = field(factory=dict)


@frozen
class ParsedPath:
    urn: str | None
    attr: str
    filter: tuple[str, str] | None  # (sub-attribute, value) of a simple `x eq "v"` filter
    sub: str | None


def parse_path(path: str) -> ParsedPath:
    m = _PATH.match(path.strip())
    if not m:
        raise PrepareError(path, "not a SCIM attribute path this connector can write")
    flt = None
    if m["filter"]:
        fm = _EQ.match(m["filter"])
        if not fm:
            raise PrepareError(path, 'only filters of the form [attr eq "value"] are supported')
        flt = (fm["attr"], json.loads(f'"{fm["value"]}"'))
    return ParsedPath(m["urn"], m["attr"], flt, m["sub"])


def filter_value(attribute: str, value: str) -> str:
    """``attribute eq "value"`` with the value quoted and escaped as JSON (RFC 7644 3.4.2.2)."""
    return f"{attribute} eq {json.dumps(value, ensure_ascii=False)}"


def lookup_filter(path: str, value: str, dialect: Dialect) -> str | None:
    """The filter finding ``path == value`` (a valuePath as ``emails[type eq "work" and value eq "x"]``);
    None when the dialect's operators cannot say it (the caller pages and compares itself)."""
    parsed = parse_path(path)
    if not dialect.supports("eq"):
        return None
    if parsed.filter and parsed.sub:
        key, match = parsed.filter
        attr = f"{parsed.urn + ':' if parsed.urn else ''}{parsed.attr}"
        if dialect.supports("and"):
            return f"{attr}[{filter_value(key, match)} and {filter_value(parsed.sub, value)}]"
        return filter_value(f"{attr}.{parsed.sub}", value)
    return filter_value(path, value)


def member_path(member_id: str) -> str:
    return f"members[{filter_value('value', member_id)}]"


def coerce(path: str, value: Any) -> Any:
    if path in BOOLEAN_PATHS and isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no", ""):
            return False
        raise PrepareError(path, f"not a boolean: {value!r}")
    return value


def scim_value(parsed: ParsedPath, value: Any, base_url: str) -> Any:
    """The value to write at an attribute (a manager id becomes a complex reference)."""
    if parsed.urn == ENTERPRISE and parsed.attr == "manager" and parsed.sub is None:
        return {"value": value, "$ref": f"{base_url.rstrip('/')}/Users/{value}"}
    return value


def nest(flat: Mapping[str, Any], *, base_url: str = "") -> dict[str, Any]:
    """Flat projection -> nested resource JSON. ``None`` values are left out."""
    out: dict[str, Any] = {}
    for path, raw in flat.items():
        if raw is None:
            continue
        parsed = parse_path(path)
        value = scim_value(parsed, coerce(path, raw), base_url)
        holder = out.setdefault(parsed.urn, {}) if parsed.urn else out
        if parsed.filter:
            key, match = parsed.filter
            items = holder.setdefault(parsed.attr, [])
            item = next((i for i in items if i.get(key) == match), None)
            if item is None:
                item = {key: match}
                items.append(item)
            item[parsed.sub or "value"] = value
        elif parsed.sub:
            holder.setdefault(parsed.attr, {})[parsed.sub] = value
        else:
            holder[parsed.attr] = value
    return out


def resource_type_name(kind: ObjectKind, contact_resource_type: str = "User") -> str:
    if kind is ObjectKind.GROUP:
        return "Group"
    if kind is ObjectKind.CONTACT:
        return contact_resource_type
    return "User"


def create_body(
    kind: ObjectKind, anchor: str, attributes: Mapping[str, Any], *, base_url: str = ""
) -> dict[str, Any]:
    """The resource to POST: externalId = anchor; contacts are inactive ``userType=Contact`` users."""
    attrs = dict(attributes)
    if kind is ObjectKind.GROUP:
        attrs.pop("members", None)
    if kind is ObjectKind.CONTACT:
        attrs["active"] = False
        attrs.setdefault("userType", "Contact")
    body = nest(attrs, base_url=base_url)
    schemas = [GROUP_SCHEMA if kind is ObjectKind.GROUP else USER_SCHEMA]
    schemas += sorted(k for k in body if k.startswith("urn:"))
    return {"schemas": schemas, "externalId": anchor, **body}


def patch_operations(
    changes: Mapping[str, Any], dialect: Dialect, *, anchor: str | None = None, base_url: str = ""
) -> list[dict[str, Any]]:
    """PATCH operations replacing exactly ``changes`` (``None`` removes the attribute)."""
    ops: list[dict[str, Any]] = []
    if anchor is not None:
        ops.append({"op": "replace", "path": "externalId", "value": anchor})
    for path, raw in changes.items():
        parsed = parse_path(path)
        if parsed.filter and parsed.sub:
            key, match = parsed.filter
            whole = f"{parsed.urn + ':' if parsed.urn else ''}{parsed.attr}[{filter_value(key, match)}]"
            if raw is None:
                ops.append({"op": "remove", "path": whole})
            elif dialect.value_path_update == "replace":
                ops.append({"op": "replace", "path": path, "value": raw})
            else:  # remove + add: no 400 noTarget when the entry does not exist yet
                ops.append({"op": "remove", "path": whole})
                attr = f"{parsed.urn + ':' if parsed.urn else ''}{parsed.attr}"
                ops.append({"op": "add", "path": attr, "value": [{key: match, parsed.sub: raw}]})
        elif raw is None:
            ops.append({"op": "remove", "path": path})
        else:
            ops.append({"op": "replace", "path": path, "value": scim_value(parsed, coerce(path, raw), base_url)})
    return ops


def patch_body(operations: Sequence[Mapping[str, Any]], dialect: Dialect) -> dict[str, Any]:
    return apply_dialect({"schemas": [PATCH_SCHEMA], "Operations": [dict(o) for o in operations]}, dialect)


def member_operations(
    op: str, member_ids: Sequence[str], dialect: Dialect
) -> list[dict[str, Any]]:
    """Operations adding or removing ``member_ids`` (one PATCH's worth)."""
    values = [{"value": m} for m in member_ids]
    if op == "add":
        return [{"op": "add", "path": "members", "value": values}]
    if dialect.member_removal == "value-array":
        return [{"op": "remove", "path": "members", "value": values}]
    return [{"op": "remove", "path": member_path(m)} for m in member_ids]


def bulk_id(kind: ObjectKind, anchor: str) -> str:
    """The ``bulkId`` of an object's create: derived from the anchor (stable across attempts),
    in a charset every server takes (an anchor is base64 with ``+/=``)."""
    return f"{kind}-{hashlib.sha256(anchor.encode()).hexdigest()[:24]}"


def bulk_body(operations: Sequence[tuple[str, str, Mapping[str, Any]]]) -> dict[str, Any]:
    """A BulkRequest (RFC 7644 §3.7) of POSTs ``(bulkId, endpoint, data)``. No ``failOnErrors``:
    the service performs every operation it can, each independent of the others."""
    return {"schemas": [BULK_REQUEST_SCHEMA],
            "Operations": [{"method": "POST", "path": path, "bulkId": bid, "data": data}
                           for bid, path, data in operations]}


def chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    size = max(1, size)
    for i in range(0, len(items), size):
        yield items[i : i + size]


def apply_dialect(payload: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
    """Rewrite a PatchOp body for the dialect: op name case and boolean style."""
    for op in payload.get("Operations", ()):
        if dialect.op_case == "capitalized":
            op["op"] = op["op"].capitalize()
        if dialect.boolean_style == "string" and "value" in op:
            op["value"] = stringify_booleans(op["value"])
    return payload


def stringify_booleans(value: Any) -> Any:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, dict):
        return {k: stringify_booleans(v) for k, v in value.items()}
    if isinstance(value, list):
        return [stringify_booleans(v) for v in value]
    return value


def replace_body(current: Mapping[str, Any], changes: Mapping[str, Any], *, anchor: str | None,
                 base_url: str = "", typeless: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The full resource to PUT when PATCH is unsupported: ``current`` with ``changes`` applied,
    without empty values (django-scim2 answers a user without email with ``{"value": ""}`` and
    refuses that same entry in a PUT). ``typeless``: multi-valued attributes whose ``type`` the
    service drops (``notkept.typeless``): a typed change replaces their untyped entries too."""
    body: dict[str, Any] = json.loads(json.dumps(dict(current)))
    for key in ("meta", "id"):
        body.pop(key, None)
    if anchor is not None:
        body["externalId"] = anchor
    for path, raw in changes.items():
        parsed = parse_path(path)
        holder = body.setdefault(parsed.urn, {}) if parsed.urn else body
        if parsed.urn and parsed.urn not in body.get("schemas", []):
            body.setdefault("schemas", []).append(parsed.urn)
        if parsed.filter:
            key, match = parsed.filter
            items = [i for i in holder.get(parsed.attr, []) if i.get(key) != match
                     and not (parsed.attr in typeless and key == "type" and key not in i)]
            if raw is not None:
                items.append({key: match, parsed.sub or "value": raw})
            holder[parsed.attr] = items
            if not items:
                holder.pop(parsed.attr)
        elif parsed.sub:
            sub = holder.setdefault(parsed.attr, {})
            if raw is None:
                sub.pop(parsed.sub, None)
            else:
                sub[parsed.sub] = raw
        elif raw is None:
            holder.pop(parsed.attr, None)
        else:
            holder[parsed.attr] = scim_value(parsed, coerce(path, raw), base_url)
    cleaned: dict[str, Any] = without_empty(body)
    return cleaned


def without_empty(value: Any) -> Any:
    """``value`` without ``""`` / ``None`` / empty containers (RFC 7643 §2.5: unassigned), and
    without an entry of a multi-valued attribute whose ``value`` is empty."""
    if isinstance(value, dict):
        out = {k: without_empty(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in ("", None, [], {})}
    if isinstance(value, list):
        items: list[Any] = []
        for item in value:
            if isinstance(item, dict) and "value" in item and item["value"] in ("", None):
                continue
            kept = without_empty(item)
            if kept not in ("", None, [], {}):
                items.append(kept)
        return items
    return value


def search_params(flt: str | None, *, start_index: int = 1, count: int = 100,
                  excluded: Sequence[str] = ()) -> dict[str, str]:
    params = {"startIndex": str(start_index), "count": str(count)}
    if flt:
        params["filter"] = flt
    if excluded:
        params["excludedAttributes"] = ",".join(excluded)
    return params

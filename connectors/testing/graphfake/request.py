"""The parsed request every rule receives (from the HTTP server or from one ``$batch`` item)."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

from attrs import field, frozen

from hybridsync.connectors.testing.graphfake.errors import GraphError


@frozen
class Request:
    method: str
    path: str  # below /v1.0, e.g. "/users/<id>"
    query: Mapping[str, str] = field(factory=dict)
    body: Any = None
    headers: Mapping[str, str] = field(factory=dict)


def iso_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_eq_filter(expr: str, allowed: tuple[str, ...], resource: str) -> tuple[str, str]:
    """``<property> eq '<value>'`` (OData: a quote inside the literal is doubled).

    Filter support per property is listed on the user and group resource pages ("Supports
    $filter (eq, ...)"); anything else is answered 400 ``Request_UnsupportedQuery``.
    """
    expr = expr.strip()
    prop, _, rest = expr.partition(" ")
    op, _, literal = rest.strip().partition(" ")
    literal = literal.strip()
    if (prop not in allowed or op.lower() != "eq" or len(literal) < 2
            or not (literal.startswith("'") and literal.endswith("'"))):
        raise GraphError(400, "Request_UnsupportedQuery",
                         f"Unsupported or invalid query filter clause specified for property '{prop}' "
                         f"of resource '{resource}'.")
    inner = literal[1:-1]
    if "'" in inner.replace("''", ""):
        raise GraphError(400, "BadRequest", f"Invalid filter clause: syntax error at '{expr}'.")
    return prop, inner.replace("''", "'")


def select(body: dict[str, Any], query: Mapping[str, str]) -> dict[str, Any]:
    wanted = query.get("$select")
    if not wanted:
        return body
    keep = {s.strip() for s in wanted.split(",")} | {"id"}
    return {k: v for k, v in body.items() if k in keep or k.startswith("@")}

"""Server-driven paging for collections: ``$top`` and ``@odata.nextLink`` with ``$skiptoken``.

https://learn.microsoft.com/graph/paging: "the response ... contains an @odata.nextLink
property ... use the entire URL in the @odata.nextLink property in a GET request to retrieve the
next page"; the token is opaque to the client.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

from hybridsync.connectors.testing.graphfake.errors import GraphError, Reply
from hybridsync.connectors.testing.graphfake.request import Request
from hybridsync.connectors.testing.graphfake.state import Directory


def encode(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def decode(token: str) -> dict[str, Any]:
    try:
        return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError as exc:
        raise GraphError(400, "BadRequest", "The skip token is invalid or expired.") from exc


def page(d: Directory, req: Request, segment: str, items: list[dict[str, Any]]) -> Reply:
    size = d.knobs.list_page_size
    if "$top" in req.query:
        try:
            size = max(1, min(999, int(req.query["$top"])))
        except ValueError as exc:
            raise GraphError(400, "BadRequest", "Invalid value for $top.") from exc
    offset = decode(req.query["$skiptoken"]).get("offset", 0) if "$skiptoken" in req.query else 0
    body: dict[str, Any] = {"@odata.context": f"{d.base_url}/$metadata#{segment}",
                            "value": items[offset:offset + size]}
    if offset + size < len(items):
        keep = {k: v for k, v in req.query.items() if k != "$skiptoken"}
        keep["$skiptoken"] = encode({"offset": offset + size})
        body["@odata.nextLink"] = f"{d.base_url}{req.path}?{urlencode(keep, safe='$')}"
    return Reply(200, body)

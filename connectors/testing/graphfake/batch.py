"""``POST /$batch``: up to 20 requests, each answered on its own.

Rules, https://learn.microsoft.com/graph/json-batching:
- "JSON batching allows you to optimize your application by combining multiple requests (up to
  20) into a single JSON object" -- more than 20 -> 400 for the whole batch;
- each request has ``id`` (unique in the batch), ``method``, ``url`` (relative, no version
  segment), optional ``headers`` and ``body``; the answer lists ``responses`` with ``id``,
  ``status``, ``headers``, ``body``; the batch itself is 200 whatever the items say;
- "the status code on a batch response is typically 200 or 400 ... the individual requests
  ... might each have a different status"; a throttled item is answered 429 with its own
  ``Retry-After`` header in the item's ``headers``;
- ``dependsOn``: "If an individual request fails, any request that depends on that request
  fails with status code 424 (Failed Dependency)".
The fake answers items in request order (Graph may reorder them; clients must match by ``id``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from hybridsync.connectors.testing.graphfake import router
from hybridsync.connectors.testing.graphfake.errors import GraphError, Reply, error_body
from hybridsync.connectors.testing.graphfake.request import Request
from hybridsync.connectors.testing.graphfake.state import Directory
from hybridsync.connectors.testing.graphfake.throttle import WriteQuota

MAX_REQUESTS = 20


class BatchThrottle:
    """The ``batch_throttle_items`` knob: how many of the next items are answered 429."""

    def __init__(self) -> None:
        self.remaining = 0


def _item_request(item: dict[str, Any]) -> Request:
    url = item["url"]
    parts = urlsplit(url if url.startswith("/") else "/" + url)
    path = parts.path
    if path.startswith("/v1.0/"):
        path = path[len("/v1.0"):]
    return Request(str(item["method"]).upper(), path, dict(parse_qsl(parts.query)), item.get("body"),
                   {str(k): str(v) for k, v in (item.get("headers") or {}).items()})


def handle(d: Directory, quota: WriteQuota, throttle: BatchThrottle, req: Request) -> Reply:
    body = req.body
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests:
        raise GraphError(400, "BadRequest", "Invalid batch payload format.")
    if len(requests) > MAX_REQUESTS:
        raise GraphError(400, "BadRequest", f"Number of included requests exceeds the maximum of {MAX_REQUESTS}.")
    ids = [r.get("id") if isinstance(r, dict) else None for r in requests]
    if any(not isinstance(i, str) or not i for i in ids) or len(set(ids)) != len(ids):
        raise GraphError(400, "BadRequest", "Each request in a batch needs a unique 'id'.")
    for r in requests:
        if not r.get("method") or not isinstance(r.get("url"), str):
            raise GraphError(400, "BadRequest", f"Request '{r['id']}' needs 'method' and 'url'.")
        if r.get("body") is not None and not any(k.lower() == "content-type" for k in (r.get("headers") or {})):
            # json-batching: "the headers property must include a Content-Type header" with a body.
            raise GraphError(400, "BadRequest", f"Request '{r['id']}' has a body but no Content-Type header.")
    status: dict[str, int] = {}
    responses = []
    for r in requests:
        deps = r.get("dependsOn") or []
        if any(dep not in status for dep in deps):
            raise GraphError(400, "BadRequest", f"Request '{r['id']}' depends on a request that is not before it.")
        if any(not 200 <= status[dep] < 300 for dep in deps):
            reply = Reply(424, error_body("FailedDependency", "A request this request depends on failed."))
        elif throttle.remaining > 0:
            throttle.remaining -= 1
            reply = Reply(429, error_body("TooManyRequests", "Too many requests."),
                          {"Retry-After": str(d.knobs.batch_retry_after)})
        else:
            reply = router.dispatch(d, quota, _item_request(r))
        status[r["id"]] = reply.status
        headers = dict(reply.headers)
        if reply.body is not None:
            headers.setdefault("Content-Type", "application/json")
        entry: dict[str, Any] = {"id": r["id"], "status": reply.status, "headers": headers}
        if reply.body is not None:
            entry["body"] = reply.body
        responses.append(entry)
    return Reply(200, {"responses": responses})

"""Moving bytes to Graph: one keep-alive ``httpx.Client``, the bearer token, a write budget.

- Writes pass a token bucket under Graph's identity write quota (about 3,000 requests per 150 s
  per app and tenant, https://learn.microsoft.com/graph/throttling-limits): 18.6 writes/s unless
  ``rate_limit`` says otherwise. Nothing sleeps: an empty bucket is the seconds to wait, which
  the target returns as ``RetryAfter``.
- ``x-ms-throttle-limit-percentage`` (sent above 80 % of a limit, same page): our own budget
  keeps usage near 0.95; a value of 0.98 or more means other apps share the tenant's quota, so
  the bucket rate is halved for 30 s, slowing down before Graph answers 429.
- ``$batch`` (https://learn.microsoft.com/graph/json-batching): at most 20 requests; each item
  is answered (and throttled) on its own; every item counts against the write budget.
- A 401 renews the token once (MSAL caches it; an expired one is refused by Graph).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import httpx

from hybridsync.connectors.entra import bounded
from hybridsync.connectors.entra.tokens import Tokens
from hybridsync.connectors.scim.transport import TokenBucket, build_client
from hybridsync.engine.core.config import TargetConfig

BATCH_MAX = 20
QUOTA_RATE = 3000 / 150 * 0.93  # writes per second, under the published quota
# rate x 150 s + the banked burst stays under 3,000 (2,902 at most: 96.7 % of the quota)
BURST_SECONDS = 6.0  # writes banked: 6 s worth (111 under the default rate)
SLOW_FACTOR = 0.5
SLOW_FOR = 30.0  # seconds a throttle-percentage warning slows writes down
SLOW_ABOVE = 0.98  # our own budget keeps usage under ~0.97; above that others share the quota
USER_AGENT = "hybridsync"


@attrs.frozen
class Request:
    method: str
    path: str  # relative to graph_url, e.g. "/users"
    json: Any = None
    params: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def write(self) -> bool:
        return self.method != "GET"


@attrs.frozen
class Response:
    status: int
    headers: Mapping[str, str]
    body: Any


class Transport:
    def __init__(self, config: TargetConfig, client: httpx.Client | None = None):
        self._config = config
        self._owns_client = client is None
        self.client = client or build_client(config)
        self.base_url = config.graph_url.rstrip("/")
        self.tokens = Tokens(config, self.client)
        self.rate = float(config.rate_limit or QUOTA_RATE)
        self.bucket = TokenBucket(self.rate, burst=max(1.0, self.rate * BURST_SECONDS))
        self._slow_until = 0.0
        self._slots = threading.BoundedSemaphore(max(1, config.max_in_flight))
        self.sent = 0  # HTTP requests to Graph (batches count once), for describe() and benches

    def __repr__(self) -> str:
        return f"Transport({self.base_url!r})"

    def wait_needed(self, writes: int = 1) -> float:
        """0 when ``writes`` writes may go now (taken from the bucket); else seconds to wait."""
        for _ in range(writes):  # a partial take stays spent: conservative under the quota
            wait = self.bucket.take()
            if wait > 0:
                return wait
        return 0.0

    def _observe(self, headers: Mapping[str, str]) -> None:
        try:
            pct = float(headers.get("x-ms-throttle-limit-percentage") or 0.0)
        except ValueError:
            pct = 0.0
        now = time.monotonic()
        if pct >= SLOW_ABOVE:
            self._slow_until = now + SLOW_FOR
            self.bucket.rate = self.rate * SLOW_FACTOR
        elif self._slow_until and now > self._slow_until:
            self._slow_until = 0.0
            self.bucket.rate = self.rate

    @property
    def slowed(self) -> bool:
        return self.bucket.rate < self.rate

    def send(self, request: Request) -> Response:
        """One request (raises ``httpx.RequestError`` / ``TokenError``)."""
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {self.tokens.token(renew=attempt > 0)}",
                       "Accept": "application/json", "User-Agent": USER_AGENT}
            content = None
            if request.json is not None:
                content = json.dumps(request.json, ensure_ascii=False).encode()
                headers["Content-Type"] = "application/json"
            with self._slots:
                status, got_headers, raw = bounded.exchange(
                    self.client, request.method, self.base_url + request.path, timeout=self._config.timeout,
                    cap=self._config.max_response_bytes, params=dict(request.params) or None, content=content,
                    headers=headers)
            self.sent += 1
            self._observe(got_headers)
            body: Any = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw[:500].decode("utf-8", "replace")
            err = body.get("error") if isinstance(body, dict) else None
            expired = status == 401 and isinstance(err, dict) and err.get("code") == "InvalidAuthenticationToken"
            if not expired or attempt:  # an expired/unknown token: renew once
                return Response(status, got_headers, body)
        raise AssertionError("unreachable")

    def batch(self, requests: Sequence[Request]) -> Response | list[Response]:
        """Up to 20 requests in one ``POST /$batch``: the items' answers in request order, or the
        batch's own answer when the batch as a whole failed."""
        assert 0 < len(requests) <= BATCH_MAX
        items = []
        for i, req in enumerate(requests):
            item: dict[str, Any] = {"id": str(i + 1), "method": req.method, "url": req.path}
            if req.params:
                item["url"] += "?" + "&".join(f"{k}={v}" for k, v in req.params.items())
            if req.json is not None:
                item["body"] = req.json
                item["headers"] = {"Content-Type": "application/json"}
            items.append(item)
        resp = self.send(Request("POST", "/$batch", json={"requests": items}))
        if resp.status != 200 or not isinstance(resp.body, Mapping):
            return resp
        listed = resp.body.get("responses")
        by_id = {str(r.get("id")): r for r in listed if isinstance(r, Mapping)} if isinstance(listed, list) else {}
        out = []
        for i in range(len(requests)):  # an item missing or unreadable: 500, retried (uncertain)
            got = by_id.get(str(i + 1), {})
            raw_headers = got.get("headers")
            headers = ({str(k).lower(): str(v) for k, v in raw_headers.items()}
                       if isinstance(raw_headers, Mapping) else {})
            self._observe(headers)
            status = got.get("status")
            code = status if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599 else 500
            out.append(Response(code, headers, got.get("body")))
        return out

    def secrets(self) -> list[str]:
        return self.tokens.secrets()

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

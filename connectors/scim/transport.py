"""Moving bytes: one keep-alive ``httpx.Client`` per target, bounded in-flight, optional rate limit.

The client is injected (tests wrap its transport to count calls or inject faults, see
``hybridsync.connectors.testing.faults``). Nothing here sleeps: when the token bucket is empty,
``Transport.send`` returns the seconds to wait and the target turns that into ``RetryAfter``, so a
20 req/s quota is never exceeded and the loop decides when to come back. The in-flight bound is a
semaphore (callers on several threads queue for a connection slot; that is back-pressure, not a
retry sleep).

Credentials live only in the ``Authorization`` header of the requests this module builds; they are
read from the config at first use, never stored in a repr, and never part of an error message
(httpx's exception texts carry neither headers nor bodies).
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from hybridsync.connectors.scim.prepare import Request
from hybridsync.engine.core.config import TargetConfig

SCIM_JSON = "application/scim+json"
USER_AGENT = "hybridsync"  # AWS IAM Identity Center refuses PATCH without a User-Agent


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` banked. ``take()`` -> 0 or seconds to wait."""

    def __init__(self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic):
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(1.0, rate))
        self._clock = clock
        self._tokens = self.burst
        self._at = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate


def build_client(config: TargetConfig) -> httpx.Client:
    """The default keep-alive client: TLS verified unless ``tls_verify = false``; ``ca_file`` trusted."""
    verify: Any = config.tls_verify
    if config.tls_verify and config.ca_file:
        verify = ssl.create_default_context(cafile=config.ca_file)
    limits = httpx.Limits(max_connections=config.max_in_flight, max_keepalive_connections=config.max_in_flight)
    return httpx.Client(verify=verify, timeout=config.timeout, limits=limits)


class Response:
    """What ``check`` needs of an answer: status, headers, parsed JSON body (or None)."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: httpx.Headers, body: Any):
        self.status = status
        self.headers = headers
        self.body = body

    @classmethod
    def from_httpx(cls, response: httpx.Response) -> "Response":
        body = None
        if response.content:
            try:
                body = json.loads(response.content)
            except ValueError:
                body = response.text[:500]
        return cls(response.status_code, response.headers, body)


class Transport:
    def __init__(self, config: TargetConfig, client: httpx.Client | None = None):
        self._config = config
        self._owns_client = client is None
        self.client = client or build_client(config)
        self.base_url = config.url.rstrip("/")
        self._slots = threading.BoundedSemaphore(max(1, config.max_in_flight))
        self.bucket = TokenBucket(config.rate_limit) if config.rate_limit else None
        self._auth: dict[str, str] | None = None
        self._auth_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Transport({self.base_url!r})"

    def _auth_headers(self) -> dict[str, str]:
        if self._auth is None:
            with self._auth_lock:
                if self._auth is None:
                    c = self._config
                    if c.auth == "bearer":
                        token = c.token()
                        self._auth = {"Authorization": f"Bearer {token}"} if token else {}
                    elif c.auth == "basic":
                        basic = httpx.BasicAuth(c.username or "", c.password() or "")
                        request = next(basic.auth_flow(httpx.Request("GET", "http://x")))
                        self._auth = {"Authorization": request.headers["Authorization"]}
                    else:
                        self._auth = {}
        return self._auth

    def secrets(self) -> list[str]:
        """The credential strings in use (so error texts can be scrubbed of them)."""
        out = []
        for value in self._auth_headers().values():
            out.append(value)
            out.append(value.partition(" ")[2])
        return [s for s in out if s]

    def wait_needed(self) -> float:
        """0 when a request may go now; else seconds until the rate limit allows one."""
        return self.bucket.take() if self.bucket else 0.0

    def send(self, request: Request) -> Response:
        """Send one request (raises httpx.TransportError / TimeoutException on transport failure)."""
        headers = {"Accept": SCIM_JSON, "User-Agent": USER_AGENT, **self._auth_headers(), **request.headers}
        content = None
        if request.json is not None:
            content = json.dumps(request.json, ensure_ascii=False).encode()
            headers["Content-Type"] = SCIM_JSON
        with self._slots:
            response = self.client.request(
                request.method,
                self.base_url + request.path,
                params=dict(request.params) or None,
                content=content,
                headers=headers,
            )
        return Response.from_httpx(response)

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

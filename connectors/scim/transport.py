"""Moving bytes: one keep-alive ``httpx.Client`` per target, bounded in-flight, optional rate limit.

The client is injected (tests wrap its transport to count calls or inject faults, see
``hybridsync.connectors.testing.faults``). Nothing here sleeps: when the token bucket is empty,
``Transport.send`` returns the seconds to wait and the target turns that into ``RetryAfter``, so a
20 req/s quota is never exceeded and the loop decides when to come back. The in-flight bound is a
semaphore (callers on several threads queue for a connection slot; that is back-pressure, not a
retry sleep).

Every request has one overall deadline, ``timeout`` seconds for connect + send + the whole answer:
the per-phase timeouts httpx hands to httpcore are read from a mapping that answers the time left
at each socket operation, so a server that drip-feeds one byte at a time or stalls mid-body cannot
hold a request past it (``DeadlineExceeded``); neither can a stalled name resolution
(``resolve.py``: the lookup runs under the connect timeout, which is the time left). Bodies are streamed and capped at
``max_response_bytes`` (``ResponseTooLarge``): a 200 MB error page costs at most the cap. Both are
``httpx.RequestError`` errors, so the target answers them as a retriable, *uncertain* failure.

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
import structlog

from hybridsync.connectors.scim.prepare import Request
from hybridsync.connectors.scim.resolve import bound_resolution
from hybridsync.engine.core.config import TargetConfig, insecure_target

log = structlog.get_logger("hybridsync.security")
SCIM_JSON = "application/scim+json"
USER_AGENT = "hybridsync"  # AWS IAM Identity Center refuses PATCH without a User-Agent


class DeadlineExceeded(httpx.TimeoutException):
    """The answer did not arrive in full before the request's overall deadline."""


class ResponseTooLarge(httpx.RequestError):
    """The answer's body is larger than ``max_response_bytes``."""


class TimeLeft(dict[str, float | None]):
    """httpcore's per-operation timeouts (``connect``, ``write``, ``read``, ``pool``), each the
    time left until one deadline, computed when httpcore asks."""

    def __init__(self, deadline: float):
        super().__init__(connect=None, read=None, write=None, pool=None)
        self.deadline = deadline

    def left(self) -> float:
        return max(0.001, self.deadline - time.monotonic())

    def get(self, key: str, default: Any = None) -> Any:
        return self.left()

    def __getitem__(self, key: str) -> float:
        return self.left()


def read_capped(response: httpx.Response, request: httpx.Request, *, deadline: float, cap: int,
                timeout: float) -> bytes:
    """The whole body of a streamed ``response``: at most ``cap`` bytes (``ResponseTooLarge``), in
    full before ``deadline`` (``DeadlineExceeded``; ``timeout`` only names it). Also the Entra
    connector's reader (connectors/entra/bounded.py)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise ResponseTooLarge(f"answer of {declared} bytes is over the {cap}-byte cap", request=request)
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > cap:
            raise ResponseTooLarge(f"answer is over the {cap}-byte cap", request=request)
        chunks.append(chunk)
        if time.monotonic() > deadline:
            raise DeadlineExceeded(f"answer not complete within {timeout}s", request=request)
    return b"".join(chunks)


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
    # name resolution too is bounded by the request's deadline (resolve.py: getaddrinfo has no timeout)
    return bound_resolution(httpx.Client(verify=verify, timeout=config.timeout, limits=limits))


class Response:
    """What ``check`` needs of an answer: status, headers, parsed JSON body (or None)."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: httpx.Headers, body: Any):
        self.status = status
        self.headers = headers
        self.body = body

    @classmethod
    def from_httpx(cls, response: httpx.Response) -> "Response":
        return cls.from_content(response.status_code, response.headers, response.content)

    @classmethod
    def from_content(cls, status: int, headers: httpx.Headers, content: bytes) -> "Response":
        """``body``: the parsed JSON, or the first 500 characters of a text that is not JSON
        (``check`` treats a 2xx with such a body as an uncertain answer)."""
        body: Any = None
        if content:
            try:
                body = json.loads(content)
            except ValueError:
                body = content[:500].decode("utf-8", "replace")
        return cls(status, headers, body)


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
        for key, message in insecure_target(config):  # every engine start, not only check-config
            log.warning("insecure_target", target=config.name, key=key, message=message)

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
        deadline = time.monotonic() + self._config.timeout
        with self._slots:
            built = self.client.build_request(request.method, self.base_url + request.path,
                                              params=dict(request.params) or None, content=content, headers=headers)
            built.extensions["timeout"] = TimeLeft(deadline)
            response = self.client.send(built, stream=True)
            try:
                body = self._read(response, built, deadline)
            finally:
                response.close()
        return Response.from_content(response.status_code, response.headers, body)

    def _read(self, response: httpx.Response, request: httpx.Request, deadline: float) -> bytes:
        return read_capped(response, request, deadline=deadline, cap=self._config.max_response_bytes,
                           timeout=self._config.timeout)

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

"""A fault-injecting, call-counting ``httpx`` transport that wraps any real one.

Like controller-runtime's client interceptor: the connector under test keeps talking to the real
service; ``FaultTransport`` sits between its ``httpx.Client`` and the network and, for requests
that match a queued ``Fault``, answers in its place (a status with headers and a SCIM error
body), raises what a broken network raises (reset, timeout), or lets the request through and
then loses the answer (``lost_response``: the service applied it, the client never heard).

    faults = FaultTransport(httpx.HTTPTransport())
    client = httpx.Client(transport=faults)
    faults.add(Fault.status(429, headers={"Retry-After": "7"}), method="POST")
    ...
    assert faults.count("PATCH") <= 2

Every request is recorded in ``calls`` as ``(method, path)``; ``count()`` filters them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from attrs import field, frozen

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


@frozen
class Fault:
    kind: str  # "status" | "reset" | "timeout" | "lost_response"
    status: int = 0
    headers: Mapping[str, str] = field(factory=dict)
    body: Any = None

    @classmethod
    def status_code(cls, status: int, *, scim_type: str | None = None, detail: str = "injected fault",
                    headers: Mapping[str, str] | None = None) -> "Fault":
        body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(status), "detail": detail}
        if scim_type:
            body["scimType"] = scim_type
        return cls("status", status, dict(headers or {}), body)

    @classmethod
    def reset(cls) -> "Fault":
        return cls("reset")

    @classmethod
    def timeout(cls) -> "Fault":
        """A stalled service: the client's read timeout fires (raised at once, no real wait)."""
        return cls("timeout")

    @classmethod
    def lost_response(cls) -> "Fault":
        return cls("lost_response")


class _Rule:
    def __init__(self, fault: Fault, method: str | None, path: Callable[[str], bool] | str | None, times: int):
        self.fault = fault
        self.method = method.upper() if method else None
        self.path = path
        self.times = times

    def matches(self, request: httpx.Request) -> bool:
        if self.times <= 0 or (self.method and request.method != self.method):
            return False
        if self.path is None:
            return True
        path = request.url.path
        return self.path(path) if callable(self.path) else self.path in path


class FaultTransport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport | None = None):
        self.inner = inner or httpx.HTTPTransport()
        self.calls: list[tuple[str, str]] = []
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault, *, method: str | None = None, path: Callable[[str], bool] | str | None = None,
            times: int = 1) -> "FaultTransport":
        """Inject ``fault`` into the next ``times`` requests matching ``method`` / ``path``."""
        with self._lock:
            self._rules.append(_Rule(fault, method, path, times))
        return self

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self.calls.clear()

    def count(self, method: str | None = None, path: str | None = None) -> int:
        return sum(1 for m, p in list(self.calls)
                   if (method is None or m == method.upper()) and (path is None or path in p))

    def _take(self, request: httpx.Request) -> Fault | None:
        with self._lock:
            self.calls.append((request.method, request.url.path))
            for rule in self._rules:
                if rule.matches(request):
                    rule.times -= 1
                    return rule.fault
        return None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        fault = self._take(request)
        if fault is None:
            return self.inner.handle_request(request)
        if fault.kind == "status":
            content = json.dumps(fault.body).encode() if fault.body is not None else b""
            headers = {"Content-Type": "application/scim+json", **fault.headers}
            return httpx.Response(fault.status, headers=headers, content=content, request=request)
        if fault.kind == "reset":
            raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
        if fault.kind == "timeout":
            raise httpx.ReadTimeout("timed out", request=request)
        if fault.kind == "lost_response":
            response = self.inner.handle_request(request)
            response.read()
            response.close()
            raise httpx.ReadError("[Errno 104] Connection reset by peer (response lost)", request=request)
        raise ValueError(f"unknown fault {fault.kind!r}")

    def close(self) -> None:
        self.inner.close()

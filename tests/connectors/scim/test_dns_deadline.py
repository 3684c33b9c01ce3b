"""Issue 15, DNS under the deadline: httpcore resolves with ``getaddrinfo``, which has no
timeout; a resolver that stalls must not hold a request past its overall deadline. The request
fails within it, as a retriable failure, and the name (not the address) is what TLS and the
``Host`` header see."""

from __future__ import annotations

import socket
import threading
import time

import httpcore
import pytest

from hybridsync.connectors.base import Done, RetryAfter
from hybridsync.connectors.scim import ScimTarget
from hybridsync.connectors.scim.resolve import DeadlineBackend, resolve_within
from hybridsync.connectors.testing.hostile import Answer, HostileServer, Seen
from hybridsync.engine.core.config import TargetConfig
from hybridsync.engine.core.values import ObjectKind

STALLING = "stalls.resolver.test"
LIST = b'{"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 0, "Resources": []}'


@pytest.fixture
def stalling_resolver(monkeypatch):
    """``getaddrinfo`` that sleeps 5 s for STALLING (then answers 127.0.0.1) and answers every
    other name at once; released at teardown so no thread is left sleeping long."""
    real = socket.getaddrinfo
    release = threading.Event()
    asked: list[str] = []

    def fake(host, port, *args, **kwargs):
        asked.append(str(host))
        if host == STALLING:
            release.wait(5.0)
            return real("127.0.0.1", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    yield asked
    release.set()


def answer_all(seen: Seen) -> Answer:
    if seen.path.split("?")[0].endswith(("/ServiceProviderConfig", "/ResourceTypes")):
        return Answer(404)
    return Answer(200, body=LIST)


def test_a_stalled_resolver_ends_the_request_at_its_deadline(stalling_resolver):
    with HostileServer(answer_all) as server:
        port = server.url.split(":")[2].split("/")[0]
        target = ScimTarget(TargetConfig(name="dns", url=f"http://{STALLING}:{port}/scim/v2", auth="none",
                                         timeout=0.5))
        start = time.monotonic()
        result = target.lookup_by_anchor(ObjectKind.USER, "YQ==")
        took = time.monotonic() - start
        target.close()
    assert STALLING in stalling_resolver
    assert isinstance(result, RetryAfter), result  # retriable, nothing recorded as done
    assert took < 0.5 * 3 + 0.5  # discovery (two requests) and the lookup, each cut at 0.5 s


def test_a_name_that_resolves_is_connected_to_and_sent_as_the_host(stalling_resolver):
    with HostileServer(answer_all) as server:
        port = server.url.split(":")[2].split("/")[0]
        target = ScimTarget(TargetConfig(name="dns", url=f"http://localhost:{port}/scim/v2", auth="none",
                                         timeout=5.0))
        result = target.lookup_by_anchor(ObjectKind.USER, "YQ==")
        target.close()
        hosts = {s.headers.get("host") for s in server.seen}
    assert isinstance(result, Done), result
    assert "localhost" in stalling_resolver  # resolved by our backend, on its thread
    assert hosts == {f"localhost:{port}"}


def test_resolve_within_gives_up_at_the_deadline_and_names_the_host(stalling_resolver):
    start = time.monotonic()
    with pytest.raises(httpcore.ConnectTimeout, match=STALLING):
        resolve_within(STALLING, 443, time.monotonic() + 0.2)
    assert time.monotonic() - start < 1.0
    assert resolve_within("127.0.0.1", 443, time.monotonic()) == ["127.0.0.1"]  # no lookup for an address


def test_the_backend_connects_to_the_first_address_that_answers(monkeypatch):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    real = socket.getaddrinfo

    def two(host, p, *args, **kwargs):
        if host == "two.resolver.test":  # a dead address first, as a stale record would be
            return real("127.0.0.2", 1, *args, **kwargs)[:1] + real("127.0.0.1", p, *args, **kwargs)
        return real(host, p, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", two)
    stream = DeadlineBackend().connect_tcp("two.resolver.test", port, timeout=3.0)
    assert stream.get_extra_info("socket").getpeername() == ("127.0.0.1", port)
    stream.close()
    srv.close()

"""Issue 15, finding 6: every request has an overall deadline (connect + send + whole body) and
a streamed body cap; beyond either the answer is an uncertain, retriable failure."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from hybridsync.connectors.base import Done, RetryAfter
from hybridsync.connectors.scim import ScimTarget
from hybridsync.connectors.testing.hostile import Answer, HostileServer, Seen
from hybridsync.engine.core.config import TargetConfig
from hybridsync.engine.core.values import ObjectKind

K = ObjectKind
USER = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "u1", "externalId": "YQ==",
        "userName": "a@corp.example"}


def discovery_then(answer: Answer):
    def script(seen: Seen) -> Answer:
        if seen.path.split("?")[0].endswith(("/ServiceProviderConfig", "/ResourceTypes")):
            return Answer(404)
        return answer
    return script


def target_for(server: HostileServer, **kw) -> ScimTarget:
    return ScimTarget(TargetConfig(name="hostile", url=server.url, auth="none", **kw))


def timed(fn):
    start = time.monotonic()
    result = fn()
    return result, time.monotonic() - start


def test_a_drip_fed_answer_ends_at_the_deadline():
    body = b'{"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "Resources": []}'
    with HostileServer(discovery_then(Answer(200, body=body, drip=0.1))) as server:
        target = target_for(server, timeout=1.0)
        result, took = timed(lambda: target.lookup_by_anchor(K.USER, "YQ=="))
        target.close()
    assert isinstance(result, RetryAfter), result
    assert took < 1.0 * 3 + 0.5  # two discovery requests answer at once; the lookup is cut at 1 s


def test_a_stalled_answer_ends_at_the_deadline():
    with HostileServer(discovery_then(Answer(200, stall=10.0))) as server:
        target = target_for(server, timeout=0.5)
        target.dialect  # discovery answers at once
        result, took = timed(lambda: target.create(K.USER, "YQ==", {"userName": "a@corp.example"}))
        target.close()
    assert isinstance(result, RetryAfter) and took < 1.5


@pytest.mark.parametrize("status", [200, 500])
def test_an_oversized_answer_is_an_uncertain_failure_not_a_memory_spike(status):
    with HostileServer(discovery_then(Answer(status, body=b'{"id": "u1"', filler=64 * 1024 * 1024))) as server:
        target = target_for(server, timeout=10.0, max_response_bytes=1024 * 1024)
        target.dialect
        tracemalloc.start()
        result = target.create(K.USER, "YQ==", {"userName": "a@corp.example"})
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        target.close()
    assert isinstance(result, RetryAfter), result
    assert "ResponseTooLarge" in result.why
    assert peak < 16 * 1024 * 1024


def test_a_declared_oversized_answer_is_refused_before_reading():
    answer = Answer(200, body=b"{}", content_length=50 * 1024 * 1024)
    with HostileServer(discovery_then(answer)) as server:
        target = target_for(server, timeout=5.0, max_response_bytes=1024 * 1024)
        target.dialect
        result, took = timed(lambda: target.lookup_by_anchor(K.USER, "YQ=="))
        target.close()
    assert isinstance(result, RetryAfter) and took < 2


def test_a_normal_answer_still_arrives_whole():
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 1,
            "Resources": [USER]}
    with HostileServer(discovery_then(Answer.json(200, body))) as server:
        target = target_for(server, timeout=5.0)
        result = target.lookup_by_anchor(K.USER, "YQ==")
        target.close()
    assert isinstance(result, Done) and result.target_id == "u1"

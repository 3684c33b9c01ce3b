"""``HostileContract``: any target connector against a hostile server, with three invariants.

Subclass it in your connector's tests and provide ``make_target`` (a fixture returning a function
``url -> connector`` whose per-request deadline is ``self.timeout`` seconds and whose credentials
are ``self.secrets``); ``path``, ``create_attributes`` and ``route`` (answers not under test, such
as a token endpoint) fit it to a protocol other than SCIM. Every generated answer (``strategies.answers``: garbage 2xx, error codes
with odd or credential-echoing bodies, drip-feed, stall, oversize, a lying Content-Length) is
served to lookups, listings, creates and updates, and then:

1. every call ends within its deadline (``max_requests`` requests of ``timeout`` seconds each);
2. nothing unproven is done: a create is ``Done`` only with a target id, a lookup's matches all
   carry ids, a listing is ``Done`` only when the answers were a well-formed listing;
3. no secret appears in any result, in any repr, or in any log line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from structlog.testing import capture_logs

from hybridsync.connectors.base import Done, RetryAfter, Terminal
from hybridsync.connectors.testing.hostile.server import Answer, HostileServer, Seen
from hybridsync.connectors.testing.hostile.strategies import answers
from hybridsync.engine.core.values import ObjectKind

K = ObjectKind


class HostileContract:
    timeout: float = 0.5
    max_requests: int = 8
    secrets: tuple[str, ...] = ()
    examples: int = 30
    path: str = "/scim/v2"  # where the server's URL points (Graph: "/v1.0")
    create_attributes: dict[str, Any] = {"userName": "a@corp.example"}  # a valid create for the protocol

    def route(self, seen: Seen) -> Answer | None:
        """An answer that is not under test (e.g. a token endpoint the connector must pass
        first), or None for the hostile answer. Override for a protocol that needs one."""
        return None

    @pytest.fixture
    def hostile(self):
        current: list[Answer] = [Answer(404)]
        with HostileServer(lambda seen: self.route(seen) or current[0], path=self.path) as server:
            server.current = current  # type: ignore[attr-defined]
            yield server

    def _check(self, result: Any, logs: list[Any], took: float) -> None:
        assert took < self.max_requests * self.timeout + 1.0, f"took {took:.1f}s"
        assert isinstance(result, (Done, RetryAfter, Terminal)), result
        text = repr(result) + repr(logs)
        for secret in self.secrets:
            assert secret not in text, "a secret reached a result or a log line"

    def _run(self, make_target: Callable[[str], Any], server: HostileServer, answer: Answer,
             call: Callable[[Any], Any]) -> Any:
        server.current[0] = answer  # type: ignore[attr-defined]
        target = make_target(server.url)
        try:
            with capture_logs() as logs:
                start = time.monotonic()
                result = call(target)
                took = time.monotonic() - start
        finally:
            target.close()
        self._check(result, logs, took)
        return result

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(answer=answers)
    def test_hostile_create_is_never_done_without_an_id(self, make_target, hostile, answer):
        result = self._run(make_target, hostile, answer,
                           lambda t: t.create(K.USER, "YQ==", dict(self.create_attributes)))
        if isinstance(result, Done):
            assert isinstance(result.target_id, str) and result.target_id.strip()

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(answer=answers)
    def test_hostile_lookup_never_invents_a_match(self, make_target, hostile, answer):
        result = self._run(make_target, hostile, answer, lambda t: t.lookup_by_anchor(K.USER, "YQ=="))
        if isinstance(result, Done):
            assert all(isinstance(o.target_id, str) and o.target_id not in ("", "None") for o in result.found)

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(answer=answers)
    def test_hostile_listing_is_complete_or_not_done(self, make_target, hostile, answer):
        result = self._run(make_target, hostile, answer, lambda t: t.list_objects(K.USER))
        if isinstance(result, Done):
            assert answer.status in (200, 201, 204) and not answer.stall and not answer.filler
            assert all(o.target_id not in ("", "None") for o in result.found)

    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
    @given(answer=answers)
    def test_hostile_update_ends_in_time(self, make_target, hostile, answer):
        self._run(make_target, hostile, answer, lambda t: t.update(K.USER, "u1", {"displayName": "A"}))

    def test_the_server_saw_the_credentials_it_may_echo(self, make_target, hostile):
        seen: list[Seen] = hostile.seen
        self._run(make_target, hostile, Answer(404), lambda t: t.lookup_by_anchor(K.USER, "YQ=="))
        assert seen, "the connector never reached the hostile server"

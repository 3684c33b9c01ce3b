"""Graph answers that prove nothing are never taken as proof (fast, deterministic companions of
test_hostile.py): a listing is complete only at its deltaLink, a create is done only with an id,
a lookup only from a collection; every request ends within its overall deadline."""

from __future__ import annotations

import re
import threading
import time

import pytest

from hybridsync.connectors.base import Done, RetryAfter
from hybridsync.connectors.entra import EntraTarget
from hybridsync.connectors.testing.hostile.server import Answer, HostileServer, Seen
from hybridsync.engine.core.config import TargetConfig
from hybridsync.engine.core.values import ObjectKind as K

TENANT = "00000000-0000-0000-0000-00000000beef"
TOKEN = "bearer-Checked-T0ken-7"


def serve(answer: Answer):
    def script(seen: Seen) -> Answer:
        if re.match(rf"^/{TENANT}/oauth2/v2\.0/token", seen.path):
            return Answer.json(200, {"token_type": "Bearer", "expires_in": 3599, "access_token": TOKEN})
        return answer
    return HostileServer(script, path="/v1.0")


def target(server: HostileServer, monkeypatch, timeout: float = 0.5) -> EntraTarget:
    monkeypatch.setenv("HS_TEST_CHECKED_SECRET", "s3cret-checked")
    return EntraTarget(TargetConfig(name="checked", kind="entra", tenant_id=TENANT, client_id="app",
                                    client_secret_env="HS_TEST_CHECKED_SECRET", graph_url=server.url,
                                    authority_url=server.url[: -len("/v1.0")], timeout=timeout))


def within(seconds: float, call):
    out: list = []
    worker = threading.Thread(target=lambda: out.append(call()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds}s"
    return out[0]


def test_a_delta_page_whose_next_link_loops_back_ends_not_done(monkeypatch):
    body = b'{"value": [{"id": "1"}], "@odata.nextLink": "{{base}}/users/delta?$skiptoken=again"}'
    with serve(Answer(200, {"Content-Type": "application/json"}, body)) as server:
        t = target(server, monkeypatch)
        got = within(5, lambda: t.list_objects(K.USER))
        t.close()
    assert isinstance(got, RetryAfter)


@pytest.mark.parametrize("body", [b"{}", b'{"value": []}', b'{"value": [{"id": "1"}], "@odata.nextLink": 7}',
                                  b'{"value": [{"displayName": "no id"}], "@odata.deltaLink": "x"}', b"[1, 2]"])
def test_a_listing_is_done_only_when_its_round_ends_in_a_delta_link(monkeypatch, body):
    with serve(Answer(200, {"Content-Type": "application/json"}, body)) as server:
        t = target(server, monkeypatch)
        got = within(5, lambda: t.list_objects(K.USER))
        t.close()
    assert not isinstance(got, Done)


def test_a_well_formed_round_is_done(monkeypatch):
    body = b'{"value": [{"id": "1", "onPremisesImmutableId": "YQ=="}], "@odata.deltaLink": "{{base}}/users/delta?$deltatoken=1"}'
    with serve(Answer(200, {"Content-Type": "application/json"}, body)) as server:
        t = target(server, monkeypatch)
        got = t.list_objects(K.USER)
        t.close()
    assert isinstance(got, Done) and [o.target_id for o in got.found] == ["1"]


@pytest.mark.parametrize("body", [b"{}", b'{"id": ""}', b"<html>Sign in</html>", b"[]"])
def test_a_create_answered_without_an_id_is_uncertain_not_done(monkeypatch, body):
    with serve(Answer(201, {"Content-Type": "application/json"}, body)) as server:
        t = target(server, monkeypatch)
        got = t.create(K.USER, "YQ==", {"userPrincipalName": "a@corp.example"})
        assert (K.USER, "YQ==") in t._uncertain  # the retry looks the anchor up before creating again
        t.close()
    assert isinstance(got, RetryAfter)


@pytest.mark.parametrize("body", [b"[1]", b'{"value": "x"}', b'{"value": [{"id": 5}]}'])
def test_a_lookup_page_that_is_not_a_collection_is_not_an_answer(monkeypatch, body):
    with serve(Answer(200, {"Content-Type": "application/json"}, body)) as server:
        t = target(server, monkeypatch)
        got = t.lookup_by_anchor(K.USER, "YQ==")
        t.close()
    assert isinstance(got, RetryAfter)


def test_a_drip_fed_answer_is_cut_at_the_overall_deadline(monkeypatch):
    with serve(Answer(200, {"Content-Type": "application/json"}, b'{"value": []}' + b" " * 200, drip=0.05)) as server:
        t = target(server, monkeypatch, timeout=0.5)
        start = time.monotonic()
        got = within(8, lambda: t.update(K.USER, "u1", {"displayName": "A"}))
        took = time.monotonic() - start
        t.close()
    assert isinstance(got, RetryAfter) and took < 2.0

"""Issue 15, findings 6 and 7 at the engine level: a whole cycle against a hostile SCIM server ends
within its deadline, records nothing unproven as provisioned, and never takes an untrusted
listing for an empty target."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import attrs
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from enginekit import Clock, config, user  # noqa: E402

from hybridsync.connectors.scim import ScimTarget
from hybridsync.connectors.testing.hostile import Answer, HostileServer, Seen
from hybridsync.connectors.testing.memory import MemorySource
from hybridsync.engine.core.config import TargetConfig
from hybridsync.engine.core.states import State
from hybridsync.engine.runtime.engine import Engine
from hybridsync.statestore import Store

LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
EMPTY = Answer.json(200, {"schemas": [LIST], "totalResults": 0, "Resources": []})
HTML = Answer(200, {"Content-Type": "text/html"}, b"<html>Sign in</html>")


def scripted(on_get: Answer, on_post: Answer):
    def script(seen: Seen) -> Answer:
        path = seen.path.split("?")[0]
        if path.endswith(("/ServiceProviderConfig", "/ResourceTypes")):
            return Answer(404)
        return on_post if seen.method == "POST" else on_get
    return script


def run_cycle(server: HostileServer, n_users: int = 5, timeout: float = 0.5):
    tcfg = TargetConfig(name="hostile", kind="scim", url=server.url, auth="none", timeout=timeout,
                        object_types=("user",))
    cfg = attrs.evolve(config(targets=("hostile",)), targets=(tcfg,))
    source = MemorySource()
    for n in range(1, n_users + 1):
        source.put(user(n))
    target = ScimTarget(tcfg)
    engine = Engine(cfg, store=Store.open(":memory:"), sources={"corp": source}, targets={"hostile": target},
                    clock=Clock())
    start = time.monotonic()
    engine.run_once()
    took = time.monotonic() - start
    states = list(engine.store.iter_target_states("hostile"))
    target.close()
    return took, states, server.seen


@pytest.mark.parametrize("on_get, on_post", [
    (EMPTY, Answer.json(201, {"userName": "no id"})),  # creates answered without an id
    (EMPTY, HTML),                                     # creates answered with a web page
    (HTML, Answer.json(201, {"id": "x"})),             # lookups answered with a web page
    (EMPTY, Answer(200, body=b'{"id": "u"}', drip=0.2)),  # creates drip-fed past the deadline
    (EMPTY, Answer(500, filler=16 * 1024 * 1024)),     # oversized errors
])
def test_a_cycle_against_a_hostile_target_records_nothing_unproven(on_get, on_post):
    with HostileServer(scripted(on_get, on_post)) as server:
        took, states, seen = run_cycle(server)
    assert took < 5 * 8 * 0.5 + 2  # every request is bounded; the cycle ends
    assert not [s for s in states if s.state == State.PROVISIONED], states
    if on_get is HTML:  # an untrusted lookup or listing is never "absent": nothing is created
        assert not [s for s in seen if s.method == "POST"]

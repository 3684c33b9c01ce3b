"""The engine's full sync with SCIM Bulk creates against the real scim2-server: the creates of a
run arrive in chunked /Bulk requests, every object gets its own outcome, the server ends holding
what the same sync without bulk leaves, and a second cycle plans nothing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from attrs import evolve

from hybridsync.connectors.scim import ScimTarget
from hybridsync.engine.runtime.engine import Engine

pytestmark = pytest.mark.scim

_spec = importlib.util.spec_from_file_location("crash_child", Path(__file__).with_name("crash_child.py"))
child = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(child)  # type: ignore[union-attr]
N = 450


def sync(scim_server, tmp_path, bulk_chunk: int):
    scim_server.reset()
    cfg = child.config(str(tmp_path / f"state-{bulk_chunk}.db"), scim_server.url, scim_server.token_file, bulk_chunk)
    cfg = evolve(cfg, targets=(evolve(cfg.targets[0], max_in_flight=4),))
    engine = Engine(cfg, sources={"corp": child.directory(N, 0, page_size=500)},
                    targets={"app": ScimTarget(cfg.targets[0])})
    try:
        report = engine.run_once(full=True)
        requests = scim_server.backdoor.requests()
        again = engine.run_once(full=True)
    finally:
        engine.close()
    assert report.exit_code() == 0
    assert report.tallied[("app", "create", "ok")] == N + 3  # one outcome per object
    assert [o for o in again.outcomes if o.action != "noop"] == []  # converged: nothing planned
    users = scim_server.backdoor.resources("User")
    groups = scim_server.backdoor.resources("Group")
    by_id = {u["id"]: u["externalId"] for u in users}
    held = {u["externalId"]: (u["userName"], u.get("title"), u.get("active")) for u in users}
    held.update({g["externalId"]: (g["displayName"], frozenset(by_id[m["value"]] for m in g.get("members", [])))
                 for g in groups})
    assert len(held) == len(users) + len(groups) == N + 3  # no duplicate externalIds
    return requests, held


def test_a_full_sync_creates_in_bulk_and_ends_as_the_same_sync_without_bulk(scim_server, tmp_path):
    bulk, bulk_state = sync(scim_server, tmp_path, bulk_chunk=100)
    # 453 creates in runs of <= 400 (max_in_flight 4 x 100), each run spread over 4 chunks; the
    # first user and the first group go singly (each answer teaches the dialect its kind); the
    # other 2 groups share the last run's /Bulk requests with users (creates of every kind are
    # one run: no wait between a page's users and its groups)
    assert 5 <= bulk["POST /Bulk"] <= 12, bulk
    assert bulk["POST /Users"] == 1 and bulk["POST /Groups"] == 1, bulk
    single, single_state = sync(scim_server, tmp_path, bulk_chunk=0)
    assert single["POST /Bulk"] == 0 and single["POST /Users"] == N, single
    assert bulk_state == single_state

"""SCIM Bulk creates against the real scim2-server, straight and behind a misbehaving proxy
(``bulkproxy.py``): every item ends created exactly once, whatever the answer to the /Bulk."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest
from attrs import evolve

from hybridsync.connectors.base import Done
from hybridsync.connectors.scim import ScimTarget
from hybridsync.engine.core.values import ObjectKind as K

from .bulkproxy import BulkProxy

pytestmark = pytest.mark.scim


def items(n: int, groups: int = 0, tag: str = "b"):
    out = [(K.USER, f"{tag}u{i}", {"userName": f"{tag}{i}@bulk.test", "displayName": f"U {i}"}) for i in range(n)]
    out += [(K.GROUP, f"{tag}g{i}", {"displayName": f"{tag} group {i}"}) for i in range(groups)]
    return out


def state(backdoor) -> tuple[Counter, dict]:
    """externalId counts and externalId -> (userName or displayName) of what the server holds."""
    res = backdoor.resources("User") + backdoor.resources("Group")
    return (Counter(r.get("externalId") for r in res),
            {r["externalId"]: r.get("userName") or r.get("displayName") for r in res})


def run(config, its, *, root=None):
    target = ScimTarget(evolve(config, url=root + "/v2") if root else config)
    try:
        return target, target.create_many(its)
    finally:
        target.close()


def test_bulk_on_sends_ceil_n_over_chunk_requests_and_the_state_equals_single_creates(scim_server, scim_target_config):
    scim_server.reset()
    its = items(25, groups=6)
    target, results = run(evolve(scim_target_config, bulk_chunk=10), its)
    assert all(isinstance(r, Done) and r.target_id for r in results)
    counts = scim_server.backdoor.requests()
    # the first user and the first group go singly (their answers teach the dialect): 24 + 5 in
    # ceil(29 / 10) bulks
    assert counts["POST /Bulk"] == 3 and counts["POST /Users"] == 1 and counts["POST /Groups"] == 1
    assert counts["BULK POST /Users"] == 24 and counts["BULK POST /Groups"] == 5  # the lab counts each op
    ext, bulk_state = state(scim_server.backdoor)
    assert set(ext.values()) == {1} and len(ext) == 31
    assert {r.target_id for r in results} == {r["id"] for r in scim_server.backdoor.resources("User")
                                               + scim_server.backdoor.resources("Group")}
    scim_server.reset()
    _, single = run(evolve(scim_target_config, dialect={"bulk_max_operations": 0}), its)
    assert all(isinstance(r, Done) for r in single)
    assert scim_server.backdoor.requests()["POST /Bulk"] == 0  # bulk off: no /Bulk request
    assert state(scim_server.backdoor)[1] == bulk_state


def test_a_server_announcing_no_bulk_is_never_sent_one(scim_target_config, tmp_path):
    from hybridsync.engine.lab.scim import ScimLab

    with ScimLab(bulk=False) as lab:
        token = tmp_path / "t"
        token.write_text(lab.token)
        token.chmod(0o600)
        target, results = run(evolve(scim_target_config, url=lab.url, token_file=str(token)), items(12))
        assert all(isinstance(r, Done) for r in results)
        assert target.describe()["bulk_max_operations"] == 0
        assert lab.backdoor.requests()["POST /Bulk"] == 0 and lab.backdoor.requests()["POST /Users"] == 12


@pytest.mark.parametrize("mode", ["drop", "no-location", "omit"])
def test_an_answer_lost_or_incomplete_creates_nothing_twice_and_loses_nothing(mode, scim_server, scim_target_config):
    scim_server.reset()
    proxy = BulkProxy(scim_server.root, mode)
    try:
        its = items(20)
        _, results = run(scim_target_config, its, root=proxy.root)
    finally:
        proxy.close()
    assert all(isinstance(r, Done) and r.target_id for r in results), results
    ext, held = state(scim_server.backdoor)
    assert [e for e, c in ext.items() if c > 1] == []  # 0 duplicate externalIds
    assert set(held) == {a for _, a, _ in its}  # nothing lost
    names = Counter(u["userName"] for u in scim_server.backdoor.resources("User"))
    assert [n for n, c in names.items() if c > 1] == []
    ids = {u["externalId"]: u["id"] for u in scim_server.backdoor.resources("User")}
    assert [r.target_id for r in results] == [ids[a] for _, a, _ in its]  # each result names its own object
    assert proxy.bulks == 1  # the fallback is single creates (with lookups), never a second bulk of them


def test_a_409_for_an_object_that_is_ours_is_adopted(scim_server, scim_target_config):
    scim_server.reset()
    its = items(8)
    lost = its[5]  # created earlier by a create whose answer was lost: ours (same externalId)
    with httpx.Client(base_url=scim_server.url, headers={"Authorization": f"Bearer {scim_server.token}"}) as raw:
        made = raw.post("/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                        "externalId": lost[1], **lost[2]}).json()
    _, results = run(scim_target_config, its)
    assert results[5] == Done(made["id"], results[5].etag, results[5].found, 200)
    assert all(isinstance(r, Done) for r in results)
    assert scim_server.backdoor.requests()["POST /Bulk"] == 1
    ext, _ = state(scim_server.backdoor)
    assert set(ext.values()) == {1} and len(ext) == 8


def test_a_501_to_bulk_falls_back_to_single_creates_and_the_dialect_learns_it(scim_server, scim_target_config):
    scim_server.reset()
    proxy = BulkProxy(scim_server.root, "501")
    try:
        target = ScimTarget(evolve(scim_target_config, url=proxy.root + "/v2"))
        first = target.create_many(items(10, tag="x"))
        assert target.bulk_size() == 0
        assert target.describe()["sources"]["bulk_max_operations"] == "probe:bulk-refused"
        second = target.create_many(items(10, tag="y"))
        target.close()
    finally:
        proxy.close()
    assert all(isinstance(r, Done) for r in first + second)
    assert proxy.bulks == 1  # learned once: never asked again
    ext, _ = state(scim_server.backdoor)
    assert set(ext.values()) == {1} and len(ext) == 20


@pytest.fixture(params=["scimmy", "django-scim2"])
def other_server(request):
    from hybridsync.engine.lab.pytest_scim import any_scim_server

    return any_scim_server(request)


def test_scimmy_and_django_scim2_either_take_bulk_or_are_never_sent_one(other_server, tmp_path):
    from hybridsync.engine.core.config import TargetConfig

    other_server.reset()
    config = TargetConfig(name="other", url=other_server.url, token_file=other_server.token_file)
    target, results = run(config, items(6, groups=2, tag="o"))
    assert all(isinstance(r, Done) and r.target_id for r in results), results
    ext, _ = state(other_server.backdoor)
    assert set(ext.values()) == {1} and len(ext) == 8
    counts = other_server.backdoor.requests()
    if target.describe()["bulk_max_operations"] == 0:  # django-scim2: bulk.supported false
        assert counts.get("POST /Bulk", 0) == 0  # the dialect says unsupported: never sent one
    else:  # SCIMMY announces bulk (1000 ops) and takes it: only the first of each kind went singly
        assert counts["POST /Bulk"] == 1 and counts["POST /Users"] + counts["POST /Groups"] == 2, counts

"""ScimTarget behaviour beyond the kit's contract, against the real scim2-server."""

from __future__ import annotations

import httpx
import pytest
from attrs import evolve
from structlog.testing import capture_logs

from hybridsync.connectors.base import Done, RetryAfter
from hybridsync.connectors.scim import ScimTarget
from hybridsync.connectors.testing.faults import Fault, FaultTransport
from hybridsync.engine.core.config import TargetConfig
from hybridsync.engine.lab.scim import ScimLab
from hybridsync.engine.core.values import ObjectKind as K

pytestmark = pytest.mark.scim


def test_a_reached_rate_limit_is_a_retry_after_and_nothing_is_sent(scim_server, scim_target_config):
    scim_server.reset()
    faults = FaultTransport()
    target = ScimTarget(evolve(scim_target_config, rate_limit=2.0), client=httpx.Client(transport=faults))
    target.describe()
    faults.clear()
    results = [target.create(K.USER, f"YQ{i}==", {"userName": f"r{i}@corp.example"}) for i in range(5)]
    done = [r for r in results if isinstance(r, Done)]
    later = [r for r in results if isinstance(r, RetryAfter)]
    assert len(done) == 2 and len(later) == 3
    assert all(0 < r.seconds <= 0.5 and "rate limit" in r.why for r in later)
    assert faults.count("POST") == 2
    target.close()


def test_secrets_never_reach_reprs_results_or_logs(scim_server, scim_target_config):
    scim_server.reset()
    faults = FaultTransport()
    with capture_logs() as logs:
        target = ScimTarget(scim_target_config, client=httpx.Client(transport=faults))
        faults.add(Fault.status_code(401, detail=f"bad token {scim_server.token}"), method="POST")
        refused = target.create(K.USER, "YQ==", {"userName": "s@corp.example"})
        faults.add(Fault.reset(), method="POST")
        reset = target.create(K.USER, "Yg==", {"userName": "t@corp.example"})
    text = " ".join(map(repr, [target, target.describe(), refused, reset, logs, scim_target_config, scim_server]))
    assert scim_server.token not in text
    assert refused.target_level and "[REDACTED]" in refused.detail
    assert any(entry["event"] == "scim.dialect" for entry in logs)
    target.close()


def test_without_filter_support_lookups_page_and_compare(tmp_path):
    with ScimLab(filter=False) as lab:
        token = tmp_path / "t"
        token.write_text(lab.token)
        target = ScimTarget(TargetConfig(name="nofilter", url=lab.url, token_file=str(token)))
        assert target.describe()["filter"] is False
        made = [target.create(K.USER, f"YQ{i}==", {"userName": f"n{i}@corp.example"}).target_id for i in range(3)]
        assert target.lookup_by_anchor(K.USER, "YQ1==").target_id == made[1]
        assert target.lookup_by_attribute(K.USER, "userName", "n2@corp.example").target_id == made[2]
        assert target.lookup_by_attribute(K.USER, "userName", "N2@Corp.Example").target_id == made[2]
        assert target.lookup_by_anchor(K.USER, "yq1==").found == ()  # externalId is caseExact
        assert sorted(o.target_id for o in target.list_owned(K.USER)) == sorted(made)
        assert all("filter" not in k for k in lab.backdoor.requests())
        target.close()


def test_one_member_change_on_a_large_group_is_one_patch_and_never_reads_members(scim_server, scim_target_config, backdoor):
    scim_server.reset()
    gid = backdoor.seed_group("Zw==", "big", [f"m{i}" for i in range(5000)])
    target = ScimTarget(scim_target_config)
    target.describe()
    before = scim_server.backdoor.requests()
    assert isinstance(target.remove_members(gid, [(K.USER, "m42")]), Done)
    assert isinstance(target.add_members(gid, [(K.USER, "n1")]), Done)
    spent = scim_server.backdoor.requests() - before
    assert spent == {"PATCH": 2, "PATCH /Groups": 2}
    assert backdoor.members(gid) == {f"m{i}" for i in range(5000)} - {"m42"} | {"n1"}
    target.close()


def test_soft_match_by_user_name_ignores_case_as_rfc7643_says(scim_target):
    uid = scim_target.create(K.USER, "YQ==", {"userName": "Jane.Doe@Corp.Example"}).target_id
    assert scim_target.lookup_by_attribute(K.USER, "userName", "jane.doe@corp.example").target_id == uid
    assert scim_target.lookup_by_anchor(K.USER, "yq==").found == ()

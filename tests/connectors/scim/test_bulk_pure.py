"""SCIM Bulk, the pure layers (RFC 7644 §3.7): ``prepare.bulk_body`` and ``check.bulk_results``
on the RFC's own examples (§3.7.1 request, §3.7.3 response), and the dialect's bulk fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hybridsync.connectors.base import Done, RetryAfter, Terminal
from hybridsync.connectors.scim import PROFILES, check, prepare
from hybridsync.connectors.scim.dialect import Dialect, DialectError, base_dialect, from_discovery, with_overrides
from hybridsync.engine.core.values import ObjectKind

SAMPLES = Path(__file__).parents[2] / "samples"


def test_bulk_body_is_the_rfc_7644_3_7_1_request_shape_without_fail_on_errors():
    data = prepare.create_body(ObjectKind.USER, "QUJD+/==", {"userName": "Alice"})
    bid = prepare.bulk_id(ObjectKind.USER, "QUJD+/==")
    body = prepare.bulk_body([(bid, "/Users", data)])
    # RFC 7644 §3.7.1: {"schemas": [BulkRequest], "Operations": [{"method", "path", "bulkId", "data"}]}
    assert body == {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                    "Operations": [{"method": "POST", "path": "/Users", "bulkId": bid, "data": data}]}
    assert "failOnErrors" not in body  # every operation is independent of the others
    assert data["externalId"] == "QUJD+/=="


def test_bulk_id_is_derived_from_the_anchor_stable_and_plain():
    a = prepare.bulk_id(ObjectKind.USER, "QUJD+/==")
    assert a == prepare.bulk_id(ObjectKind.USER, "QUJD+/==")
    assert a != prepare.bulk_id(ObjectKind.USER, "QUJE+/==") != prepare.bulk_id(ObjectKind.GROUP, "QUJD+/==")
    assert all(c.isalnum() or c == "-" for c in a)


def test_bulk_results_of_the_rfc_7644_3_7_3_response():
    sample = json.loads((SAMPLES / "bulk-rfc7644-3.7.3-response.json").read_text())["response"]
    whats = {b: f"create user {b}" for b in ("qwerty", "ytrewq", "conflict", "busy", "noid", "missing")}
    out = check.bulk_results(sample, whats=whats)
    done, _ = out["qwerty"]
    assert done == Done("92b725cd9465", 'W/"oY4m4wn58tkVjJxK"', status=201)  # id = location's last segment
    assert isinstance(out["ytrewq"][0], Terminal) and out["ytrewq"][0].status == 400
    assert isinstance(out["conflict"][0], Terminal) and out["conflict"][0].scim_type == "uniqueness"
    assert isinstance(out["busy"][0], RetryAfter)  # may have landed: uncertain
    assert isinstance(out["noid"][0], RetryAfter)  # 2xx without location or id: uncertain
    assert "missing" not in out  # not answered: the caller treats it as uncertain


def test_bulk_results_take_the_response_id_an_int_status_and_ignore_strangers():
    body = {"Operations": [
        {"bulkId": "a", "status": 201, "response": {"id": "r1", "meta": {"version": "W/\"2\""}}},
        {"bulkId": "b", "status": {"code": "201"}, "location": "https://x/v2/Users/r2/"},
        {"bulkId": "c", "status": "two hundred", "location": "https://x/v2/Users/r3"},
        {"bulkId": "stranger", "status": "201", "location": "https://x/v2/Users/r4"},
        "not an op",
    ]}
    out = check.bulk_results(body, whats={"a": "a", "b": "b", "c": "c"})
    assert out["a"][0] == Done("r1", 'W/"2"', status=201) and out["a"][1] == {"id": "r1", "meta": {"version": "W/\"2\""}}
    assert out["b"][0] == Done("r2", None, status=201)
    assert isinstance(out["c"][0], RetryAfter)
    assert set(out) == {"a", "b", "c"}
    assert check.bulk_results("<html>", whats={"a": "a"}) == {}
    assert check.bulk_results({"Operations": None}, whats={"a": "a"}) == {}


def test_dialect_bulk_from_discovery_profiles_and_override():
    spc = {"bulk": {"supported": True, "maxOperations": 1000, "maxPayloadSize": 1048576}}
    d = from_discovery(Dialect(), spc, None)
    assert (d.bulk_max_operations, d.bulk_max_payload) == (1000, 1048576)
    assert d.sources["bulk_max_operations"] == "discovery"
    assert from_discovery(Dialect(), {"bulk": {"supported": False, "maxOperations": 1000}}, None).bulk_max_operations == 0
    assert Dialect().bulk_max_operations == 0  # nothing announced: no bulk
    assert PROFILES["scim2-server"].bulk_max_operations == 1000
    for name in ("aws-identity-center", "entra-scim-client"):
        pinned = from_discovery(base_dialect({"profile": name}), spc, None)
        assert pinned.bulk_max_operations == 0, name  # the profile wins over what is announced
    off = with_overrides(d, {"bulk_max_operations": 0})
    assert off.bulk_max_operations == 0 and off.sources["bulk_max_operations"] == "config"
    with pytest.raises(DialectError, match="bulk_max_operations"):
        with_overrides(d, {"bulk_max_operations": "lots"})
    with pytest.raises(DialectError, match="bulk_max_operations"):
        with_overrides(d, {"bulk_max_operations": -1})

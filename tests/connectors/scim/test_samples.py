"""Recorded samples of four dialects drive the prepare/check layer (no server needed).

Each ``tests/samples/{rfc7644,entra-scim-client,aws-identity-center,scim2-server}-*.json`` holds a
connector call, the exchanges it must produce (request exactly as sent, response as recorded) and
the result. The replay transport answers discovery with 404 (so the named profile stands), the
probe of each collection with an empty list, and fails the test on any request that differs from the recording.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from hybridsync.connectors.base import Done, RetryAfter, Terminal
from hybridsync.connectors.scim import ScimTarget, check
from hybridsync.engine.core.config import TargetConfig
from hybridsync.engine.core.values import ObjectKind

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
DIALECTS = ("rfc7644", "entra-scim-client", "aws-identity-center", "scim2-server")
FILES = sorted(p for p in SAMPLES.glob("*.json") if p.name.startswith(DIALECTS))
BASE = "https://scim.example.test/v2"


class Replay(httpx.BaseTransport):
    def __init__(self, exchanges: list[dict]):
        self.pending = list(exchanges)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = str(request.url.copy_with(query=None)).removeprefix(BASE)
        if path in ("/ServiceProviderConfig", "/Schemas", "/ResourceTypes"):
            return httpx.Response(404, request=request)
        if request.method == "GET" and dict(request.url.params) == {"startIndex": "1", "count": "1"}:
            # the one probe of each collection at discovery (discover.py): it is there
            return httpx.Response(200, json={"totalResults": 0, "Resources": []}, request=request)
        assert self.pending, f"unexpected request {request.method} {path}"
        want = self.pending.pop(0)
        sent = {"method": request.method, "path": path, "params": dict(request.url.params),
                "body": json.loads(request.content) if request.content else None}
        assert sent == want["request"]
        assert "authorization" in request.headers
        resp = want["response"]
        content = json.dumps(resp["body"]).encode() if resp["body"] is not None else b""
        return httpx.Response(resp["status"], headers=resp["headers"], content=content, request=request)


def run(sample: dict, tmp_path: Path, **config) -> tuple[object, Replay]:
    token = tmp_path / "token"
    token.write_text("sample-token-never-recorded")
    replay = Replay(sample["exchanges"])
    cfg = TargetConfig(name="s", url=BASE, token_file=str(token), object_types=("user", "group", "contact"),
                       dialect={"profile": sample["dialect"]}, **config)
    target = ScimTarget(cfg, client=httpx.Client(transport=replay))
    call = dict(sample["call"])
    op = call.pop("op")
    if "kind" in call:
        call["kind"] = ObjectKind(call["kind"])
    if "members" in call:
        call["members"] = [(ObjectKind.USER, m) for m in call["members"]]
    return getattr(target, op)(**call), replay


def as_dict(result) -> dict:
    if isinstance(result, Done):
        return {"type": "Done", "target_id": result.target_id, "status": result.status}
    if isinstance(result, RetryAfter):
        return {"type": "RetryAfter", "seconds": result.seconds, "status": result.status}
    assert isinstance(result, Terminal)
    return {"type": "Terminal", "status": result.status, "scim_type": result.scim_type}


def test_every_dialect_has_recorded_samples():
    for dialect in DIALECTS:
        assert any(p.name.startswith(dialect) for p in FILES), dialect


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_sample_request_and_result_are_reproduced(path, tmp_path):
    sample = json.loads(path.read_text())
    result, replay = run(sample, tmp_path)
    assert replay.pending == []
    assert as_dict(result) == sample["result"]
    assert "sample-token" not in repr(result)


ERRORS = [p for p in FILES if json.loads(p.read_text())["result"]["type"] != "Done"]


@pytest.mark.parametrize("path", ERRORS, ids=[p.stem for p in ERRORS])
def test_sample_error_answers_classify_as_recorded(path):
    sample = json.loads(path.read_text())
    final = sample["exchanges"][0]["response"]
    got = check.classify(final["status"], final["headers"], final["body"], what="sample")
    assert type(got).__name__ == sample["result"]["type"]
    assert got.status == sample["result"]["status"]


def test_aws_profile_caps_member_changes_at_100_per_patch_whatever_the_chunk(tmp_path):
    members = [f"m{i}" for i in range(150)]
    body = lambda chunk: {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                          "Operations": [{"op": "add", "path": "members", "value": [{"value": m} for m in chunk]}]}
    sample = {"dialect": "aws-identity-center",
              "call": {"op": "add_members", "group_id": "g", "members": members},
              "exchanges": [{"request": {"method": "PATCH", "path": "/Groups/g", "params": {}, "body": body(c)},
                             "response": {"status": 204, "headers": {}, "body": None}}
                            for c in (members[:100], members[100:])]}
    result, replay = run(sample, tmp_path, member_chunk=500)
    assert isinstance(result, Done) and replay.pending == []


def test_a_service_refusing_value_array_removal_gets_the_path_filter_style(tmp_path):
    patch = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    refused = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "400",
               "scimType": "invalidValue", "detail": "a remove operation carries no value"}
    sample = {"dialect": "entra-scim-client",
              "call": {"op": "remove_members", "group_id": "g", "members": ["u1"]},
              "exchanges": [
                  {"request": {"method": "PATCH", "path": "/Groups/g", "params": {},
                               "body": {"schemas": [patch], "Operations": [{"op": "Remove", "path": "members", "value": [{"value": "u1"}]}]}},
                   "response": {"status": 400, "headers": {}, "body": refused}},
                  {"request": {"method": "PATCH", "path": "/Groups/g", "params": {},
                               "body": {"schemas": [patch], "Operations": [{"op": "Remove", "path": 'members[value eq "u1"]'}]}},
                   "response": {"status": 204, "headers": {}, "body": None}}]}
    result, replay = run(sample, tmp_path)
    assert isinstance(result, Done) and replay.pending == []

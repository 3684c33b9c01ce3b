"""Record request/response samples from the real scim2-server into tests/samples/scim2-server-*.json.

    .venv/bin/python tests/connectors/scim/record_samples.py

Runs ScimTarget against a fresh lab server through a recording transport. Request headers are not
kept (they hold the bearer token); response headers only as far as ``check`` reads them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx

from hybridsync.connectors.base import Done, RetryAfter, Terminal
from hybridsync.connectors.scim import ScimTarget
from hybridsync.engine.core.config import TargetConfig
from hybridsync.engine.lab.scim import ScimLab
from hybridsync.engine.core.values import ObjectKind as K

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
KEEP_HEADERS = ("etag", "retry-after", "content-type")


class Recorder(httpx.BaseTransport):
    def __init__(self, base: str):
        self.inner = httpx.HTTPTransport()
        self.base = base
        self.exchanges: list[dict] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        self.exchanges.append({
            "request": {
                "method": request.method,
                "path": str(request.url.copy_with(query=None)).removeprefix(self.base),
                "params": dict(request.url.params),
                "body": json.loads(request.content) if request.content else None,
            },
            "response": {
                "status": response.status_code,
                "headers": {k: v for k, v in response.headers.items() if k.lower() in KEEP_HEADERS},
                "body": json.loads(response.content) if response.content else None,
            },
        })
        return response


def result_dict(result) -> dict:
    if isinstance(result, Done):
        return {"type": "Done", "target_id": result.target_id, "status": result.status}
    if isinstance(result, RetryAfter):
        return {"type": "RetryAfter", "seconds": result.seconds, "status": result.status}
    assert isinstance(result, Terminal)
    return {"type": "Terminal", "status": result.status, "scim_type": result.scim_type}


def main() -> int:
    with ScimLab() as lab:
        token_file = Path("/tmp") / f"scim-record-{lab.port}"
        token_file.write_text(lab.token)
        try:
            rec = Recorder(lab.url)
            cfg = TargetConfig(name="rec", url=lab.url, token_file=str(token_file),
                               dialect={"profile": "scim2-server"})
            target = ScimTarget(cfg, client=httpx.Client(transport=rec))
            target.describe()
            rec.exchanges.clear()

            def record(name: str, call: dict, fn) -> None:
                rec.exchanges.clear()
                result = fn()
                sample = {"origin": f"scim2-server 0.8.3 on loopback, recorded by {Path(__file__).name}",
                          "dialect": "scim2-server", "call": call, "exchanges": list(rec.exchanges),
                          "result": result_dict(result)}
                (SAMPLES / f"scim2-server-{name}.json").write_text(json.dumps(sample, indent=2, ensure_ascii=False) + "\n")

            attrs = {"userName": "bjensen@corp.example", "name.givenName": "Barbara",
                     'emails[type eq "work"].value': "bjensen@corp.example", "active": True}
            record("create-user", {"op": "create", "kind": "user", "anchor": "AAECAwQFBgcICQoLDA0ODw==",
                                   "attributes": attrs},
                   lambda: target.create(K.USER, "AAECAwQFBgcICQoLDA0ODw==", attrs))
            uid = target.lookup_by_anchor(K.USER, "AAECAwQFBgcICQoLDA0ODw==").target_id
            record("create-user-409-uniqueness", {"op": "create", "kind": "user", "anchor": "ZZZZ", "attributes": attrs},
                   lambda: target.create(K.USER, "ZZZZ", attrs))
            change = {'emails[type eq "work"].value': "babs@corp.example", "name.givenName": None}
            record("patch-update-user", {"op": "update", "kind": "user", "target_id": uid, "changes": change},
                   lambda: target.update(K.USER, uid, change))
            gid = target.create(K.GROUP, "R3JvdXA=", {"displayName": "Staff"}).target_id
            target.add_members(gid, [(K.USER, uid)])
            record("patch-remove-member", {"op": "remove_members", "group_id": gid, "members": [uid]},
                   lambda: target.remove_members(gid, [(K.USER, uid)]))
            target.delete(K.USER, uid)
            record("delete-404", {"op": "delete", "kind": "user", "target_id": uid},
                   lambda: target.delete(K.USER, uid))
            target.close()
        finally:
            token_file.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())

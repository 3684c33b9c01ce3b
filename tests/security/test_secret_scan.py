"""Issue 15, end to end: after a run against the real scim2-server -- a token file ending in a
newline, an error answer that echoes the token, generated passwords -- no configured secret and no
generated password appears in any output: the log events, the whole state file (and its -wal and
-shm), a snapshot, /metrics."""

from __future__ import annotations

import sys
from pathlib import Path

import attrs
import httpx
import pytest
from structlog.testing import capture_logs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from enginekit import Clock, config, user  # noqa: E402

from hybridsync.connectors.scim import ScimTarget
from hybridsync.connectors.testing.faults import Fault, FaultTransport
from hybridsync.connectors.testing.memory import MemorySource
from hybridsync.engine.core.config import DEFAULT_USER_MAPPING
from hybridsync.engine.runtime.engine import Engine
from hybridsync.engine.runtime.metrics import Metrics
from hybridsync.statestore import Store

pytestmark = pytest.mark.scim


class Capturing:
    """The target, remembering every password (and write-only nickName) it was asked to send, to
    look for it afterwards."""

    def __init__(self, inner):
        self.inner, self.passwords = inner, []

    def create(self, kind, anchor, attributes):
        self.passwords += [str(attributes[k]) for k in ("password", "nickName") if attributes.get(k)]
        return self.inner.create(kind, anchor, attributes)

    def create_many(self, items):  # creates sent together (SCIM Bulk) carry their passwords too
        for _, _, attributes in items:
            self.passwords += [str(attributes[k]) for k in ("password", "nickName") if attributes.get(k)]
        return self.inner.create_many(items)

    def update(self, kind, target_id, changes, **kw):
        self.passwords += [str(changes[k]) for k in ("password", "nickName") if changes.get(k)]
        return self.inner.update(kind, target_id, changes, **kw)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def spellings(secret: str) -> list[str]:
    import json
    return [secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], repr(secret.encode())[2:-1]]


def test_no_secret_and_no_generated_password_in_any_output(tmp_path, scim_server, scim_target_config):
    scim_server.reset()
    token_file = tmp_path / "token"
    token_file.write_text(scim_server.token + "\n")  # as Kubernetes secrets and EnvironmentFiles hold it
    tcfg = attrs.evolve(scim_target_config, token_file=str(token_file), object_types=("user",),
                        mapping={"user": {**DEFAULT_USER_MAPPING, "password": "RandomString(16,1,1,1,1)",
                                          "nickName": "RandomString(14,1,1,1,0)"}},
                        write_only=("nickName",))  # a write-only attribute the server echoes back
    faults = FaultTransport(httpx.HTTPTransport())
    faults.add(Fault.status_code(400, scim_type="invalidValue",
                                 detail=f"refused header b'Bearer {scim_server.token}\\n' ({scim_server.token!r})"),
               method="POST")
    target = Capturing(ScimTarget(tcfg, client=httpx.Client(transport=faults)))
    cfg = config(targets=("scim-lab",))
    cfg = attrs.evolve(cfg, targets=(tcfg,))
    source = MemorySource()
    for n in range(1, 4):
        source.put(user(n))
    db = tmp_path / "state.db"
    metrics = Metrics()
    with capture_logs() as logs:
        engine = Engine(cfg, store=Store.open(str(db)), sources={"corp": source}, targets={"scim-lab": target},
                        clock=Clock())
        for _ in range(2):
            report = engine.run_once()
            metrics.observe(report, store=engine.store, targets=("scim-lab",))
        snap = tmp_path / "snap.jsonl"
        engine.snapshot(snap, config_text=f'token_file = "{token_file}"\n')
        # a second install over the same target reads every user back, nickName echoed, and adopts
        Engine(cfg, store=Store.open(str(tmp_path / "state.db.second")), sources={"corp": source},
               targets={"scim-lab": target}, clock=Clock()).run_once()
    assert len(target.passwords) >= 6, target.passwords  # the failed create is sent again
    outputs = {
        "logs": repr(logs),
        "state": "".join(p.read_bytes().decode("latin-1") for p in tmp_path.iterdir() if p.name.startswith("state.db")),
        "snapshot": snap.read_text(),
        "metrics": metrics.text(),
    }
    assert any(p.name.endswith("-wal") for p in tmp_path.iterdir()), "the -wal is part of the scan"
    for secret in [scim_server.token, *target.passwords]:
        for form in spellings(secret):
            for name, text in outputs.items():
                assert form not in text, f"a secret ({len(secret)} chars) reached the {name}"
    target.close()

"""A subprocess engine for crash tests: a deterministic in-memory directory synced to a real SCIM
server. Usage: crash_child.py STATE_DB SCIM_URL TOKEN_FILE N_USERS [EDIT_ROUND [PAGE_SIZE [BULK_CHUNK]]]."""

from __future__ import annotations

import base64
import sys

from hybridsync.connectors.testing.memory import MemorySource
from hybridsync.engine.core.config import Config, ScopeConfig, SourceConfig, StateConfig, TargetConfig
from hybridsync.engine.runtime.engine import Engine
from hybridsync.engine.core.values import ObjectKind, SourceObject

STAFF = "OU=Staff,DC=lab,DC=test"


def guid(n: int) -> str:
    return base64.b64encode(n.to_bytes(16, "big")).decode()


def directory(n_users: int, edit_round: int, page_size: int = 10) -> MemorySource:
    src = MemorySource(page_size=page_size)
    for i in range(n_users):
        title = f"round{edit_round}" if i % 3 == 0 else "steady"
        src.put(SourceObject(anchor=guid(i), object_guid=guid(i), kind=ObjectKind.USER, dn=f"CN=u{i},{STAFF}",
                             attributes={"userprincipalname": f"crash{i}@lab.test", "sn": f"S{i}", "cn": f"u{i}",
                                         "displayname": f"U {i}", "title": title, "useraccountcontrol": "512"}))
    for g in range(3):
        members = frozenset(guid(i) for i in range(g, n_users, 3 + edit_round % 2))
        src.put(SourceObject(anchor=guid(10_000 + g), object_guid=guid(10_000 + g), kind=ObjectKind.GROUP,
                             dn=f"CN=crashgroup{g},{STAFF}", attributes={"cn": f"crashgroup{g}"}, members=members))
    return src


def config(state: str, url: str, token_file: str, bulk_chunk: int = 100) -> Config:
    # timeout 10 s: a restart after the kill waits call_grace (= timeout) for creates in doubt
    return Config(sources=(SourceConfig(name="corp", kind="memory", base_dn="DC=lab,DC=test",
                                        scope=ScopeConfig(include_ous=(STAFF,))),),
                  targets=(TargetConfig(name="app", kind="scim", url=url, token_file=token_file, timeout=10.0,
                                        bulk_chunk=bulk_chunk),),
                  state=StateConfig(path=state))


def main() -> int:
    state, url, token_file, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    edit_round = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    from hybridsync.connectors.scim import ScimTarget

    cfg = config(state, url, token_file, int(sys.argv[7]) if len(sys.argv) > 7 else 100)
    # every run reads the directory as of ``edit_round`` with a Refresh (full) read, like a restart
    src = directory(n, edit_round, int(sys.argv[6]) if len(sys.argv) > 6 else 10)
    engine = Engine(cfg, sources={"corp": src}, targets={"app": ScimTarget(cfg.targets[0])})
    report = engine.run_once(full=True)
    engine.close()
    print("EXIT", report.exit_code(), dict(report.counts), flush=True)
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())

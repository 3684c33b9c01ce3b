"""Replay re-runs recorded cycles offline through the same engine and shows they reproduce."""

from __future__ import annotations

from pathlib import Path

from hybridsync.connectors.base import RetryAfter
from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.cli import main
from hybridsync.engine.config.loader import load_config_text
from hybridsync.engine.runtime.engine import Engine
from hybridsync.engine.audit.replay import replay_store
from hybridsync.engine.runtime.snapshot import write_snapshot
from hybridsync.statestore import Store

from .enginekit import OTHER, Clock, group, guid, user

CONFIG = """
[state]
path = "state.db"

[[source]]
name = "corp"
kind = "ad"
urls = ["ldaps://127.0.0.2:636"]
base_dn = "DC=lab,DC=test"
password_env = "UNUSED_IN_REPLAY"

[source.scope]
include_ous = ["OU=Staff,DC=lab,DC=test"]

[[target]]
name = "app"
kind = "scim"
url = "http://127.0.0.1:9/v2"
token_env = "UNUSED_IN_REPLAY"

[safety]
delete_threshold = 2
soft_delete_days = 1
"""


def record_history(store: Store, config_text: str = CONFIG) -> MemoryTarget:
    """Creates, a group with members, a disable, a move out of scope, a retry, a threshold hold,
    a hard delete after the grace period: every kind of decision, recorded cycle by cycle."""
    config = load_config_text(config_text, base_dir=Path("/tmp"), check_secrets=False)
    src, tgt, clock = MemorySource(page_size=3), MemoryTarget("app"), Clock()
    for i in range(1, 9):
        src.put(user(i))
    src.put(group(50, [1, 2, 3]))
    engine = Engine(config, store=store, sources={"corp": src}, targets={"app": tgt}, clock=clock)
    engine.run_once()
    clock.advance(minutes=1)
    src.modify(guid(1), userAccountControl="514")
    src.move(guid(2), f"CN=u2,{OTHER}")
    src.add_member(guid(50), guid(4))
    tgt.inject(RetryAfter(30, "busy"), op="update")
    src.modify(guid(5), displayName="Five")
    engine.run_once()
    clock.advance(minutes=2)
    engine.run_once()  # the retry is due
    for n in (6, 7, 8):
        src.move(guid(n), f"CN=u{n},{OTHER}")
    engine.run_once()  # held by the threshold
    clock.advance(days=2)
    engine.run_once()  # u2's grace has passed: hard delete
    return tgt


def test_recorded_cycles_replay_offline_with_every_decision_reproduced():
    store = Store.open(":memory:")
    record_history(store)
    decisions = sum(1 for _ in store.decisions())
    report = replay_store(store, CONFIG)
    assert report.reproduced, report.divergence and report.divergence.lines()
    assert report.cycles == 5 and report.decisions == decisions > 10
    kinds = {r.action.kind for r in report.store.decisions()}
    assert {"create", "add_members", "disable", "update", "hold", "delete"} <= {str(k) for k in kinds}


def test_a_changed_mapping_shows_the_first_divergence():
    store = Store.open(":memory:")
    record_history(store)
    changed = CONFIG + '\n[target.mapping.user]\ndisplayName = \'Join(" ", [givenName], [sn])\'\n'
    report = replay_store(store, changed)
    assert not report.reproduced
    d = report.divergence
    assert d.cycle == 1 and d.expected != d.actual
    assert "decided differently" in d.why


def test_replay_cli_reproduces_a_snapshot_and_explains_one_object(tmp_path, capsys):
    cfg = tmp_path / "hybridsync.toml"
    cfg.write_text(CONFIG, encoding="utf-8")
    with Store.open(tmp_path / "state.db") as s:
        record_history(s)
        write_snapshot(s, tmp_path / "snap.jsonl.gz", config_text=CONFIG)
    assert main(["replay", str(tmp_path / "snap.jsonl.gz"), "--explain", "u1@lab.test"]) == 0
    out = capsys.readouterr().out
    assert "every decision reproduced" in out and "disabled" in out
    assert main(["replay", str(tmp_path / "snap.jsonl.gz"), "--until", "2026-01-01T00:00:30+00:00"]) == 0
    assert "replayed 1 cycle(s)" in capsys.readouterr().out
    assert main(["replay", str(tmp_path / "missing.jsonl")]) == 2

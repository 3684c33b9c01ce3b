"""Issue 15, finding 2: write-only attributes are computed at apply time, sent, and never
projected into state, history, recordings, plans, explain or snapshots; RandomString draws from
the OS; a write-only value is sent on create and on update only when its inputs change."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from enginekit import Clock, config, user  # noqa: E402

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.config.loader import load_config_text
from hybridsync.engine.core.config import DEFAULT_USER_MAPPING
from hybridsync.engine.core.errors import ConfigError
from hybridsync.engine.mapping.expressions import EvalContext, parse
from hybridsync.engine.mapping.writeonly import PREFIX
from hybridsync.engine.runtime.engine import Engine
from hybridsync.engine.core.values import ObjectKind, SourceObject
from hybridsync.statestore import Store

import attrs

MAPPING = {"user": {**DEFAULT_USER_MAPPING, "password": "RandomString(16,1,1,1,1)", "nickName": "[employeeID]"}}


def engine_for(source, target, store, **kw):
    cfg = config(targets=("app",))
    t = attrs.evolve(cfg.targets[0], mapping=MAPPING, write_only=("nickName",))
    return Engine(attrs.evolve(cfg, targets=(t,)), store=store, sources={"corp": source}, targets={"app": target},
                  clock=Clock(), **kw)


def sent(target: MemoryTarget) -> dict:
    return next(iter(target.store.values()))["attributes"]


def test_random_string_is_not_derived_from_seed_anchor_and_attribute():
    obj = SourceObject(anchor="YQ==", object_guid="YQ==", kind=ObjectKind.USER, dn="CN=a")
    ctx = EvalContext(source=obj, clock=Clock()(), seed="0", attribute="password")
    values = {parse("RandomString(16,1,1,1,1)").evaluate(ctx) for _ in range(5)}
    assert len(values) == 5  # a second install (same seed, anchor, attribute) gets another one


def test_a_password_is_sent_but_never_stored_recorded_or_explained(tmp_path):
    db = tmp_path / "state.db"
    source, target = MemorySource(), MemoryTarget("app")
    source.put(user(1, employeeID="E-SECRET-1"))
    engine = engine_for(source, target, Store.open(str(db)))
    engine.run_once()
    password, nick = sent(target)["password"], sent(target)["nickName"]
    assert len(password) == 16 and not password.startswith(PREFIX) and nick == "E-SECRET-1"
    dump = io.StringIO()
    engine.store.dump(dump)
    stored = dump.getvalue() + "".join(p.read_bytes().decode("latin-1") for p in tmp_path.iterdir())
    assert password not in stored  # state, history, recordings, plans: the whole file and its -wal
    explained = repr(engine.explain(user(1).anchor))
    assert password not in explained
    snap = tmp_path / "snap.jsonl"
    engine.snapshot(snap, config_text="")
    assert password not in snap.read_text()


def test_a_write_only_value_is_sent_on_create_and_on_update_only_when_its_inputs_change():
    source, target = MemorySource(), MemoryTarget("app")
    source.put(user(1, employeeID="E1"))
    engine = engine_for(source, target, Store.open(":memory:"))
    engine.run_once()
    first = sent(target)["password"]
    target.calls.clear()
    source.modify(user(1).anchor, displayname="Renamed")
    engine.run_once()
    assert sent(target)["password"] == first  # RandomString reads nothing: never re-sent
    assert sent(target)["displayName"] == "Renamed"
    source.modify(user(1).anchor, employeeid="E2")
    engine.run_once()
    assert sent(target)["nickName"] == "E2"  # its input changed: sent again
    updates = [c for c in target.calls if c[0] == "update"]
    assert len(updates) == 2


def test_random_string_on_a_stored_attribute_is_a_config_error(monkeypatch):
    monkeypatch.setenv("HS_T", "tok-12345")
    doc = """[[source]]\nname = "corp"\nurls = ["ldaps://127.0.0.2:636"]\nbase_dn = "DC=lab,DC=test"\n
[[target]]\nname = "app"\nurl = "https://scim.example.test/v2"\ntoken_env = "HS_T"\n
[target.mapping.user]\ndisplayName = "RandomString(8,1,1,1,1)"\npassword = "RandomString(16,1,1,1,1)"\n"""
    with pytest.raises(ConfigError) as err:
        load_config_text(doc, base_dir=Path("."))
    text = str(err.value)
    assert "mapping.user.displayName" in text and "mapping.user.password" not in text


REPLAY_CONFIG = """
[[source]]
name = "corp"
kind = "ad"
urls = ["ldaps://127.0.0.2:636"]
base_dn = "DC=lab,DC=test"
password_env = "UNUSED_IN_REPLAY"

[[target]]
name = "app"
kind = "scim"
url = "http://127.0.0.1:9/v2"
token_env = "UNUSED_IN_REPLAY"
write_only = ["nickName"]

[target.mapping.user]
password = "RandomString(16,1,1,1,1)"
nickName = "[displayName]"
"""


def test_a_recorded_run_with_generated_passwords_replays_with_every_decision_reproduced(tmp_path):
    from hybridsync.engine.audit.replay import replay_store

    config = load_config_text(REPLAY_CONFIG, base_dir=tmp_path, check_secrets=False)
    source, target, clock = MemorySource(page_size=2), MemoryTarget("app"), Clock()
    for n in range(1, 6):
        source.put(user(n))
    store = Store.open(str(tmp_path / "state.db"))
    engine = Engine(config, store=store, sources={"corp": source}, targets={"app": target}, clock=clock)
    engine.run_once()
    clock.advance(minutes=1)
    source.modify(user(2).anchor, displayname="Two")  # nickName's input changes: sent again
    source.modify(user(3).anchor, title="Boss")       # nothing write-only changes
    engine.run_once()
    passwords = [r["attributes"]["password"] for r in target.store.values()]
    assert len(passwords) == 5 and len(set(passwords)) == 5
    report = replay_store(store, REPLAY_CONFIG)
    assert report.reproduced, report.divergence and report.divergence.lines()
    assert report.cycles == 2
    dump = io.StringIO()
    store.dump(dump)
    assert not any(p in dump.getvalue() for p in passwords)
    assert PREFIX in dump.getvalue()  # the placeholders are what the decisions hold

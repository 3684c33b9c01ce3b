"""explain answers "why was this user disabled?" from history; snapshots carry no secret and load back."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.cli import main
from hybridsync.engine.core.config import SafetyConfig
from hybridsync.engine.runtime.explain import NoSuchObject, explain
from hybridsync.engine.runtime.snapshot import read_snapshot, write_snapshot
from hybridsync.statestore import Store

from .enginekit import OTHER, Clock, guid, make_engine, user

SECRET = "s3cret-Pa55word-never-shown"


def scenario(store: Store) -> None:
    """u1 disabled in AD, u2 moved out of scope, u3..u5 held by the threshold (2)."""
    src = MemorySource(page_size=3)
    for i in range(1, 8):
        src.put(user(i))
    clock = Clock()
    eng = make_engine(src, {"app": MemoryTarget("app")}, store=store, clock=clock,
                      safety=SafetyConfig(delete_threshold=2))
    eng.run_once()
    clock.advance(minutes=5)
    src.modify(guid(1), userAccountControl="514")
    src.move(guid(2), f"CN=u2,{OTHER}")
    eng.run_once()
    clock.advance(minutes=5)
    for n in (3, 4, 5, 6):
        src.move(guid(n), f"CN=u{n},{OTHER}")
    eng.run_once()


@pytest.fixture
def store() -> Store:
    s = Store.open(":memory:")
    scenario(s)
    return s


def test_explain_says_first_that_a_user_disabled_in_ad_was_disabled_because_of_user_account_control(store):
    [e] = explain(store, "u1@lab.test")
    lines = e.lines()
    assert "disabled" in lines[3] and "'app'" in lines[3]
    why = "\n".join(lines[4:8])
    assert "source.userAccountControl" in why and "lifecycle.provisioned->disabled" in why


def test_explain_names_the_scope_clause_for_a_user_moved_out_of_scope(store):
    [e] = explain(store, "u2")  # by sAMAccountName
    [verdict] = e.verdicts
    assert verdict.state == "soft_deleted"
    rules = [r.rule for r in verdict.because.reasons]
    assert "scope.include_ous" in rules and "lifecycle.provisioned->soft_deleted" in rules
    assert [dn for dn, _ in e.dn_history] == [f"CN=u2,OU=Staff,DC=lab,DC=test", f"CN=u2,{OTHER}"]


def test_explain_shows_a_delete_held_by_the_threshold(store):
    [e] = explain(store, f"CN=u5,{OTHER}")  # by DN
    [verdict] = e.verdicts
    assert verdict.state == "held"
    assert any(r.rule == "safety.delete_threshold" for r in verdict.because.reasons)
    assert any(t.kind == "held" for t in e.timeline)


def test_explain_of_an_unknown_object_names_every_form_it_tried(store):
    with pytest.raises(NoSuchObject, match=r"tried objectGUID, DN, sAMAccountName, UPN"):
        explain(store, "nobody@lab.test")


def write_config(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("HS_TEST_PW", SECRET)
    monkeypatch.setenv("HS_TEST_TOKEN", SECRET + "-token")
    cfg = tmp_path / "hybridsync.toml"
    cfg.write_text(
        '[state]\npath = "state.db"\n\n'
        '[[source]]\nname = "corp"\nkind = "ad"\nurls = ["ldaps://127.0.0.2:636"]\n'
        'base_dn = "DC=lab,DC=test"\nbind_dn = "CN=Administrator,CN=Users,DC=lab,DC=test"\n'
        'password_env = "HS_TEST_PW"\n\n'
        '[[target]]\nname = "app"\nkind = "scim"\nurl = "http://127.0.0.1:9/scim/v2"\n'
        'token_env = "HS_TEST_TOKEN"\n',
        encoding="utf-8",
    )
    return cfg


def test_explain_cli_prints_the_verdict_and_exits_2_for_an_unknown_object(tmp_path, monkeypatch, capsys):
    cfg = write_config(tmp_path, monkeypatch)
    with Store.open(tmp_path / "state.db") as s:
        scenario(s)
    assert main(["explain", "-c", str(cfg), "u1@lab.test"]) == 0
    out = capsys.readouterr().out
    assert "disabled" in out and "source.userAccountControl" in out
    assert main(["explain", "-c", str(cfg), "ghost"]) == 2
    assert "no object matches 'ghost' (tried objectGUID, DN, sAMAccountName, UPN)" in capsys.readouterr().err
    assert main(["explain", "-c", str(cfg), "--json", "u2"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc[0]["verdicts"][0]["state"] == "soft_deleted"


def test_explain_cli_on_a_store_that_does_not_exist_yet_exits_2_plainly(tmp_path, monkeypatch, capsys):
    cfg = write_config(tmp_path, monkeypatch)
    assert main(["explain", "-c", str(cfg), "u1"]) == 2
    assert "does not exist yet" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["snap.jsonl", "snap.jsonl.gz"])
def test_snapshot_holds_no_secret_and_loads_back_whole(tmp_path, monkeypatch, capsys, name):
    cfg = write_config(tmp_path, monkeypatch)
    with Store.open(tmp_path / "state.db") as s:
        scenario(s)
        n_history = sum(1 for _ in s.history())
    out = tmp_path / name
    assert main(["snapshot", "-c", str(cfg), str(out)]) == 0
    raw = gzip.open(out).read() if name.endswith(".gz") else out.read_bytes()
    text = raw.decode()
    assert SECRET not in text and "unicodePwd".lower() not in text.lower()
    snap = read_snapshot(out)
    assert snap.header["redactions"] == 0 and "HS_TEST_PW" in snap.config_toml
    assert sum(1 for _ in snap.store.history()) == n_history
    [e] = explain(snap.store, "u1@lab.test")
    assert e.verdicts[0].state == "disabled"


def test_snapshot_redacts_a_secret_value_and_password_attributes_that_slipped_into_the_store(tmp_path):
    s = Store.open(":memory:")
    scenario(s)
    o = s.find_objects("u7")[0]
    from hybridsync.engine.core.values import ObjectState

    s.put_object(ObjectState(source=o.source, anchor=o.anchor, object_guid=o.object_guid, kind=o.kind, dn=o.dn,
                             attributes={**o.attributes, "unicodePwd": ("x",), "description": (SECRET,)}))
    n = write_snapshot(s, tmp_path / "snap.jsonl", config_text="", secrets=[SECRET])
    text = (tmp_path / "snap.jsonl").read_text()
    assert n == 2 and SECRET not in text and "unicodepwd" not in text.lower()


def test_the_host_api_explains_as_values():
    from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget

    from .enginekit import make_engine

    src = MemorySource()
    src.put(user(1))
    eng = make_engine(src, {"app": MemoryTarget("app")})
    eng.run_once()
    [e] = eng.explain("u1@lab.test")
    assert e.verdicts[0].state == "provisioned" and e.timeline[0].kind == "observed"

"""The host API is the only door: ``Engine.provision/status/log/approve_deletes/explain/snapshot``
return values carrying everything the CLI prints, so a host process has the CLI's powers.

Every test here calls the Engine directly (in-memory source and target) and checks the values;
``test_*_same_as_the_cli`` check that the CLI renders exactly those values.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import attrs
import pytest

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.runtime.explain import Explanation
from hybridsync.engine.runtime.snapshot import read_snapshot
from hybridsync.engine.cli import main
from hybridsync.engine.core.config import SafetyConfig
from hybridsync.engine.runtime.admin import NoStateStore, NoSuchObject, UnknownTarget
from hybridsync.engine.runtime.engine import Engine
from hybridsync.engine.runtime.provision import ProvisionReport
from hybridsync.engine.runtime.status import Status
from hybridsync.statestore import Store

from .enginekit import OTHER, Clock, config, guid, make_engine, user, users_at


def engine_at(path: Path, src: MemorySource, tgt: MemoryTarget, **kw) -> Engine:
    """An engine over a state store file at ``path`` (the host's normal set-up)."""
    return make_engine(src, {"app": tgt}, store=Store.open(path), **kw)


def offline_config(path: Path, **kw):
    cfg = config(**kw)
    return attrs.evolve(cfg, state=attrs.evolve(cfg.state, path=str(path)))


def write_toml(tmp_path: Path, db: Path) -> Path:
    """A config file for the CLI naming the same store (its connectors are never built)."""
    cfg = tmp_path / "hybridsync.toml"
    cfg.write_text(f'[state]\npath = "{db}"\n\n[[source]]\nname = "corp"\nkind = "ad"\n'
                   'urls = ["ldaps://127.0.0.2:636"]\nbase_dn = "DC=lab,DC=test"\n\n'
                   '[[target]]\nname = "app"\nkind = "scim"\nurl = "http://127.0.0.1:9/v2"\nauth = "none"\n')
    return cfg


# ------------------------------------------------------------------ provision
def test_provision_returns_every_step_as_values_and_records_a_provision_cycle():
    src, tgt = MemorySource(), MemoryTarget()
    src.put(user(1, title="Engineer"))
    src.put(user(2))
    engine = make_engine(src, {"app": tgt})
    report = engine.provision("u1@lab.test")
    assert isinstance(report, ProvisionReport) and report.found and report.exit_code() == 0
    assert report.source == "corp" and report.object.anchor == guid(1)
    assert report.object.attributes["title"] == ("Engineer",)  # the read
    [step] = report.steps
    assert step.target == "app" and step.kind == "create"
    assert step.scope == ("scope.include_ous[0]: under OU=Staff,DC=lab,DC=test",)
    assert step.match and step.match[0].startswith("match.none")
    assert step.diff["userName"] == "u1@lab.test" and step.diff["title"] == "Engineer"
    assert any(line.startswith("lifecycle.") for line in step.lifecycle)
    [response] = report.responses
    assert (response.target, response.action, response.result, response.status) == ("app", "create", "ok", 201)
    assert report.problems == () and not report.failed and report.cycle_id
    assert list(users_at(tgt)) == ["u1@lab.test"]  # only that object, right now
    assert [c.mode for c in engine.store.last_cycles(5)] == ["provision"]
    assert engine.store.get_cursor("corp").reason  # the source cursor did not move


def test_provision_honours_scope_unless_told_to_ignore_it():
    src, tgt = MemorySource(), MemoryTarget()
    src.put(user(9, OTHER))
    engine = make_engine(src, {"app": tgt})
    report = engine.provision("u9")
    [step] = report.steps
    assert step.kind == "noop" and step.scope == ("scope.include_ous: under none of the included OUs",)
    assert users_at(tgt) == {} and report.exit_code() == 0
    report = engine.provision("u9", ignore_scope=True)
    assert [s.kind for s in report.steps] == ["create"] and list(users_at(tgt)) == ["u9@lab.test"]


def test_provision_dry_run_plans_without_applying_or_recording():
    src, tgt = MemorySource(), MemoryTarget()
    src.put(user(1))
    engine = make_engine(src, {"app": tgt})
    report = engine.provision("u1", dry_run=True)
    assert report.dry_run and [s.kind for s in report.steps] == ["create"]
    assert report.responses == () and report.cycle_id is None
    assert users_at(tgt) == {} and engine.store.last_cycles(5) == []


def test_provision_of_an_unknown_object_is_a_value_that_says_not_found():
    engine = make_engine(MemorySource(), {"app": MemoryTarget()})
    report = engine.provision("nobody@lab.test")
    assert not report.found and report.steps == () and report.exit_code() == 1


def test_provision_keeps_no_recorded_call_for_the_next_cycle():
    """A host that provisions and then runs cycles: the next cycle's recording holds only its own calls."""
    src, tgt = MemorySource(), MemoryTarget()
    src.put(user(1))
    engine = make_engine(src, {"app": tgt})
    engine.provision("u1")
    assert engine.recorder is not None
    assert engine.recorder._calls == [] and engine.recorder._batches == []  # noqa: SLF001


# ------------------------------------------------------------------ status
def test_status_after_cycles_names_sources_targets_and_what_the_engine_learnt(tmp_path):
    src, tgt = MemorySource(), MemoryTarget("app")
    for n in (1, 2, 3):
        src.put(user(n))
    engine = engine_at(tmp_path / "state.db", src, tgt)
    engine.run_once()
    status = engine.status()
    assert isinstance(status, Status) and not status.empty
    [corp] = status.sources
    assert corp.name == "corp" and corp.objects == 3 and corp.facts["mode"] == "memory"
    assert corp.last_cycle is not None and corp.last_cycle.status == "ok"
    assert corp.last_full_read is not None and corp.last_full_read.count == 3
    [app] = status.targets
    assert app.states == {"provisioned": 3} and app.quarantine is None and app.held_deletes == 0
    assert status.held == () and status.pending_intents == 0
    json.dumps(status.to_dict())  # plain data all the way down
    engine.store.close()


def test_status_without_a_store_says_so_and_creates_none(tmp_path):
    db = tmp_path / "state" / "hybridsync.db"
    with Engine.offline(offline_config(db)) as engine:
        assert engine.store is None and engine.sources == {} and engine.targets == {}
        status = engine.status()
    assert status.empty and status.message == f"No state store at {db} yet: nothing has been synced."
    assert not db.exists() and not db.parent.exists()
    with Engine.offline(offline_config(":memory:")) as engine:
        assert "nothing persists between runs" in engine.status().message


def test_status_of_an_empty_store_is_empty(tmp_path):
    db = tmp_path / "state.db"
    Store.open(db).close()
    with Engine.offline(offline_config(db)) as engine:
        status = engine.status()
    assert status.empty and status.to_dict() == {"store": str(db), "empty": True, "message": status.message}


def test_offline_status_is_read_only_and_the_same_as_the_cli(tmp_path, capsys):
    db = tmp_path / "state.db"
    src = MemorySource()
    src.put(user(1))
    engine = engine_at(db, src, MemoryTarget("app"))
    engine.run_once()
    live = engine.status()
    engine.store.close()
    before = db.stat().st_mtime_ns
    with Engine.offline(offline_config(db)) as offline:
        assert offline.status() == live
    assert db.stat().st_mtime_ns == before
    capsys.readouterr()
    assert main(["status", "-c", str(write_toml(tmp_path, db)), "--json"]) == 0
    shown, expected = json.loads(capsys.readouterr().out), json.loads(json.dumps(live.to_dict()))
    assert shown["retention"].pop("store_bytes") > 0  # the file's size moves with a checkpoint
    expected["retention"].pop("store_bytes")
    assert shown == expected


# ------------------------------------------------------------------ log
def test_log_returns_one_record_per_outcome_with_the_object_and_the_reasons(tmp_path):
    src, tgt = MemorySource(), MemoryTarget()
    src.put(user(1))
    src.put(user(2))
    clock = Clock()
    engine = make_engine(src, {"app": tgt}, clock=clock)
    engine.run_once()
    clock.advance(days=1)
    src.modify(guid(1), userAccountControl="514")
    engine.run_once()
    log = engine.log()
    assert log.store_found and [(r.upn, str(r.action.kind), r.result) for r in log] == [
        ("u1@lab.test", "create", "ok"), ("u2@lab.test", "create", "ok"), ("u1@lab.test", "disable", "ok")]
    disable = log.records[-1]
    assert disable.action.from_state == "provisioned" and disable.action.to_state == "disabled"
    assert any(r.rule.startswith("source.") for r in disable.reasons)
    assert disable.to_dict()["object"] == {"anchor": guid(1), "dn": f"CN=u1,{disable.dn.split(',', 1)[1]}",
                                           "upn": "u1@lab.test", "kind": "user"}
    assert [str(r.action.kind) for r in engine.log(object="u1")] == ["create", "disable"]
    assert [r.cycle_id for r in engine.log(since=clock.t - timedelta(hours=1))] == [disable.cycle_id]
    with pytest.raises(NoSuchObject, match="no object matches 'nobody'"):
        engine.log(object="nobody")


def test_log_without_a_store_is_empty_and_names_no_object(tmp_path):
    with Engine.offline(offline_config(tmp_path / "none.db")) as engine:
        log = engine.log()
        assert not log.store_found and len(log) == 0
        with pytest.raises(NoSuchObject):
            engine.log(object="jdoe")


# ------------------------------------------------------------------ approve-deletes
def held_scenario(tmp_path: Path) -> tuple[Engine, MemorySource, MemoryTarget]:
    src, tgt = MemorySource(), MemoryTarget("app")
    for n in (1, 2, 3, 4):
        src.put(user(n))
    engine = engine_at(tmp_path / "state.db", src, tgt, safety=SafetyConfig(delete_threshold=1))
    engine.run_once()
    for n in (1, 2, 3):
        src.move(guid(n), f"CN=u{n},{OTHER}")
    engine.run_once()
    return engine, src, tgt


def test_approve_deletes_releases_what_status_shows_held_and_the_next_cycle_applies_it(tmp_path):
    engine, src, tgt = held_scenario(tmp_path)
    held = engine.status().held
    assert held and {h.target for h in held} == {"app"} and {h.dn.split(",")[1] for h in held} == {"OU=Other"}
    approval = engine.approve_deletes(by="alice")
    assert approval.count == len(held) and approval.by == "alice" and sum(approval.kinds.values()) == len(held)
    assert {h.anchor for h in approval.approved} == {h.anchor for h in held}
    assert engine.status().held == ()  # approved: no longer waiting
    assert engine.approve_deletes(by="alice").count == 0
    engine.run_once()
    assert sum(1 for r in users_at(tgt).values() if not r["active"]) == 3 and engine.store.held("app") == []
    with pytest.raises(UnknownTarget, match="no target named 'nope'"):
        engine.approve_deletes("nope")
    engine.store.close()


def test_approve_deletes_through_an_offline_engine_records_who(tmp_path):
    engine, _, _ = held_scenario(tmp_path)
    n = len(engine.status().held)
    engine.store.close()
    with Engine.offline(offline_config(tmp_path / "state.db"), writable=True) as offline:
        approval = offline.approve_deletes("app", by="bob")
    assert approval.count == n and approval.target == "app"
    with Store.open(tmp_path / "state.db") as s:
        [entry] = s.history(kinds=["approval"])
        assert "bob" in entry.detail
    with Engine.offline(offline_config(tmp_path / "missing.db"), writable=True) as offline:
        assert not offline.approve_deletes().store_found
    assert not (tmp_path / "missing.db").exists()


# ------------------------------------------------------------------ explain, snapshot
def test_explain_and_snapshot_through_an_offline_engine(tmp_path):
    db = tmp_path / "state.db"
    src = MemorySource()
    src.put(user(1))
    engine = engine_at(db, src, MemoryTarget("app"))
    engine.run_once()
    engine.store.close()
    with Engine.offline(offline_config(db)) as offline:
        [e] = offline.explain("u1@lab.test")
        assert isinstance(e, Explanation) and e.verdicts[0].state == "provisioned"
        written = offline.snapshot(tmp_path / "snap.jsonl", config_text="# no secrets here\n")
    assert written.size == (tmp_path / "snap.jsonl").stat().st_size and written.redactions == 0
    assert read_snapshot(tmp_path / "snap.jsonl") is not None
    with Engine.offline(offline_config(tmp_path / "none.db")) as offline:
        with pytest.raises(NoSuchObject, match="does not exist yet"):
            offline.explain("u1")
        with pytest.raises(NoStateStore):
            offline.snapshot(tmp_path / "never.jsonl")
    assert not (tmp_path / "never.jsonl").exists()


def test_an_offline_engine_builds_no_connector_and_reads_no_secret(tmp_path, monkeypatch):
    """status/log/explain work where the secrets are not: the CLI's config carries env names only."""
    db = tmp_path / "state.db"
    Store.open(db).close()
    cfg = write_toml(tmp_path, db)
    cfg.write_text(cfg.read_text().replace('auth = "none"', 'auth = "bearer"\ntoken_env = "HS_TEST_UNSET_TOKEN"'))
    monkeypatch.delenv("HS_TEST_UNSET_TOKEN", raising=False)
    from hybridsync.engine.config.loader import load_config

    with Engine.offline(load_config(cfg, check_secrets=False)) as engine:
        assert engine.sources == {} and engine.targets == {} and engine.recorder is None
        assert engine.status().empty and len(engine.log()) == 0


def test_the_cli_log_prints_exactly_the_host_api_records(tmp_path, capsys):
    db = tmp_path / "state.db"
    src = MemorySource()
    src.put(user(1))
    src.put(user(2))
    engine = engine_at(db, src, MemoryTarget("app"))
    engine.run_once()
    records = [r.to_dict() for r in engine.log(object="u2")]
    engine.store.close()
    capsys.readouterr()
    assert main(["log", "-c", str(write_toml(tmp_path, db)), "--json", "--object", "u2"]) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == records


def test_a_provision_is_recorded_and_replay_reproduces_it():
    """Provisions (in scope, scope ignored, a dry run) between cycles: replay reproduces every decision."""
    from hybridsync.engine.audit.replay import replay_store
    from hybridsync.engine.config.loader import load_config_text

    from .test_replay import CONFIG

    cfg = load_config_text(CONFIG, base_dir=Path("/tmp"), check_secrets=False)
    src, tgt, clock = MemorySource(), MemoryTarget("app"), Clock()
    src.put(user(1))
    src.put(user(9, OTHER))
    engine = Engine(cfg, store=Store.open(":memory:"), sources={"corp": src}, targets={"app": tgt}, clock=clock)
    engine.run_once()
    clock.advance(minutes=1)
    src.put(user(2))
    assert engine.provision("u2").exit_code() == 0
    assert [s.kind for s in engine.provision("u9", ignore_scope=True).steps] == ["create"]
    engine.provision("u1", dry_run=True)
    clock.advance(minutes=1)
    src.put(user(3))
    engine.run_once()
    assert [c.mode for c in engine.store.last_cycles(10)][::-1] == ["full", "provision", "provision", "delta"]
    report = replay_store(engine.store, CONFIG)
    assert report.reproduced, report.divergence and report.divergence.lines()
    assert report.cycles == 4 and report.decisions >= 4


def test_a_file_that_is_not_a_state_store_is_refused_by_the_offline_engine_and_the_cli(tmp_path, capsys):
    from hybridsync.statestore import StoreCorrupt

    db = tmp_path / "state.db"
    db.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreCorrupt):
        Engine.offline(offline_config(db))
    cfg = write_toml(tmp_path, db)
    for argv in (["status"], ["log"], ["explain", "u1"], ["snapshot", str(tmp_path / "s.jsonl")],
                 ["approve-deletes"]):
        assert main([argv[0], "-c", str(cfg), *argv[1:]]) == 2, argv
        assert "not a readable state store" in capsys.readouterr().err

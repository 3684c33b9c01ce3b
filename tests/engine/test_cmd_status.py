"""``hybridsync status``: missing, empty, corrupt and populated stores, through the real CLI."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from hybridsync.engine.cli import main
from hybridsync.engine.core.values import (
    Action,
    ActionKind,
    DirSyncCookie,
    ObjectKind,
    ObjectState,
    Reason,
    Refresh,
    TargetState,
    UsnWatermark,
)
from hybridsync.statestore import Store

CONFIG = """
[state]
path = "state/hybridsync.db"

[[source]]
name = "corp"
kind = "ad"
urls = ["ldaps://127.0.0.2:636"]
base_dn = "DC=lab,DC=test"
bind_dn = "CN=Administrator,CN=Users,DC=lab,DC=test"
password_env = "HYBRIDSYNC_TEST_STATUS_PASSWORD"
delta = "usn"

[[target]]
name = "app"
kind = "scim"
url = "http://127.0.0.1:8100/scim/v2"
auth = "bearer"
token_env = "HYBRIDSYNC_TEST_STATUS_TOKEN"
"""
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
COOKIE = b"\x01SECRETISH-COOKIE-BYTES\x02" * 4


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "hybridsync.toml"
    path.write_text(CONFIG)
    return path


def db_path(config: Path) -> Path:
    return config.parent / "state" / "hybridsync.db"


def populate(path: Path) -> None:
    with Store.open(path) as s:
        for i in range(3):
            a = f"u{i}AAAAAAAAAAAAAAAAAAAAA="
            s.put_object(ObjectState(source="corp", anchor=a, object_guid=a, kind=ObjectKind.USER,
                                     dn=f"CN=u{i},DC=lab,DC=test"))
            s.put_target_state(TargetState(anchor=a, target="app", kind=ObjectKind.USER,
                                           state="provisioned" if i else "disabled"))
        s.advance_watermark("corp", "inv-1", Refresh(), UsnWatermark("inv-1", 4711))
        s.advance_watermark("corp", "inv-1", UsnWatermark("inv-1", 4711), Refresh("dc restored"))
        s.advance_watermark("corp", "inv-2", Refresh(), DirSyncCookie(COOKIE, "inv-2"))
        s.set_source_fact("corp", "privilege", "least-privilege")
        c = s.begin_cycle("corp", "delta", at=T0)
        s.end_cycle(c, status="ok", counts={"created": 3}, duration_s=1.25, at=T0)
        s.put_target_profile("app", {"profile": "scim2-server", "patch": True})
        s.quarantine("hr", "401 Unauthorized", T0, at=T0)
        s.hold(Action(kind=ActionKind.DELETE, target="app", anchor="u1AAAAAAAAAAAAAAAAAAAAA=",
                      object_kind=ObjectKind.USER, dn="CN=u1,DC=lab,DC=test",
                      reasons=(Reason("safety.delete_threshold"),)), "delete threshold 0 reached")


def test_status_on_a_missing_store_says_so_and_exits_0(config, capsys):
    assert main(["status", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "No state store" in out and "nothing has been synced" in out
    assert not db_path(config).exists(), "status must not create the store"


def test_status_on_an_empty_store_says_so_and_exits_0(config, capsys):
    Store.open(db_path(config)).close()
    assert main(["status", "-c", str(config), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["empty"] is True and "empty" in data["message"]


def test_status_on_a_corrupt_file_exits_2_naming_the_file(config, capsys):
    db_path(config).parent.mkdir()
    db_path(config).write_bytes(b"this is not an SQLite database, just some bytes" * 50)
    assert main(["status", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert str(db_path(config)) in err and "not a readable state store" in err


def test_status_on_another_programs_sqlite_file_exits_2(config, capsys):
    import sqlite3

    db_path(config).parent.mkdir()
    with sqlite3.connect(db_path(config)) as conn:
        conn.execute("CREATE TABLE photos (id INTEGER)")
    assert main(["status", "-c", str(config)]) == 2
    assert "not a hybridsync state store" in capsys.readouterr().err


def test_status_json_shows_watermarks_per_dc_counts_quarantine_held_and_dialect(config, capsys):
    populate(db_path(config))
    assert main(["status", "-c", str(config), "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    [corp] = data["sources"]
    assert corp["delta"] == "usn" and corp["facts"] == {"privilege": "least-privilege"}
    marks = {w["dc"]: w for w in corp["watermarks"]}
    assert marks["inv-2"] == {**marks["inv-2"], "type": "dirsync", "active": True,
                              "cookie_bytes": len(COOKIE)}
    assert marks["inv-1"]["type"] == "refresh" and not marks["inv-1"]["active"]
    assert corp["last_cycle"]["duration_s"] == 1.25 and corp["last_cycle"]["status"] == "ok"
    targets = {t["name"]: t for t in data["targets"]}
    assert targets["app"]["states"] == {"disabled": 1, "provisioned": 2}
    assert targets["app"]["dialect"] == "scim2-server" and targets["app"]["held_deletes"] == 1
    assert targets["hr"]["quarantine"]["reason"] == "401 Unauthorized"
    assert targets["hr"]["quarantine"]["next_retry"].startswith("2026-11-23T12:00")
    assert [h["dn"] for h in data["held"]] == ["CN=u1,DC=lab,DC=test"]
    assert "SECRETISH" not in out


def test_status_table_names_every_part_and_never_prints_the_cookie(config, capsys):
    populate(db_path(config))
    assert main(["status", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    for part in ("corp", "inv-2", "DirSync cookie", "least-privilege", "app", "provisioned: 2",
                 "scim2-server", "401 Unauthorized", "Held deletes", "CN=u1,DC=lab,DC=test"):
        assert part in out, part
    assert "SECRETISH" not in out


def test_status_with_an_in_memory_store_explains_that_nothing_persists(tmp_path, capsys):
    path = tmp_path / "hybridsync.toml"
    path.write_text(CONFIG.replace('path = "state/hybridsync.db"', 'path = ":memory:"'))
    assert main(["status", "-c", str(path)]) == 0
    assert "nothing persists between runs" in capsys.readouterr().out
    assert not (tmp_path / ":memory:").exists()


def test_status_shows_what_the_engine_learnt_of_its_connectors(tmp_path, capsys):
    """After a cycle, status names the source's delta mode and the target's detected profile."""
    import json as _json

    from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
    from hybridsync.engine.cli import main as cli_main

    from .enginekit import make_engine, user

    src = MemorySource()
    src.put(user(1))
    store = Store.open(tmp_path / "state.db")
    eng = make_engine(src, {"app": MemoryTarget("app")}, store=store)
    eng.run_once()
    facts = store.source_facts("corp")
    profile = store.target_profile("app")
    store.close()
    assert facts and profile is not None
    cfg = tmp_path / "hybridsync.toml"
    cfg.write_text('[state]\npath = "state.db"\n\n[[source]]\nname = "corp"\nkind = "ad"\n'
                   'urls = ["ldaps://127.0.0.2:636"]\nbase_dn = "DC=lab,DC=test"\n\n'
                   '[[target]]\nname = "app"\nkind = "scim"\nurl = "http://127.0.0.1:9/v2"\nauth = "none"\n')
    capsys.readouterr()  # drop the engine's log lines
    assert cli_main(["status", "-c", str(cfg), "--json"]) == 0
    doc = _json.loads(capsys.readouterr().out)
    [corp] = doc["sources"]
    assert corp["facts"]["mode"] == "memory" and corp["facts"]["deletions_visible"] is True
    assert profile == {"kind": "memory", "objects": 1}  # the target as described after the cycle

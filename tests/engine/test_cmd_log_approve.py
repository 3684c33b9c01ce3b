"""``hybridsync log`` and ``hybridsync approve-deletes`` through the real CLI."""

from __future__ import annotations

import getpass
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from hybridsync.engine.cli import main
from hybridsync.engine.cli.log import parse_since
from hybridsync.engine.core.values import Action, ActionKind, ObjectKind, ObjectState, Reason
from hybridsync.statestore import Store

from .test_cmd_status import CONFIG, db_path

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
JDOE = "AQIDBAUGBwgJCgsMDQ4PEA=="  # objectGUID {04030201-0605-0807-090a-0b0c0d0e0f10}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "hybridsync.toml"
    path.write_text(CONFIG + '\n[[target]]\nname = "hr"\nkind = "scim"\n'
                    'url = "http://127.0.0.1:8101/scim/v2"\nauth = "bearer"\n'
                    'token_env = "HYBRIDSYNC_TEST_HR_TOKEN"\n')
    return path


def action(kind: ActionKind, target: str = "app", anchor: str = JDOE, **kw) -> Action:
    return Action(kind=kind, target=target, anchor=anchor, object_kind=ObjectKind.USER,
                  dn="CN=John Doe,OU=Staff,DC=lab,DC=test", **kw)


def populate(path: Path) -> None:
    with Store.open(path) as s:
        s.put_object(ObjectState(
            source="corp", anchor=JDOE, object_guid=JDOE, kind=ObjectKind.USER,
            dn="CN=John Doe,OU=Staff,DC=lab,DC=test",
            attributes={"sAMAccountName": "jdoe", "userPrincipalName": "jdoe@lab.test"}))
        s.record_observation(1, "corp", JDOE, "CN=John Doe,OU=Staff,DC=lab,DC=test", "user",
                             {"useraccountcontrol": ["512", "514"]}, at=T0)
        s.record_decision(1, action(ActionKind.CREATE, to_state="provisioned",
                                    reasons=(Reason("match.anchor", "no target object"),)),
                          result="done", status=201, at=T0)
        s.record_decision(2, action(ActionKind.DISABLE, from_state="provisioned",
                                    to_state="disabled",
                                    reasons=(Reason("source.userAccountControl", "514"),)),
                          result="done", status=200, at=T0 + timedelta(days=2))
        s.record_decision(2, action(ActionKind.CREATE, anchor="OTHERAAAAAAAAAAAAAAAAA=="),
                          result="failed", status=409, detail="uniqueness", at=T0 + timedelta(days=2))
        for target in ("app", "hr"):
            s.hold(action(ActionKind.DELETE, target=target,
                          reasons=(Reason("safety.delete_threshold"),)), "threshold 0 reached")


def test_log_json_lines_give_one_record_per_outcome_with_upn_and_reasons(config, capsys):
    populate(db_path(config))
    assert main(["log", "-c", str(config), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["action"], r["result"], r["status"]) for r in rows] == [
        ("create", "done", 201), ("disable", "done", 200), ("create", "failed", 409)]
    assert rows[1]["object"]["upn"] == "jdoe@lab.test"
    assert rows[1]["reasons"] == [{"rule": "source.userAccountControl", "detail": "514"}]
    assert rows[2]["object"]["upn"] is None and rows[2]["detail"] == "uniqueness"


@pytest.mark.parametrize("ref", ["jdoe", "JDOE@lab.test", "cn=john doe,ou=staff,dc=lab,dc=test",
                                 JDOE, "{04030201-0605-0807-090a-0b0c0d0e0f10}"])
def test_log_object_filter_finds_the_user_by_every_kind_of_reference(config, capsys, ref):
    populate(db_path(config))
    assert main(["log", "-c", str(config), "--json", "--object", ref]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["action"] for r in rows] == ["create", "disable"]


def test_log_since_keeps_only_newer_records(config, capsys):
    populate(db_path(config))
    assert main(["log", "-c", str(config), "--json", "--since", "2026-11-02"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["cycle"] for r in rows] == [2, 2]


def test_log_table_shows_the_upn_the_edge_and_the_response(config, capsys):
    populate(db_path(config))
    assert main(["log", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    for part in ("jdoe@lab.test", "disable provisioned->disabled", "409 uniqueness",
                 "source.userAccountControl (514)"):
        assert part in out, part


def test_log_with_an_unknown_object_exits_2_saying_what_was_tried(config, capsys):
    populate(db_path(config))
    assert main(["log", "-c", str(config), "--object", "nobody"]) == 2
    err = capsys.readouterr().err
    assert "no object matches 'nobody' (tried objectGUID, DN, sAMAccountName, UPN)" in err


def test_log_on_a_missing_store_says_so_and_exits_0(config, capsys):
    assert main(["log", "-c", str(config)]) == 0
    assert "nothing has been logged" in capsys.readouterr().out


def test_log_rejects_a_since_that_is_neither_time_nor_age(config, capsys):
    assert main(["log", "-c", str(config), "--since", "yesterday-ish"]) == 2
    assert "--since" in capsys.readouterr().err


def test_parse_since_understands_ages_and_iso_times():
    now = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
    assert parse_since("2h", now) == now - timedelta(hours=2)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2026-11-23T10:00+01:00", now) == datetime(2026, 11, 23, 9, 0,
                                                                   tzinfo=timezone.utc)
    assert parse_since("2026-11-23", now) == datetime(2026, 11, 23, tzinfo=timezone.utc)


def test_approve_deletes_for_one_target_records_who_and_when_and_leaves_the_other(config, capsys):
    populate(db_path(config))
    assert main(["approve-deletes", "-c", str(config), "--target", "app"]) == 0
    out = capsys.readouterr().out
    assert "Approved 1 held action(s) (1 delete)" in out and getpass.getuser() in out
    with Store.open(db_path(config)) as s:
        [approved] = s.approved_actions("app")
        assert approved.approved_by == getpass.getuser()
        assert abs((approved.approved_at - datetime.now(timezone.utc)).total_seconds()) < 60
        assert [h.target for h in s.held()] == ["hr"]
        [entry] = s.history(kinds=["approval"])
        assert getpass.getuser() in entry.detail and entry.target == "app"


def test_approve_deletes_without_target_approves_all_and_then_nothing_is_left(config, capsys):
    populate(db_path(config))
    assert main(["approve-deletes", "-c", str(config)]) == 0
    assert "Approved 2" in capsys.readouterr().out
    assert main(["approve-deletes", "-c", str(config)]) == 0
    assert "Nothing is held" in capsys.readouterr().out


def test_approve_deletes_for_an_unknown_target_exits_2(config, capsys):
    populate(db_path(config))
    assert main(["approve-deletes", "-c", str(config), "--target", "nope"]) == 2
    assert "no target named 'nope'" in capsys.readouterr().err
    with Store.open(db_path(config)) as s:
        assert len(s.held()) == 2


def test_approve_deletes_on_a_missing_store_says_nothing_is_held(config, capsys):
    assert main(["approve-deletes", "-c", str(config)]) == 0
    assert "nothing is held" in capsys.readouterr().out

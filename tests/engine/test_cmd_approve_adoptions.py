"""``hybridsync approve-adoptions`` through the real CLI, and the single-writer lock that
``provision``, ``approve-deletes`` and ``approve-adoptions`` take like ``sync`` (issue 14)."""

from __future__ import annotations

import getpass
import json
import os
import socket
import threading
import time
from pathlib import Path

import attrs
import pytest

from hybridsync.engine.cli import main
from hybridsync.engine.core.values import Action, ActionKind, ObjectKind, Reason
from hybridsync.statestore import Store
from hybridsync.statestore.lease import FileLease

from .test_cmd_status import CONFIG, db_path

JDOE = "AQIDBAUGBwgJCgsMDQ4PEA=="
DN = "CN=John Doe,OU=Staff,DC=lab,DC=test"


@pytest.fixture
def config(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("HYBRIDSYNC_TEST_STATUS_PASSWORD", "pw")
    monkeypatch.setenv("HYBRIDSYNC_TEST_STATUS_TOKEN", "tok")
    path = tmp_path / "hybridsync.toml"
    path.write_text(CONFIG + '\n[matching]\nadopt = "approve"\n')
    return path


def populate(path: Path) -> list[int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with Store.open(path) as s:
        base = Action(kind=ActionKind.ADOPT, target="app", anchor=JDOE, object_kind=ObjectKind.USER, dn=DN,
                      target_id="cloud-1", reasons=(Reason("match.soft.userName", "userName='jdoe@lab.test'"),))
        ids = [s.hold(base, "adopt = approve"),
               s.hold(attrs.evolve(base, anchor="OTHER", dn="CN=Other,DC=lab,DC=test", target_id="cloud-2"),
                      "adopt = approve")]
        s.hold(Action(kind=ActionKind.HOLD, target="app", anchor="GONE", object_kind=ObjectKind.USER),
               "delete_threshold")
    return ids


def test_without_id_or_all_it_lists_the_pending_adoptions_per_target(config, capsys):
    ids = populate(db_path(config))
    assert main(["approve-adoptions", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "2 adoption(s) waiting" in out and "target app:" in out
    assert f"{ids[0]:>6}  {DN} -> target object cloud-1" in out and "GONE" not in out
    with Store.open(db_path(config), readonly=True) as s:
        assert len(s.held(adoptions=True)) == 2  # listing approves nothing


def test_approving_one_by_id_records_who_and_leaves_the_rest(config, capsys):
    ids = populate(db_path(config))
    assert main(["approve-adoptions", "-c", str(config), "--id", str(ids[0])]) == 0
    out = capsys.readouterr().out
    assert f"approved {ids[0]}: app: {DN} -> target object cloud-1" in out and "Approved 1 adoption(s)" in out
    with Store.open(db_path(config), readonly=True) as s:
        assert [h.id for h in s.held(adoptions=True)] == [ids[1]]
        [approved] = [h for h in s.approved_actions("app") if h.action.kind == ActionKind.ADOPT]
        assert approved.id == ids[0] and approved.approved_by == getpass.getuser()
        assert len(s.held()) == 1  # the held delete is approve-deletes's
        [entry] = list(s.history(kinds=["approval"]))
        assert "1 pending adoption(s) approved by" in entry.detail
    assert main(["approve-adoptions", "-c", str(config), "--all", "--target", "app"]) == 0
    assert "Approved 1 adoption(s)" in capsys.readouterr().out


def test_status_shows_the_pending_adoptions(config, capsys):
    ids = populate(db_path(config))
    with Store.open(db_path(config)) as s:
        s.begin_cycle("corp", "full")
    assert main(["status", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "Pending adoptions (approve with: hybridsync approve-adoptions)" in out and "cloud-2" in out
    assert main(["status", "--json", "-c", str(config)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [h["id"] for h in data["pending_adoptions"]] == ids and data["targets"][0]["pending_adoptions"] == 2
    assert len(data["held"]) == 1


def test_bad_arguments_and_a_missing_store_are_said_plainly(config, capsys):
    assert main(["approve-adoptions", "-c", str(config)]) == 0
    assert "No state store" in capsys.readouterr().out
    populate(db_path(config))
    assert main(["approve-adoptions", "-c", str(config), "--all", "--id", "1"]) == 2
    assert main(["approve-adoptions", "-c", str(config), "--target", "nope"]) == 2
    assert "no target named 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["approve-deletes"], ["approve-adoptions", "--all"], ["provision", "jdoe"]],
                         ids=["approve-deletes", "approve-adoptions", "provision"])
def test_a_second_writer_exits_2_naming_the_holder_or_waits(config, capsys, argv):
    populate(db_path(config))
    holder = FileLease(db_path(config))
    holder.acquire()
    try:
        assert main([*argv, "-c", str(config)]) == 2
        err = capsys.readouterr().err
        assert f"hybridsync {argv[0]}: the state store" in err and "is in use" in err
        assert f"pid {os.getpid()} on {socket.gethostname()}" in err
        with Store.open(db_path(config), readonly=True) as s:
            assert s.approved_actions("app") == []  # nothing was approved
        if argv[0] == "provision":
            return
        done: list[int] = []
        waiter = threading.Thread(target=lambda: done.append(main([*argv, "--wait", "-c", str(config)])))
        waiter.start()
        time.sleep(0.6)
        assert not done  # waits for the holder
    finally:
        holder.release()
    waiter.join(10)
    assert done == [0]
    with Store.open(db_path(config), readonly=True) as s:
        assert s.approved_actions("app") != []

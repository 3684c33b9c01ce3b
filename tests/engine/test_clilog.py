"""The CLI's log routing: per-object lines never reach a console terminal unless --verbose,
JSON mode (systemd) gets every info event, the log file gets everything."""

from __future__ import annotations

import json

import pytest
import structlog

from hybridsync.engine.cli import logsetup as clilog


@pytest.fixture(autouse=True)
def _reset_structlog():
    yield
    clilog.configure(fmt="json")  # close the file
    structlog.reset_defaults()


def _emit() -> None:
    log = structlog.get_logger("t")
    log.info("object_outcome", anchor="a1", action="create", result="ok")
    log.warning("object_problem", anchor="a2", message="odd value")
    log.info("cycle", cycle_id=1, status="ok")
    log.warning("target_quarantined", target="app", why="401")
    log.debug("describe_failed", source="corp")


def test_console_shows_only_run_level_warnings_and_the_file_gets_every_event(tmp_path, capsys):
    clilog.configure(fmt="console", file=tmp_path / "run" / "hybridsync.log")
    _emit()
    err = capsys.readouterr().err
    assert "target_quarantined" in err
    assert "object_outcome" not in err and "object_problem" not in err and "cycle" not in err
    lines = [json.loads(x) for x in (tmp_path / "run" / "hybridsync.log").read_text().splitlines()]
    assert [e["event"] for e in lines] == ["object_outcome", "object_problem", "cycle", "target_quarantined"]
    assert lines[0]["anchor"] == "a1" and lines[0]["level"] == "info" and "timestamp" in lines[0]


def test_verbose_console_shows_every_event_one_line_each(capsys):
    clilog.configure(fmt="console", verbose=True)
    _emit()
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 5 and any("object_outcome" in x and "a1" in x for x in err)


def test_json_mode_for_systemd_writes_every_info_event_as_one_json_object_per_line(capsys):
    clilog.configure(fmt="json")
    _emit()
    events = [json.loads(x) for x in capsys.readouterr().err.splitlines()]
    assert [e["event"] for e in events] == ["object_outcome", "object_problem", "cycle", "target_quarantined"]


def test_auto_is_json_off_a_terminal(capsys):
    router = clilog.configure(fmt="auto")
    assert router.terminal == "json"  # pytest's captured stderr is not a terminal


MINIMAL = ('[[source]]\nname = "corp"\nurls = ["ldaps://127.0.0.2"]\nbase_dn = "DC=lab,DC=test"\n'
           '[[target]]\nname = "app"\nurl = "http://127.0.0.1:1/scim/v2"\ntoken_env = "T"\n')


def test_the_log_section_is_read_from_the_config(tmp_path):
    from hybridsync.engine.config.loader import load_config

    cfg = tmp_path / "hybridsync.toml"
    cfg.write_text('[log]\nformat = "json"\nfile = "logs/hs.log"\n' + MINIMAL)
    config = load_config(cfg, check_secrets=False)
    assert config.log.format == "json" and config.log.file == str(tmp_path / "logs" / "hs.log")
    bad = tmp_path / "bad.toml"
    bad.write_text('[log]\nformat = "xml"\n' + MINIMAL)
    from hybridsync.engine.core.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        load_config(bad, check_secrets=False)
    assert any("log.format" in str(p) for p in err.value.problems)

"""``hybridsync check-config``: one summary line and exit 0, or one line per problem and exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hybridsync.engine.cli import main

SECRET = "Sup3r-S3cret-Value-42"
GOOD = """
[state]
path = "data/hybridsync.db"

[[source]]
name = "corp"
urls = ["ldaps://127.0.0.2:636", "ldaps://127.0.0.3:636"]
base_dn = "DC=lab,DC=test"
bind_dn = "CN=Administrator,CN=Users,DC=lab,DC=test"
password_env = "HS_TEST_CORP_PASSWORD"

[[target]]
name = "app"
url = "http://127.0.0.1:8100/scim/v2"
token_file = "app.token"
"""


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HS_TEST_CORP_PASSWORD", SECRET)
    (tmp_path / "app.token").write_text(SECRET)
    return tmp_path


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["check-config", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_a_valid_config_prints_one_summary_line_and_exits_0(config_dir, capsys, monkeypatch):
    (config_dir / "hybridsync.toml").write_text(GOOD)
    monkeypatch.chdir(config_dir)
    rc, out, err = run_cli(capsys)  # default: ./hybridsync.toml
    assert rc == 0, err
    assert out == "ok: hybridsync.toml: 1 source (corp: 2 DCs, dirsync), 1 target (app: scim), state data/hybridsync.db\n"
    assert err == ""


def test_tls_verify_false_is_allowed_with_a_warning_line(config_dir, capsys):
    path = config_dir / "c.toml"
    path.write_text(GOOD.replace('password_env = "HS_TEST_CORP_PASSWORD"', 'password_env = "HS_TEST_CORP_PASSWORD"\ntls_verify = false'))
    rc, out, err = run_cli(capsys, "-c", str(path))
    assert rc == 0 and out.count("\n") == 1 and out.startswith(f"ok: {path}: ")
    assert err.startswith(f"warning: {path}: source[0].tls_verify: TLS verification is off: the DC's certificate")
    assert err.count("\n") == 1 and "bind password" in err


def test_credentials_sent_in_clear_are_warned_about(config_dir, capsys, monkeypatch):
    text = GOOD.replace("ldaps://127.0.0.2:636", "ldap://127.0.0.2").replace("127.0.0.1:8100", "scim.example.test")
    (config_dir / "hybridsync.toml").write_text(text)
    monkeypatch.chdir(config_dir)
    rc, out, err = run_cli(capsys, "-c", "hybridsync.toml")
    assert rc == 0 and out.startswith("ok: hybridsync.toml: ")
    assert err.splitlines() == [  # ldap:// is upgraded with StartTLS before the bind: no warning
        "warning: hybridsync.toml: target[0].url: plain http:// to a host that is not loopback: the credentials "
        "and every object's data cross the network unencrypted; use https://",
    ]


def test_an_invalid_config_lists_every_problem_with_file_and_key_and_exits_2(config_dir, capsys):
    path = config_dir / "bad.toml"
    bad = GOOD.replace('base_dn = "DC=lab,DC=test"', 'base_dn = "lab.test"')
    bad = bad.replace("[[target]]", f'[[target]]\ntoken = "{SECRET}"\nnested_groups = "deep"')
    path.write_text(bad)
    rc, out, err = run_cli(capsys, "--config", str(path))
    assert rc == 2 and out == ""
    lines = err.splitlines()
    assert lines[:-1] == [
        f"{path}: source[0].base_dn: not a valid DN: attribute type not present",
        f"{path}: target[0].token: a secret must not be written into the config file; write "
        'token_env = "VARIABLE" (an environment variable) or token_file = "path" instead (the value is not shown)',
        f"{path}: target[0].nested_groups: must be one of nested, flatten, omit (got 'deep')",
    ]
    assert lines[-1] == f"{path}: 3 problems"
    assert SECRET not in err


def test_a_missing_secret_is_an_error_unless_secrets_are_not_checked(config_dir, capsys, monkeypatch):
    path = config_dir / "c.toml"
    path.write_text(GOOD)
    monkeypatch.delenv("HS_TEST_CORP_PASSWORD")
    rc, _, err = run_cli(capsys, "-c", str(path))
    assert rc == 2 and "source[0].password_env: environment variable HS_TEST_CORP_PASSWORD is not set" in err
    rc, out, _ = run_cli(capsys, "-c", str(path), "--no-secrets")
    assert rc == 0 and out.startswith("ok: ")


def test_a_missing_config_file_exits_2_naming_it(tmp_path, capsys):
    rc, out, err = run_cli(capsys, "-c", str(tmp_path / "absent.toml"))
    assert rc == 2 and out == ""
    assert f"{tmp_path / 'absent.toml'}: (file): config file not found" in err


def test_check_config_runs_as_python_dash_m_hybridsync(config_dir):
    (config_dir / "hybridsync.toml").write_text(GOOD.replace("ldaps://127.0.0.3:636", "ldaps://[::1"))
    proc = subprocess.run(
        [sys.executable, "-m", "hybridsync", "check-config"],
        cwd=config_dir, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "hybridsync.toml: source[0].urls[1]: not a valid URL" in proc.stderr
    assert SECRET not in proc.stderr + proc.stdout

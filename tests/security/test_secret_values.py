"""Issue 15, finding 1 and 4: secrets from *_env / *_file, redaction where data is recorded, URLs
with credentials."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from hybridsync.connectors.base import RetryAfter, Terminal
from hybridsync.connectors.scim import ScimTarget
from hybridsync.engine.config.loader import load_config_text
from hybridsync.engine.core import redact
from hybridsync.engine.core.config import TargetConfig
from hybridsync.engine.core.errors import ConfigError
from hybridsync.engine.core.values import ObjectKind
from hybridsync.engine.runtime.recording import Recorder

TOKEN = "tok-Sup3r-S3cret-42"
VAR = "HS_TEST_SECRET_TOKEN"


@pytest.fixture(autouse=True)
def fresh_registry():
    redact.forget_all()
    yield
    redact.forget_all()


def config(**kw) -> TargetConfig:
    return TargetConfig(name="app", url="http://127.0.0.1:9/scim/v2", token_env=VAR, **kw)


@pytest.mark.parametrize("raw", [TOKEN + "\n", TOKEN + "\r\n", TOKEN])
def test_a_token_from_env_loses_one_trailing_newline(monkeypatch, raw):
    monkeypatch.setenv(VAR, raw)
    assert config().token() == TOKEN


def test_a_token_from_file_loses_one_trailing_newline(tmp_path):
    f = tmp_path / "token"
    f.write_text(TOKEN + "\n")
    assert TargetConfig(name="app", token_file=str(f)).token() == TOKEN


@pytest.mark.parametrize("raw", [TOKEN + "\n\n", "tok\x01" + TOKEN, TOKEN + "\tx", TOKEN + "\x1b[0m"])
def test_control_characters_are_a_config_error_naming_the_key_never_the_value(monkeypatch, raw):
    monkeypatch.setenv(VAR, raw)
    with pytest.raises(ConfigError) as err:
        config().token()
    text = str(err.value) + repr(err.value)
    assert VAR in text and "token" in text
    assert TOKEN not in text and repr(raw)[1:-1] not in text


def test_check_config_rejects_a_secret_with_control_characters(monkeypatch):
    monkeypatch.setenv(VAR, TOKEN + "\x07")
    doc = f"""[[source]]\nname = "corp"\nurls = ["ldaps://127.0.0.2:636"]\nbase_dn = "DC=lab,DC=test"\n
[[target]]\nname = "app"\nurl = "https://scim.example.test/v2"\ntoken_env = "{VAR}"\n"""
    with pytest.raises(ConfigError) as err:
        load_config_text(doc, base_dir=__import__("pathlib").Path("."))
    assert "target[0].token_env" in str(err.value) and TOKEN not in str(err.value)
    monkeypatch.setenv(VAR, TOKEN + "\n")
    load_config_text(doc, base_dir=__import__("pathlib").Path("."))  # one newline is fine


@pytest.mark.parametrize("url", ["https://admin:pw-Secret-1@scim.example.test/v2",
                                 "https://token-only@scim.example.test/v2",
                                 "https://admin:pw-Secret-1@scim.example.test:x/v2"])
def test_a_url_with_userinfo_is_a_config_error(monkeypatch, url):
    monkeypatch.setenv(VAR, TOKEN)
    doc = f"""[[source]]\nname = "corp"\nurls = ["ldaps://127.0.0.2:636"]\nbase_dn = "DC=lab,DC=test"\n
[[target]]\nname = "app"\nurl = "{url}"\ntoken_env = "{VAR}"\n"""
    with pytest.raises(ConfigError) as err:
        load_config_text(doc, base_dir=__import__("pathlib").Path("."))
    assert "target[0].url" in str(err.value) and "pw-Secret-1" not in str(err.value)


def test_every_spelling_of_a_secret_is_redacted():
    secret = "abc-Secret\\x\"y"
    for form in (secret, repr(secret), json.dumps(secret), repr(secret.encode()), json.dumps(json.dumps(secret))):
        assert "Secret" not in redact.redact(f"error: {form} end", [secret]), form


def test_a_transport_error_is_recorded_by_type_never_by_its_text(monkeypatch):
    monkeypatch.setenv(VAR, TOKEN)

    def refuse(request: httpx.Request) -> httpx.Response:  # h11 quotes a refused header
        raise httpx.LocalProtocolError("Illegal header value b'Bearer sentinel-unregistered\\n'")

    target = ScimTarget(config(), client=httpx.Client(transport=httpx.MockTransport(refuse)))
    result = target.lookup_by_anchor(ObjectKind.USER, "a1")
    assert isinstance(result, RetryAfter) and "LocalProtocolError" in result.why
    assert TOKEN not in result.why and "sentinel-unregistered" not in result.why


def test_the_recorder_and_the_history_never_hold_a_known_secret(monkeypatch):
    from hybridsync.engine.core.values import Action, ActionKind
    from hybridsync.engine.runtime.reconcile import state_after

    monkeypatch.setenv(VAR, TOKEN + "\n")
    config().token()  # reading it registers it
    leaked = f"refused header b'Bearer {TOKEN}\\n' and {TOKEN!r}"
    rec = Recorder()
    rec.call("app", "create", "k", RetryAfter(1.0, leaked))
    rec.call("app", "update", "k", Terminal("no", 400, None, leaked))
    assert rec._calls and all(TOKEN not in doc for _, doc in rec._calls)
    action = Action(kind=ActionKind.CREATE, anchor="a1", target="app", object_kind=ObjectKind.USER)
    out = state_after(None, action, RetryAfter(1.0, leaked), datetime.now(UTC))
    assert TOKEN not in (out.detail or "") and TOKEN not in (out.state.last_error or "")


def test_the_cli_log_pipeline_masks_every_spelling_of_a_known_secret(monkeypatch, tmp_path):
    import structlog

    from hybridsync.engine.cli import logsetup

    monkeypatch.setenv(VAR, TOKEN + "\n")
    config().token()
    log_file = tmp_path / "log.jsonl"
    try:
        logsetup.configure(fmt="json", file=log_file)
        structlog.get_logger("t").warning("target_listing_failed", why=f"Illegal header value b'Bearer {TOKEN}\\n'",
                                          nested={"a": [repr(TOKEN)]})
    finally:
        structlog.reset_defaults()
    text = log_file.read_text()
    assert "target_listing_failed" in text and "S3cret" not in text

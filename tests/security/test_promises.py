"""docs/security.md, attacked claim by claim: each test tries to get a secret past a promise the
page makes in a way the other security tests do not (a message cut mid-token before it was
redacted, an exception passed to the log as an object, a traceback, a connector that raises
with a password in its text, a token in a URL query, the repr of config and connector
objects)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import attrs
import pytest
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from enginekit import Clock, config as engine_config, user  # noqa: E402

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.config.loader import load_config_text
from hybridsync.engine.core import redact
from hybridsync.engine.core.config import DEFAULT_USER_MAPPING
from hybridsync.engine.core.errors import ConfigError
from hybridsync.engine.runtime.engine import Engine
from hybridsync.statestore import Store

TOKEN = "tk-Zq8Xw7-S3cret-4242-Vb9Lm2Np"
VAR = "HS_PROMISE_TOKEN"
SOURCE = '[[source]]\nname = "corp"\nurls = ["ldaps://127.0.0.2:636"]\nbase_dn = "DC=lab,DC=test"\n'


@pytest.fixture
def known_token():
    redact.forget_all()
    redact.remember(TOKEN)
    yield TOKEN
    redact.forget_all()


def pieces(secret: str, n: int = 6) -> list[str]:
    """Every run of ``n`` characters of ``secret``: half a token is still a leak."""
    return [secret[i:i + n] for i in range(len(secret) - n + 1)]


def leaks(secret: str, text: str) -> list[str]:
    return [p for p in pieces(secret) if p in text]


# ---------------------------------------------------------------- redaction where data is recorded

@pytest.mark.parametrize("cut", [5, 12, 20, len(TOKEN) - 1])
def test_a_message_cut_inside_a_secret_before_redaction_keeps_no_part_of_it(known_token, cut):
    message = ("GET failed: 401 " + TOKEN + " was refused")[: len("GET failed: 401 ") + cut]
    assert not leaks(TOKEN, redact.redact(message))


class ListingThatRaises(MemoryTarget):
    """A target whose complete listing raises with the token deep in a long message: the engine
    keeps 300 characters of it (targetview) before the recorder redacts."""

    def list_objects(self, kind):
        raise RuntimeError("x" * 255 + f" Authorization: Bearer {TOKEN}")  # cut 8 characters in


def test_a_connector_exception_cut_mid_token_reaches_no_record(known_token, tmp_path):
    source, target = MemorySource(), ListingThatRaises("app")
    source.put(user(1))
    store = Store.open(str(tmp_path / "state.db"))
    engine = Engine(engine_config(), store=store, sources={"corp": source}, targets={"app": target}, clock=Clock())
    engine.run_once()
    dump = io.StringIO()
    store.dump(dump)
    calls = [c.call_json for c in store.iter_calls() if "list_objects" in c.call_json]
    assert calls and "RuntimeError" in calls[0]
    assert not leaks(TOKEN, dump.getvalue() + "".join(p.read_bytes().decode("latin-1") for p in tmp_path.iterdir()))


def test_an_exception_object_and_a_traceback_in_a_log_event_are_redacted(known_token, tmp_path):
    from hybridsync.engine.cli import logsetup

    log_file = tmp_path / "log.jsonl"
    try:
        logsetup.configure(fmt="json", file=log_file)
        log = structlog.get_logger("t")
        log.warning("target_failed", error=RuntimeError(f"refused token {TOKEN}"))
        try:
            raise ValueError(f"bad header Bearer {TOKEN}")
        except ValueError:
            log.error("cycle_crashed", exc_info=True)
    finally:
        structlog.reset_defaults()
    text = log_file.read_text()
    assert "target_failed" in text and "cycle_crashed" in text and "ValueError" in text
    assert not leaks(TOKEN, text)


class RaisingTarget(MemoryTarget):
    """A connector that raises with the request's write-only values in its text."""

    def create(self, kind, anchor, attributes):
        raise RuntimeError(f"could not create {anchor}: payload {dict(attributes)!r} "
                           f"password={str(attributes['password'])}")


def test_a_connector_exception_quoting_a_generated_password_reaches_no_record(tmp_path):
    source, target = MemorySource(), RaisingTarget("app")
    source.put(user(1))
    cfg = engine_config()
    t = attrs.evolve(cfg.targets[0], mapping={"user": {**DEFAULT_USER_MAPPING, "password": "RandomString(16,1,1,1,1)"}})
    seen: list[str] = []
    original = RaisingTarget.create

    def spy(self, kind, anchor, attributes):
        seen.append(str(attributes["password"]))
        return original(self, kind, anchor, attributes)

    RaisingTarget.create = spy
    try:
        store = Store.open(str(tmp_path / "state.db"))
        engine = Engine(attrs.evolve(cfg, targets=(t,)), store=store, sources={"corp": source},
                        targets={"app": target}, clock=Clock())
        report = engine.run_once()
    finally:
        RaisingTarget.create = original
    [password] = seen
    state = store.get_target_state("app", user(1).anchor)
    assert "RuntimeError" in (state.last_error or "") and report.outcomes
    dump = io.StringIO()
    store.dump(dump)
    text = dump.getvalue() + "".join(p.read_bytes().decode("latin-1") for p in tmp_path.iterdir())
    assert not leaks(password, text + repr(report))


# ---------------------------------------------------------------- no literal secret in the config

@pytest.mark.parametrize("url", ["https://scim.example.test/v2?access_token=Qry-S3cret-77",
                                 "https://scim.example.test/v2#Qry-S3cret-77"])
def test_a_token_in_a_target_url_query_is_a_config_error_that_does_not_quote_it(monkeypatch, url):
    monkeypatch.setenv(VAR, TOKEN)
    doc = SOURCE + f'[[target]]\nname = "app"\nurl = "{url}"\ntoken_env = "{VAR}"\n'
    with pytest.raises(ConfigError) as err:
        load_config_text(doc, base_dir=Path("."))
    assert "target[0].url" in str(err.value) and "Qry-S3cret" not in str(err.value)


@pytest.mark.parametrize("query", ["password=Qry-S3cret-77", "sslmode=require&sslpassword=Qry-S3cret-77"])
def test_a_password_in_the_state_urls_query_is_a_config_error_that_does_not_quote_it(query):
    doc = f'[state]\nurl = "postgresql://hybridsync@db.example.test/hs?{query}"\n' + SOURCE + \
        '[[target]]\nname = "app"\nurl = "https://scim.example.test/v2"\nauth = "none"\n'
    with pytest.raises(ConfigError) as err:
        load_config_text(doc, base_dir=Path("."), check_secrets=False)
    assert "state.url" in str(err.value) and "Qry-S3cret" not in str(err.value)


# ---------------------------------------------------------------- what objects print as

def test_config_and_connector_objects_never_print_a_secret(monkeypatch, tmp_path):
    from hybridsync.connectors.scim import ScimTarget

    monkeypatch.setenv(VAR, TOKEN + "\n")
    secret_file = tmp_path / "bind"
    secret_file.write_text("Bind-Pw-S3cret-99\n")
    doc = (SOURCE + f'password_file = "{secret_file}"\n'
           f'[[target]]\nname = "app"\nurl = "https://scim.example.test/v2"\ntoken_env = "{VAR}"\n')
    config = load_config_text(doc, base_dir=tmp_path)
    assert config.targets[0].token() == TOKEN and config.sources[0].password() == "Bind-Pw-S3cret-99"
    target = ScimTarget(config.targets[0])
    target._transport._auth_headers()  # the header is built: the token is held from here on
    printed = "\n".join([repr(config), str(config), repr(config.targets[0]), repr(config.sources[0]),
                         repr(target), repr(target._transport), json.dumps(attrs.asdict(config), default=str)])
    target.close()
    assert not leaks(TOKEN, printed) and not leaks("Bind-Pw-S3cret-99", printed)


class RefusingTarget(MemoryTarget):
    """A third-party connector that quotes the credential it was refused with (the SCIM connector
    scrubs its own; the engine must not rely on every connector doing so)."""

    def lookup_by_anchor(self, kind, anchor):
        from hybridsync.connectors.base import Terminal

        return Terminal(f"401 Unauthorized: token {TOKEN} expired", status=401)

    def list_objects(self, kind):
        raise NotImplementedError  # not offered: questions are asked one by one


def test_a_target_refusal_quoting_a_secret_reaches_no_quarantine_record_or_log(known_token, tmp_path):
    from structlog.testing import capture_logs

    source, target = MemorySource(), RefusingTarget("app")
    source.put(user(1))
    store = Store.open(str(tmp_path / "state.db"))
    engine = Engine(engine_config(), store=store, sources={"corp": source}, targets={"app": target}, clock=Clock())
    with capture_logs() as logs:
        engine.run_once()
    [quarantined] = store.quarantined()
    assert "401" in quarantined.reason
    dump = io.StringIO()
    store.dump(dump)
    text = dump.getvalue() + "".join(p.read_bytes().decode("latin-1") for p in tmp_path.iterdir())
    assert not leaks(TOKEN, text)
    assert not leaks(TOKEN, repr([e for e in logs if e.get("event") == "target_quarantined"]))

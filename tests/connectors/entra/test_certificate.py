"""Certificate credentials end to end: a self-signed certificate registered on the fake Graph's
app, ``client_certificate_file`` (+ ``client_certificate_password_env`` for an encrypted key),
a sync through the engine; a wrong certificate is refused naming the target; the key and its
password reach no log line, no outcome and no byte of the state store
(https://learn.microsoft.com/entra/identity-platform/certificate-credentials)."""

from __future__ import annotations

import json

import pytest
from structlog.testing import capture_logs

from hybridsync.connectors.base import Done, Terminal
from hybridsync.connectors.entra import EntraTarget
from hybridsync.connectors.testing.graphfake import assertion
from hybridsync.connectors.testing.memory import MemorySource
from hybridsync.engine.core.config import Config, ScopeConfig, SourceConfig, StateConfig
from hybridsync.engine.core.values import ObjectKind as K
from hybridsync.engine.runtime.engine import Engine
from hybridsync.statestore import Store

from .conftest import entra_config

PASSWORD_ENV = "HYBRIDSYNC_TEST_CERT_PASSWORD"
PASSWORD = "cert-pass-Zq81!"
BASE = "DC=lab,DC=test"
STAFF = f"OU=Staff,{BASE}"


@pytest.fixture(scope="module")
def registered():
    return assertion.self_signed("hybridsync entra test", password=PASSWORD)


@pytest.fixture(scope="module")
def stranger():
    return assertion.self_signed("not registered")


def cert_file(tmp_path, key_cert, name="app.pem"):
    path = tmp_path / name
    path.write_text(key_cert[0] + key_cert[1])
    return str(path)


def cert_config(fake, path, **over):
    return entra_config(fake, client_secret_env=None, client_certificate_file=path,
                        client_certificate_password_env=PASSWORD_ENV, **over)


def key_lines(key_pem: str) -> list[str]:
    return [line for line in key_pem.splitlines() if line and not line.startswith("-----")]


def source_users(n: int) -> MemorySource:
    import base64

    from hybridsync.engine.core.values import SourceObject

    src = MemorySource()
    for i in range(1, n + 1):
        guid = base64.b64encode(i.to_bytes(16, "big")).decode()
        src.put(SourceObject(anchor=guid, object_guid=guid, kind=K.USER, dn=f"CN=u{i},{STAFF}", attributes={
            "userprincipalname": f"u{i}@contoso.onmicrosoft.com", "samaccountname": f"u{i}", "cn": f"u{i}",
            "displayname": f"User {i}", "useraccountcontrol": "512"}))
    return src


def test_a_sync_authenticates_with_an_encrypted_certificate_and_keeps_key_and_password_out(
        fake, tmp_path, monkeypatch, registered):
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    fake.configure(client_certificates=(registered[1],), client_secret="no-secret-works")
    target_cfg = cert_config(fake, cert_file(tmp_path, registered))
    config = Config(sources=(SourceConfig(name="corp", kind="memory", base_dn=BASE,
                                          scope=ScopeConfig(include_ous=(STAFF,))),),
                    targets=(target_cfg,), state=StateConfig(path=str(tmp_path / "state.db")))
    store = Store.open(str(tmp_path / "state.db"))
    entra = EntraTarget(target_cfg)
    engine = Engine(config, store=store, sources={"corp": source_users(3)}, targets={"entra": entra})
    with capture_logs() as logs:
        report = engine.run_once()
    assert report.exit_code() == 0, report.outcomes
    assert sorted(u["userPrincipalName"] for u in fake.backdoor.users()) == [
        f"u{i}@contoso.onmicrosoft.com" for i in (1, 2, 3)]
    engine.close()
    store.close()
    text = json.dumps(logs, default=str) + repr(report) + json.dumps(entra.describe(), default=str) + repr(entra)
    data = (tmp_path / "state.db").read_bytes()
    for secret in [PASSWORD, *key_lines(registered[0])[:3]]:
        assert secret not in text
        assert secret.encode() not in data


def test_a_plain_pem_key_without_password_works_too(fake, tmp_path):
    pair = assertion.self_signed("plain")
    fake.configure(client_certificates=(pair[1],))
    t = EntraTarget(entra_config(fake, client_secret_env=None, client_certificate_file=cert_file(tmp_path, pair)))
    assert isinstance(t.create(K.USER, "YW5jaG9yLTEAAAAAAAAAAA==", {"userPrincipalName": "a@x.onmicrosoft.com"}),
                      Done)
    t.close()


def test_an_unregistered_certificate_is_refused_naming_the_target(fake, tmp_path, monkeypatch, registered,
                                                                   stranger):
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    fake.configure(client_certificates=(registered[1],))
    t = EntraTarget(cert_config(fake, cert_file(tmp_path, stranger), name="entra-prod"))
    got = t.create(K.USER, "YW5jaG9yLTEAAAAAAAAAAA==", {"userPrincipalName": "a@x.onmicrosoft.com"})
    t.close()
    assert isinstance(got, Terminal) and got.target_level
    assert "'entra-prod'" in got.why and "invalid_client" in got.why and "AADSTS700027" in got.why
    assert fake.backdoor.users() == []


def test_a_wrong_password_is_a_clear_error_that_does_not_quote_it(fake, tmp_path, monkeypatch, registered):
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password-77")
    fake.configure(client_certificates=(registered[1],))
    path = cert_file(tmp_path, registered)
    t = EntraTarget(cert_config(fake, path))
    got = t.create(K.USER, "YW5jaG9yLTEAAAAAAAAAAA==", {"userPrincipalName": "a@x.onmicrosoft.com"})
    t.close()
    assert isinstance(got, Terminal) and got.target_level
    assert "'entra'" in got.why and path in got.why and "client_certificate_password_env" in got.why
    assert "not-the-password-77" not in repr(got) and PASSWORD not in repr(got)
    assert fake.backdoor.requests["POST"] == 0  # nothing reached Graph


def test_a_missing_certificate_file_names_the_target_and_the_file(fake, tmp_path):
    t = EntraTarget(entra_config(fake, client_secret_env=None, client_certificate_file=str(tmp_path / "nope.pem")))
    got = t.create(K.USER, "YW5jaG9yLTEAAAAAAAAAAA==", {"userPrincipalName": "a@x.onmicrosoft.com"})
    t.close()
    assert isinstance(got, Terminal) and "'entra'" in got.why and "nope.pem" in got.why

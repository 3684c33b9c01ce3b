"""The ``kind = "entra"`` target table (INTERFACE.md "Entra ID target") and Entra's defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybridsync.connectors.entra import EntraTarget
from hybridsync.connectors.entra.tokens import client_credential
from hybridsync.engine.config.loader import load_config_text
from hybridsync.engine.core.config import ENTRA_USER_MAPPING
from hybridsync.engine.core.errors import ConfigError

SOURCE = 'name = "corp"\nurls = ["ldaps://127.0.0.2:636"]\nbase_dn = "DC=lab,DC=test"\n'
ENTRA = """name = "entra"
kind = "entra"
tenant_id = "00000000-0000-0000-0000-000000000000"
client_id = "11111111-1111-1111-1111-111111111111"
"""


def load(target: str, tmp_path: Path):
    return load_config_text(f"[[source]]\n{SOURCE}\n[[target]]\n{target}\n", base_dir=tmp_path, file="t.toml")


def problems(target: str, tmp_path: Path) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        load(target, tmp_path)
    return {p.key: p.message for p in info.value.problems}


def test_the_interface_example_loads_with_entra_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("HYBRIDSYNC_ENTRA_SECRET", "s3cret")
    cfg = load(ENTRA + 'client_secret_env = "HYBRIDSYNC_ENTRA_SECRET"\nobject_types = ["user", "group"]\n'
               'password = "random"\n', tmp_path)
    t = cfg.targets[0]
    assert (t.kind, t.graph_url, t.authority_url, t.password_policy) == (
        "entra", "https://graph.microsoft.com/v1.0", "https://login.microsoftonline.com", "random")
    assert dict(t.mapping["user"]) == dict(ENTRA_USER_MAPPING)
    assert t.matching == ("userPrincipalName",)
    assert t.client_secret() == "s3cret" and "s3cret" not in repr(t)
    assert isinstance(EntraTarget(t), EntraTarget)


def test_mail_soft_match_is_opt_in(tmp_path, monkeypatch):
    monkeypatch.setenv("S", "x")
    cfg = load(ENTRA + 'client_secret_env = "S"\nmatching = ["userPrincipalName", "mail"]\n', tmp_path)
    assert cfg.targets[0].matching == ("userPrincipalName", "mail")


def test_exactly_one_credential_is_required(tmp_path):
    assert "exactly one credential" in problems(ENTRA, tmp_path)["target[0].client_secret_env"]


def test_plain_http_is_refused_except_on_loopback(tmp_path, monkeypatch):
    monkeypatch.setenv("S", "x")
    got = problems(ENTRA + 'client_secret_env = "S"\ngraph_url = "http://graph.example/v1.0"\n', tmp_path)
    assert "https" in got["target[0].graph_url"]
    ok = load(ENTRA + 'client_secret_env = "S"\nauthority_url = "http://127.0.0.1:9/"\n', tmp_path)
    assert ok.targets[0].authority_url == "http://127.0.0.1:9"


def test_password_policy_choices(tmp_path, monkeypatch):
    monkeypatch.setenv("S", "x")
    assert "random" in problems(ENTRA + 'client_secret_env = "S"\npassword = "P@ss"\n', tmp_path)["target[0].password"]


def test_scim_keys_are_not_entra_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("S", "x")
    assert "target[0].url" in problems(ENTRA + 'client_secret_env = "S"\nurl = "https://x"\n', tmp_path)


def test_a_pem_certificate_becomes_msal_credential_with_its_certificate(tmp_path):
    """No SHA-1 ``thumbprint``: MSAL computes the SHA-256 one from the certificate and signs with
    PS256 + x5t#S256, as the certificate-credentials page now asks."""
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hybridsync")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "app.pem").write_bytes(pem)
    cfg = load(ENTRA + 'client_certificate_file = "app.pem"\n', tmp_path).targets[0]
    cred = client_credential(cfg)
    assert "thumbprint" not in cred
    assert cred["public_certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert cred["private_key"].startswith("-----BEGIN PRIVATE KEY-----")

"""Certificate credentials: the app proves itself with a JWT signed by a registered certificate's key.

https://learn.microsoft.com/entra/identity-platform/certificate-credentials ("Microsoft identity
platform application authentication certificate credentials"): the token request carries
``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`` and
``client_assertion`` = a JWT whose

- header: ``alg`` PS256 with ``x5t#S256`` (base64url SHA-256 thumbprint of the certificate's DER
  encoding) -- the current page; earlier versions of the page said ``alg`` RS256 with ``x5t`` (the
  SHA-1 thumbprint), which the fake accepts too;
- claims: ``aud`` = the token endpoint (``https://login.microsoftonline.com/{tenantId}/oauth2/v2.0/token``),
  ``iss`` = ``sub`` = the client id, ``exp`` ("must not be accepted for processing" on or after
  it), ``jti``, optional ``nbf`` / ``iat``;
- signature: by the private key of a certificate registered on the app.

Refusals are ``invalid_client`` 401 (the client-credentials page: a bad credential); the AADSTS
numbers below are the ones commonly reported for each case (700027 signature / unknown
certificate, 700024 time range, 700021 malformed assertion), the rest of each message the fake's.
The fake serves plain http on loopback while MSAL accepts only https authorities (the connector's
tokens.py maps one to the other), so ``aud`` is compared without its scheme.
"""

from __future__ import annotations

import base64
from typing import Any

import attrs
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ALG_THUMB = {"PS256": ("x5t#S256", hashes.SHA256()), "RS256": ("x5t", hashes.SHA1())}  # noqa: S303 - x5t is SHA-1


@attrs.frozen
class Refused(Exception):
    error: str
    description: str


def thumbprint(cert: x509.Certificate, algorithm: hashes.HashAlgorithm) -> str:
    digest = hashes.Hash(algorithm)
    digest.update(cert.public_bytes(Encoding.DER))
    return base64.urlsafe_b64encode(digest.finalize()).decode().rstrip("=")


def _strip_scheme(url: str) -> str:
    return url.split("://", 1)[-1].rstrip("/").lower()


def verify(assertion: str, *, certificates: tuple[str, ...], client_id: str, audience: str, now: float) -> None:
    """Raise ``Refused`` unless ``assertion`` authenticates ``client_id`` (see the module doc)."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        raise Refused("invalid_client", "AADSTS700021: Client assertion is not a well-formed JWT.") from None
    alg = header.get("alg")
    if alg not in _ALG_THUMB:
        raise Refused("invalid_client", f"AADSTS700021: Client assertion algorithm {alg!r} is not supported; "
                                        "use PS256 (x5t#S256) or RS256 (x5t).")
    name, algorithm = _ALG_THUMB[alg]
    wanted = header.get(name)
    if not isinstance(wanted, str):
        raise Refused("invalid_client", f"AADSTS700021: Client assertion header has no {name}.")
    cert = None
    for pem in certificates:
        candidate = x509.load_pem_x509_certificate(pem.encode())
        if thumbprint(candidate, algorithm) == wanted.rstrip("="):
            cert = candidate
            break
    if cert is None:
        raise Refused("invalid_client", f"AADSTS700027: The certificate with identifier used to sign the client "
                                        f"assertion is not registered on application. [{name} {wanted}]")
    try:
        claims: dict[str, Any] = jwt.decode(assertion, cert.public_key(), algorithms=[alg],  # type: ignore[arg-type]
                                            options={"verify_aud": False, "verify_exp": False,
                                                     "verify_nbf": False, "verify_iat": False})
    except jwt.PyJWTError:
        raise Refused("invalid_client", "AADSTS700027: Client assertion failed signature validation.") from None
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise Refused("invalid_client", "AADSTS700023: Client assertion iss and sub must both be the "
                                        "application's client id.")
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    if not any(isinstance(a, str) and _strip_scheme(a) == _strip_scheme(audience) for a in auds):
        raise Refused("invalid_client", f"AADSTS700212: Client assertion audience {aud!r} is not the token "
                                        "endpoint.")
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not isinstance(exp, (int, float)) or now >= exp or (isinstance(nbf, (int, float)) and now < nbf):
        raise Refused("invalid_client", "AADSTS700024: Client assertion is not within its valid time range.")


def self_signed(common_name: str = "hybridsync test", *, password: str | None = None,
                days: int = 30) -> tuple[str, str]:
    """(private key PEM -- encrypted with ``password`` when given --, certificate PEM): a fresh
    RSA 2048 self-signed certificate, for registering on the fake (``Knobs.client_certificates``)."""
    import datetime as _dt

    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import (
        BestAvailableEncryption,
        NoEncryption,
        PrivateFormat,
    )
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _dt.datetime.now(_dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - _dt.timedelta(minutes=5))
            .not_valid_after(now + _dt.timedelta(days=days)).sign(key, hashes.SHA256()))
    encryption = BestAvailableEncryption(password.encode()) if password else NoEncryption()
    key_pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, encryption).decode()
    return key_pem, cert.public_bytes(Encoding.PEM).decode()

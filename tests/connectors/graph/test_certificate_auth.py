"""The fake token endpoint's certificate credentials (client_assertion, jwt-bearer), per
https://learn.microsoft.com/entra/identity-platform/certificate-credentials: signature by a
registered certificate's key, x5t#S256 / x5t thumbprint, aud = the token endpoint, iss = sub =
client id, exp."""

from __future__ import annotations

import time
import uuid

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import hashes

from hybridsync.connectors.testing.graphfake import assertion

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


@pytest.fixture(scope="module")
def pair():
    return assertion.self_signed("registered")


@pytest.fixture(scope="module")
def other():
    return assertion.self_signed("not registered")


def make(fake, key_cert, *, alg="PS256", aud=None, iss=None, sub=None, exp=None, thumb_of=None, drop=()):
    key, cert = key_cert
    from cryptography import x509

    c = x509.load_pem_x509_certificate((thumb_of or key_cert)[1].encode())
    header = ({"x5t#S256": assertion.thumbprint(c, hashes.SHA256())} if alg == "PS256"
              else {"x5t": assertion.thumbprint(c, hashes.SHA1())})
    now = time.time()
    claims = {"aud": aud or fake.token_url, "iss": iss or fake.knobs.client_id, "sub": sub or fake.knobs.client_id,
              "exp": exp if exp is not None else now + 600, "iat": now, "jti": str(uuid.uuid4())}
    for name in drop:
        claims.pop(name)
    return jwt.encode(claims, key, algorithm=alg, headers=header)


def post(fake, token: str, **over):
    form = {"client_id": fake.knobs.client_id, "scope": GRAPH_SCOPE, "grant_type": "client_credentials",
            "client_assertion_type": assertion.JWT_BEARER, "client_assertion": token, **over}
    return httpx.post(fake.token_url, data=form, timeout=10)


def test_a_ps256_assertion_by_a_registered_certificate_gets_a_token_that_graph_accepts(fake, pair):
    fake.configure(client_certificates=(pair[1],))
    r = post(fake, make(fake, pair))
    assert r.status_code == 200, r.text
    got = httpx.get(f"{fake.graph_url}/users", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert got.status_code == 200


def test_the_older_rs256_with_sha1_x5t_is_accepted_too(fake, pair):
    fake.configure(client_certificates=(pair[1],))
    assert post(fake, make(fake, pair, alg="RS256")).status_code == 200


@pytest.mark.parametrize("case, code", [
    ("unregistered certificate", "AADSTS700027"),
    ("signed by another key", "AADSTS700027"),
    ("wrong audience", "AADSTS700212"),
    ("iss is not the client", "AADSTS700023"),
    ("sub is not the client", "AADSTS700023"),
    ("expired", "AADSTS700024"),
    ("no exp", "AADSTS700024"),
    ("not a JWT", "AADSTS700021"),
])
def test_each_bad_assertion_is_invalid_client_401(fake, pair, other, case, code):
    fake.configure(client_certificates=(pair[1],))
    token = {
        "unregistered certificate": lambda: make(fake, other),
        "signed by another key": lambda: make(fake, other, thumb_of=pair),  # pair's thumbprint, other's key
        "wrong audience": lambda: make(fake, pair, aud="https://login.microsoftonline.com/x/oauth2/v2.0/token"),
        "iss is not the client": lambda: make(fake, pair, iss="someone-else"),
        "sub is not the client": lambda: make(fake, pair, sub="someone-else"),
        "expired": lambda: make(fake, pair, exp=time.time() - 5),
        "no exp": lambda: make(fake, pair, drop=("exp",)),
        "not a JWT": lambda: "not.a.jwt",
    }[case]()
    r = post(fake, token)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text
    assert r.json()["error_description"].startswith(code)


def test_an_assertion_expires_on_the_fakes_clock(fake, pair):
    fake.configure(client_certificates=(pair[1],))
    token = make(fake, pair, exp=time.time() + 60)
    assert post(fake, token).status_code == 200
    fake.clock.advance(61)
    assert post(fake, token).json()["error_description"].startswith("AADSTS700024")


def test_a_wrong_assertion_type_is_invalid_request(fake, pair):
    fake.configure(client_certificates=(pair[1],))
    r = post(fake, make(fake, pair), client_assertion_type="urn:something-else")
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"

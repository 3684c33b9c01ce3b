"""Token endpoint (client credentials) and the bearer token Graph requires."""

import httpx

from hybridsync.connectors.testing.graphfake import GraphFake

from .conftest import error_code


def _form(fake: GraphFake, **over: str) -> dict[str, str]:
    form = {"client_id": fake.knobs.client_id, "client_secret": fake.knobs.client_secret,
            "scope": "https://graph.microsoft.com/.default", "grant_type": "client_credentials"}
    form.update(over)
    return form


def test_client_credentials_grant_issues_a_bearer_token_graph_accepts(fake):
    r = httpx.post(fake.token_url, data=_form(fake))
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    users = httpx.get(f"{fake.graph_url}/users", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert users.status_code == 200 and users.json()["value"] == []


def test_wrong_client_secret_is_invalid_client_401(fake):
    r = httpx.post(fake.token_url, data=_form(fake, client_secret="nope"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


def test_client_credentials_scope_must_be_the_default_scope(fake):
    r = httpx.post(fake.token_url, data=_form(fake, scope="User.ReadWrite.All"))
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


def test_only_the_client_credentials_grant_is_supported(fake):
    r = httpx.post(fake.token_url, data=_form(fake, grant_type="password"))
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


def test_unknown_tenant_is_refused(fake):
    r = httpx.post(fake.token_url.replace(fake.knobs.tenant, "someone-else"), data=_form(fake))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_graph_without_bearer_token_is_401_invalid_authentication_token(fake):
    r = httpx.get(f"{fake.graph_url}/users")
    assert r.status_code == 401 and error_code(r) == "InvalidAuthenticationToken"
    r = httpx.get(f"{fake.graph_url}/users", headers={"Authorization": "Bearer forged"})
    assert r.status_code == 401 and error_code(r) == "InvalidAuthenticationToken"


def test_expired_token_is_401(fake):
    token = fake.token()
    fake.clock.advance(fake.knobs.token_lifetime + 1)
    r = httpx.get(f"{fake.graph_url}/users", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]


def test_unknown_segment_is_400_bad_request(graph):
    r = graph.get("/applicationz")
    assert r.status_code == 400 and error_code(r) == "BadRequest"


def test_fake_runs_as_a_context_manager_on_loopback():
    with GraphFake() as f:
        assert f.graph_url.startswith("http://127.0.0.1:") and f.graph_url.endswith("/v1.0")
    assert f.graph_url == ""

"""A fake Microsoft identity platform token endpoint and the bearer check Graph applies.

Client credentials grant, https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow:
``POST /{tenant}/oauth2/v2.0/token`` with form fields ``client_id``, ``scope`` (for Graph:
``https://graph.microsoft.com/.default``), ``client_secret``, ``grant_type=client_credentials``;
success is ``{"token_type": "Bearer", "expires_in": ..., "access_token": ...}``; errors are
``{"error": ..., "error_description": ...}`` (``invalid_client`` 401, ``unsupported_grant_type``
/ ``invalid_scope`` / ``invalid_request`` 400). Graph answers a missing, malformed or expired
token with 401 and code ``InvalidAuthenticationToken`` (https://learn.microsoft.com/graph/errors).
Instead of ``client_secret`` the app may send ``client_assertion_type`` (jwt-bearer) and
``client_assertion``, a JWT signed with a registered certificate's key (assertion.py,
https://learn.microsoft.com/entra/identity-platform/certificate-credentials).
"""

from __future__ import annotations

import secrets
import threading
from urllib.parse import parse_qs

from hybridsync.connectors.testing.graphfake import assertion
from hybridsync.connectors.testing.graphfake.errors import GraphError, Reply
from hybridsync.connectors.testing.graphfake.state import Clock, Knobs

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


class Tokens:
    def __init__(self, clock: Clock):
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}

    def issue(self, lifetime: float) -> str:
        token = "fake." + secrets.token_urlsafe(24)
        with self._lock:
            self._expiry[token] = self._clock.now() + lifetime
        return token

    def token_endpoint(self, knobs: Knobs, tenant: str, form_body: bytes, endpoint: str = "") -> Reply:
        """``endpoint``: this token endpoint's URL (a client assertion's ``aud``)."""
        form = {k: v[0] for k, v in parse_qs(form_body.decode("utf-8", "replace")).items()}

        def oauth_error(status: int, error: str, description: str) -> Reply:
            return Reply(status, {"error": error, "error_description": description})

        if tenant != knobs.tenant:
            return oauth_error(400, "invalid_request", f"AADSTS90002: Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return oauth_error(400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.")
        if form.get("scope") != GRAPH_SCOPE:
            return oauth_error(400, "invalid_scope",
                               "AADSTS1002012: The provided value for scope is not valid. Client credential flows "
                               "must have a scope value with /.default suffixed to the resource identifier.")
        if form.get("client_id") != knobs.client_id:
            return oauth_error(400, "unauthorized_client", f"AADSTS700016: Application with identifier "
                                                           f"'{form.get('client_id')}' was not found in the directory.")
        if "client_assertion" in form or "client_assertion_type" in form:
            if form.get("client_assertion_type") != assertion.JWT_BEARER:
                return oauth_error(400, "invalid_request", "AADSTS50027: client_assertion_type must be "
                                                           f"{assertion.JWT_BEARER}.")
            try:
                assertion.verify(form.get("client_assertion", ""), certificates=knobs.client_certificates,
                                 client_id=knobs.client_id, audience=endpoint, now=self._clock.wall())
            except assertion.Refused as refused:
                return oauth_error(401, refused.error, refused.description)
        elif form.get("client_secret") != knobs.client_secret:
            return oauth_error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        token = self.issue(knobs.token_lifetime)
        return Reply(200, {"token_type": "Bearer", "expires_in": int(knobs.token_lifetime),
                           "ext_expires_in": int(knobs.token_lifetime), "access_token": token})

    def check(self, authorization: str | None) -> None:
        if not authorization or not authorization.startswith("Bearer "):
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        token = authorization[len("Bearer "):].strip()
        with self._lock:
            expiry = self._expiry.get(token)
        if expiry is None:
            raise GraphError(401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed.")
        if self._clock.now() >= expiry:
            raise GraphError(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")

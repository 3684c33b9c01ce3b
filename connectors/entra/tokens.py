"""App-only tokens for Graph with MSAL (client credentials), over the connector's own httpx client.

https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow: the app
posts its credential to ``{authority}/{tenant}/oauth2/v2.0/token`` with scope
``https://graph.microsoft.com/.default``. MSAL caches the token and renews it before expiry.

MSAL does its HTTP through ``_MsalHttp`` (the ``http_client`` MSAL accepts): the same
``httpx.Client`` as Graph calls, so TLS settings, ``ca_file`` and the test kit's fault transport
apply to token requests too. Two adaptations, both stated here because they are not MSAL's own
behaviour:

- OIDC discovery (``{authority}/{tenant}/v2.0/.well-known/openid-configuration``) is answered
  from Entra's documented endpoint layout
  (https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc#find-your-apps-openid-configuration-document-uri)
  instead of fetched, and instance discovery is off (``authority_url`` is the operator's choice,
  e.g. a national cloud). One request fewer, and it lets a loopback fake stand in for the service.
- MSAL accepts only ``https`` authorities; a plain-``http`` loopback ``authority_url`` (tests,
  ``hybridsync lab``; the config loader refuses plain http elsewhere) is given to MSAL as https
  and mapped back here.

The secret and the token stay inside MSAL and the Authorization header: never in a result,
repr or log line.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx

from hybridsync.engine.core.config import TargetConfig
from hybridsync.engine.core.errors import TargetError

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


class TokenError(TargetError):
    """The identity platform refused or could not be reached. ``status`` is 401 for a refused
    credential (the whole target fails), None for a transport failure (retriable)."""

    def __init__(self, message: str, status: int | None):
        super().__init__(message)
        self.status = status


class _MsalResponse:
    def __init__(self, status_code: int, text: str, headers: Any):
        self.status_code = status_code
        self.text = text
        self.headers = headers

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise TokenError(f"identity platform answered {self.status_code}", None)


class _MsalHttp:
    """The ``http_client`` MSAL calls (``get``/``post`` returning status_code/text/headers)."""

    def __init__(self, client: httpx.Client, authority: str, msal_authority: str, tenant: str):
        self._client = client
        self._authority = authority
        self._msal_authority = msal_authority
        self._tenant = tenant

    def _real(self, url: str) -> str:
        return self._authority + url[len(self._msal_authority):] if url.startswith(self._msal_authority) else url

    def get(self, url: str, params: Any = None, headers: Any = None, **_: Any) -> _MsalResponse:
        if url.endswith("/.well-known/openid-configuration"):
            base = f"{self._msal_authority}/{self._tenant}"
            doc = {"token_endpoint": f"{base}/oauth2/v2.0/token",
                   "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                   "issuer": f"{self._msal_authority}/{self._tenant}/v2.0"}
            return _MsalResponse(200, json.dumps(doc), {})
        r = self._client.get(self._real(url), params=params, headers=headers)
        return _MsalResponse(r.status_code, r.text, r.headers)

    def post(self, url: str, params: Any = None, data: Any = None, headers: Any = None, **_: Any) -> _MsalResponse:
        r = self._client.post(self._real(url), params=params, data=data, headers=headers)
        return _MsalResponse(r.status_code, r.text, r.headers)

    def close(self) -> None:
        pass


def client_credential(config: TargetConfig) -> Any:
    """What MSAL takes as ``client_credential``: the secret, or a certificate description."""
    if config.client_certificate_file:
        path = config.client_certificate_file
        password = config.client_certificate_password()
        if path.lower().endswith((".pfx", ".p12")):
            cred: dict[str, Any] = {"private_key_pfx_path": path}
            if password:
                cred["passphrase"] = password
            return cred
        pem = Path(path).read_bytes()
        from cryptography import x509  # msal's own dependency

        cert = x509.load_pem_x509_certificate(pem)
        thumb = hashlib.sha1(cert.public_bytes(_pem_encoding())).hexdigest()  # noqa: S324 - x5t is SHA-1
        cred = {"private_key": pem.decode(), "thumbprint": thumb, "public_certificate": _cert_pem(pem)}
        if password:
            cred["passphrase"] = password
        return cred
    return config.client_secret()


def _pem_encoding() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


def _cert_pem(pem: bytes) -> str:
    text = pem.decode()
    start = text.find("-----BEGIN CERTIFICATE-----")
    end = text.find("-----END CERTIFICATE-----")
    return text[start:end + len("-----END CERTIFICATE-----")] if start >= 0 and end >= 0 else text


class Tokens:
    def __init__(self, config: TargetConfig, client: httpx.Client):
        self._config = config
        self._client = client
        self._app: Any = None
        self._last: str | None = None

    def __repr__(self) -> str:
        return f"Tokens(tenant={self._config.tenant_id!r})"

    def _build(self) -> Any:
        import msal

        authority = self._config.authority_url.rstrip("/")
        msal_authority = "https://" + authority.split("://", 1)[1] if authority.startswith("http://") else authority
        tenant = self._config.tenant_id or "organizations"
        http = _MsalHttp(self._client, authority, msal_authority, tenant)
        return msal.ConfidentialClientApplication(
            self._config.client_id, client_credential=client_credential(self._config),
            authority=f"{msal_authority}/{tenant}", http_client=http, instance_discovery=False,
            validate_authority=False)

    def token(self, *, renew: bool = False) -> str:
        """A bearer token (MSAL's cache first; ``renew`` after a 401 forces a new one)."""
        try:
            if self._app is None:
                self._app = self._build()
            if renew:
                for account in self._app.token_cache.find(self._app.token_cache.CredentialType.ACCESS_TOKEN):
                    self._app.token_cache.remove_at(account)
            result = self._app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
        except (httpx.RequestError, TokenError) as exc:
            raise TokenError(f"token endpoint unreachable ({type(exc).__name__})", None) from None
        except ValueError as exc:  # MSAL: bad authority or discovery
            raise TokenError(f"token request failed: {type(exc).__name__}", 401) from None
        if "access_token" not in result:
            code = result.get("error", "unknown_error")
            raise TokenError(f"token refused: {code}", 401)
        self._last = result["access_token"]
        return str(result["access_token"])

    def secrets(self) -> list[str]:
        out = [self._last] if self._last else []
        try:
            secret = self._config.client_secret()
        except Exception:
            secret = None
        return out + ([secret] if secret else [])

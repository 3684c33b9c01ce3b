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

    def __init__(self, client: httpx.Client, authority: str, msal_authority: str, tenant: str,
                 timeout: float = 30.0, cap: int = 4 * 1024 * 1024):
        self._client = client
        self._timeout = timeout
        self._cap = cap
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
        return self._send("GET", url, params=params, headers=headers)

    def post(self, url: str, params: Any = None, data: Any = None, headers: Any = None, **_: Any) -> _MsalResponse:
        if isinstance(data, dict):  # MSAL hands the client assertion as bytes (made for requests);
            # httpx would form-encode them as "b'...'": a JWT the identity platform cannot parse
            data = {k: v.decode("ascii") if isinstance(v, bytes) else v for k, v in data.items()}
        return self._send("POST", url, params=params, data=data, headers=headers)

    def _send(self, method: str, url: str, **kwargs: Any) -> _MsalResponse:
        from hybridsync.connectors.entra import bounded  # the same deadline and cap as Graph calls

        status, headers, raw = bounded.exchange(self._client, method, self._real(url), timeout=self._timeout,
                                                cap=self._cap, **kwargs)
        return _MsalResponse(status, raw.decode("utf-8", "replace"), headers)

    def close(self) -> None:
        pass


def client_credential(config: TargetConfig) -> Any:
    """What MSAL takes as ``client_credential``: the secret, or a certificate description.

    Certificate credentials (https://learn.microsoft.com/entra/identity-platform/certificate-credentials):
    MSAL signs a client assertion (PS256, ``x5t#S256`` computed from the certificate we hand it,
    ``aud`` = the token endpoint, ``iss`` = ``sub`` = the client id). ``client_certificate_file``
    is a PEM file holding the private key (encrypted or not) and the certificate, or a .pfx/.p12.
    The key is loaded here first so that a missing file or a wrong password is a clear error
    naming the target -- never quoting the key or the password."""
    if config.client_certificate_file:
        path = config.client_certificate_file
        password = config.client_certificate_password()
        where = f"target {config.name!r}: client_certificate_file {path!r}"
        if path.lower().endswith((".pfx", ".p12")):
            _check_pfx(Path(path), password, where)
            cred: dict[str, Any] = {"private_key_pfx_path": path}
            if password:
                cred["passphrase"] = password
            return cred
        key_pem, cert_pem, encrypted = _pem_parts(Path(path), password, where)
        cred = {"private_key": key_pem, "public_certificate": cert_pem}  # SHA-256 thumbprint: PS256
        if password and encrypted:
            cred["passphrase"] = password
        return cred
    return config.client_secret()


def _read(path: Path, where: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TokenError(f"{where}: cannot be read ({exc.strerror or type(exc).__name__})", 401) from None


def _pem_parts(path: Path, password: str | None, where: str) -> tuple[str, str, bool]:
    from cryptography import x509  # msal's own dependency
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    text = _read(path, where).decode("ascii", "replace")
    cert = _block(text, "CERTIFICATE")
    key = next((b for b in (_block(text, k) for k in ("ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY", "PRIVATE KEY"))
                if b), None)
    if cert is None or key is None:
        raise TokenError(f"{where}: needs both the private key and the certificate in PEM", 401)
    try:
        x509.load_pem_x509_certificate(cert.encode())
    except ValueError:
        raise TokenError(f"{where}: the certificate is not a valid PEM certificate", 401) from None
    encrypted = "ENCRYPTED" in key.split("\n", 2)[0] or "Proc-Type: 4,ENCRYPTED" in key
    try:
        load_pem_private_key(key.encode(), password.encode() if password and encrypted else None)
    except (ValueError, TypeError):
        hint = ("wrong client_certificate_password_env value?" if password
                else "the key is encrypted: set client_certificate_password_env")
        raise TokenError(f"{where}: the private key cannot be loaded ({hint})", 401) from None
    return key, cert, encrypted


def _check_pfx(path: Path, password: str | None, where: str) -> None:
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        pkcs12.load_key_and_certificates(_read(path, where), password.encode() if password else None)
    except (ValueError, TypeError):
        raise TokenError(f"{where}: the PKCS#12 file cannot be opened (wrong client_certificate_password_env?)",
                         401) from None


def _block(text: str, label: str) -> str | None:
    begin, end = f"-----BEGIN {label}-----", f"-----END {label}-----"
    start = text.find(begin)
    stop = text.find(end, start)
    return text[start:stop + len(end)] + "\n" if start >= 0 and stop >= 0 else None


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
        http = _MsalHttp(self._client, authority, msal_authority, tenant, self._config.timeout,
                         self._config.max_response_bytes)
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
        except TokenError as exc:
            if exc.status is not None:
                raise  # the credential itself is unusable (client_credential): said as it is
            raise TokenError(f"target {self._config.name!r}: token endpoint unreachable", None) from None
        except httpx.RequestError as exc:
            raise TokenError(f"target {self._config.name!r}: token endpoint unreachable ({type(exc).__name__})",
                             None) from None
        except ValueError as exc:  # MSAL: bad authority or discovery
            raise TokenError(f"target {self._config.name!r}: token request failed: {type(exc).__name__}",
                             401) from None
        if "access_token" not in result:
            code = result.get("error", "unknown_error")
            said = str(result.get("error_description") or "").split("\r", 1)[0].split("\n", 1)[0][:300]
            raise TokenError(f"target {self._config.name!r}: token refused by the identity platform: {code}"
                             + (f" ({said})" if said else ""), 401)
        self._last = result["access_token"]
        return str(result["access_token"])

    def secrets(self) -> list[str]:
        out = [self._last] if self._last else []
        for read in (self._config.client_secret, self._config.client_certificate_password):
            try:
                secret = read()
            except Exception:
                secret = None
            if secret:
                out.append(secret)
        return out

"""Classify ldap3 exceptions once: retriable (the DC is named) or terminal (the missing right named).

``classify(exc, dc=..., operation=...)`` returns an ``engine.core.errors.SourceUnavailable`` or
``engine.core.errors.SourceRefused`` ready to raise. Messages never carry a password: they are built from
the exception's class, the server's diagnostic text and names we choose, never from a
connection object's repr.
"""

from __future__ import annotations

import ssl

from ldap3.core import exceptions as lx

from hybridsync.engine.core.errors import HybridsyncError, Permanent, Retriable, SourceRefused, SourceUnavailable

STAGE = "ldap_read"

_RETRIABLE_RESULTS = (
    lx.LDAPBusyResult,
    lx.LDAPUnavailableResult,
    lx.LDAPTimeLimitExceededResult,
    lx.LDAPAdminLimitExceededResult,
    lx.LDAPSizeLimitExceededResult,
    lx.LDAPOperationsErrorResult,
    lx.LDAPOtherResult,
)
_RETRIABLE_ERRORS = (
    lx.LDAPCommunicationError,
    lx.LDAPResponseTimeoutError,
    lx.LDAPMaximumRetriesError,
    lx.LDAPServerPoolExhaustedError,
    lx.LDAPStartTLSError,
    TimeoutError,
    ConnectionError,
)

# What each operation needs, for the "which right is missing" message.
RIGHTS = {
    "dirsync": (
        "DirSync needs the 'Replicating Directory Changes' right on the naming context; "
        "grant it, or set dirsync_object_security = true, or use delta = \"usn\""
    ),
    "dirsync-object-security": "DirSync with OBJECT_SECURITY needs read access to the objects it returns",
    "bind": "the bind account is refused",
    "read": "the bind account needs read access to the base DN and its objects",
    "rootdse": "the bind account cannot read the rootDSE / the DC's nTDSDSA object",
}


def _detail(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())[:300]


def is_certificate_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        text = str(seen)
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in text:
            return True
        if "certificate" in text and "match" in text:  # ldap3's own name check (valid_names)
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def classify(exc: BaseException, *, dc: str, operation: str = "read", who: str | None = None) -> HybridsyncError:
    """An ldap3 (or socket) exception -> Retriable or Permanent naming the DC and the right."""
    if isinstance(exc, (Retriable, Permanent)):
        return exc
    detail = _detail(exc)
    if is_certificate_error(exc):
        why = "name mismatch" if "match" in detail and "VERIFY_FAILED" not in detail else "not trusted"
        return SourceRefused(
            f"DC {dc}: TLS certificate {why} ({detail[:120]}...); set ca_file and tls_server_name",
            where=dc,
            stage=STAGE,
        )
    if isinstance(exc, lx.LDAPInvalidCredentialsResult):
        return SourceRefused(f"DC {dc}: bind as {who or 'the configured account'} refused: invalid credentials", where=dc, stage=STAGE)
    if isinstance(exc, (lx.LDAPInsufficientAccessRightsResult, lx.LDAPAuthorizationDeniedResult)):
        need = RIGHTS.get(operation, RIGHTS["read"])
        return SourceRefused(f"DC {dc}: {operation} refused: insufficientAccessRights ({need})", where=dc, stage=STAGE)
    if isinstance(exc, (lx.LDAPStrongerAuthRequiredResult, lx.LDAPConfidentialityRequiredResult)):
        return SourceRefused(f"DC {dc}: {operation} refused: the DC requires TLS for a simple bind ({detail})", where=dc, stage=STAGE)
    if isinstance(exc, lx.LDAPNoSuchObjectResult):
        return SourceRefused(f"DC {dc}: {operation}: base DN not found ({detail})", where=dc, stage=STAGE)
    if isinstance(exc, lx.LDAPReferralResult):
        return SourceRefused(f"DC {dc}: {operation}: referral (the DC does not hold the base DN)", where=dc, stage=STAGE)
    if isinstance(exc, _RETRIABLE_RESULTS + _RETRIABLE_ERRORS) or isinstance(exc, OSError):
        return SourceUnavailable(f"DC {dc}: {operation} failed: {type(exc).__name__}: {detail}", where=dc, stage=STAGE)
    if isinstance(exc, lx.LDAPOperationResult):
        return SourceRefused(f"DC {dc}: {operation} failed: {detail}", where=dc, stage=STAGE)
    return SourceUnavailable(f"DC {dc}: {operation} failed: {type(exc).__name__}: {detail}", where=dc, stage=STAGE)

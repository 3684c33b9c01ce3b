"""Connections to the DCs: TLS, bind, failover over ``urls`` in order, and DC identity.

The password is read from ``SourceConfig.password()`` only at bind time and dropped from the
ldap3 connection object right after the bind.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterable
from urllib.parse import urlparse

import ldap3
import structlog
from ldap3.core.exceptions import LDAPException

from hybridsync.connectors.ad import errors, normalize
from hybridsync.engine.core.config import SourceConfig
from hybridsync.engine.core.errors import Permanent, Retriable, SourceRefused, SourceUnavailable
from hybridsync.engine.core.values import DcIdentity

log = structlog.get_logger(__name__)

ROOT_DSE_ATTRIBUTES = [
    "dsServiceName",
    "highestCommittedUSN",
    "defaultNamingContext",
    "schemaNamingContext",
    "dnsHostName",
]
BINARY_SYNTAXES = {"2.5.5.10", "2.5.5.17"}  # octet string, SID


def server_for(config: SourceConfig, url: str) -> ldap3.Server:
    parsed = urlparse(url if "://" in url else f"ldaps://{url}")
    scheme = (parsed.scheme or "ldaps").lower()
    if scheme not in ("ldap", "ldaps"):
        raise SourceRefused(f"source {config.name}: url {url!r} is not ldap:// or ldaps://", where=url, stage=errors.STAGE)
    tls = ldap3.Tls(
        validate=ssl.CERT_REQUIRED if config.tls_verify else ssl.CERT_NONE,
        ca_certs_file=config.ca_file or None,
        valid_names=[config.tls_server_name] if config.tls_server_name else None,
    )
    use_ssl = scheme == "ldaps"
    port = parsed.port or (636 if use_ssl else 389)
    return ldap3.Server(
        parsed.hostname or "",
        port=port,
        use_ssl=use_ssl,
        tls=tls,
        get_info=ldap3.NONE,
        connect_timeout=config.timeout,
    )


def open_connection(config: SourceConfig, url: str, *, strategy: str = ldap3.SYNC) -> ldap3.Connection:
    """A bound connection to ``url`` (ldaps://, or ldap:// upgraded with StartTLS)."""
    server = server_for(config, url)
    kwargs = {}
    if strategy == ldap3.SYNC:
        kwargs["receive_timeout"] = max(1, int(round(config.timeout)))
    conn = ldap3.Connection(
        server,
        user=config.bind_dn,
        password=None,
        authentication=ldap3.SIMPLE if config.bind_dn else ldap3.ANONYMOUS,
        client_strategy=strategy,
        raise_exceptions=True,
        auto_range=False,
        return_empty_attributes=False,
        read_only=True,
        auto_referrals=False,
        check_names=False,  # we read raw_attributes only: skip ldap3's schema-less formatting
        **kwargs,
    )
    try:
        conn.open(read_server_info=False)
        if not server.ssl:
            conn.start_tls(read_server_info=False)
        conn.password = config.password()  # the only moment the secret is read
        try:
            conn.bind(read_server_info=False)
        finally:
            conn.password = None
        if strategy == ldap3.SYNC:
            decode_raw_only(conn)
    except BaseException:
        close_quietly(conn)
        raise
    return conn


def decode_raw_only(conn: ldap3.Connection) -> None:
    """Make THIS connection decode search entries to ``raw_attributes`` only.

    The source reads nothing else; ldap3 would also build a decoded ``attributes`` copy and
    case-insensitive dicts for every entry (about half its client time and memory per entry).
    The override is an instance attribute of this connection's strategy: other ldap3
    connections in the process are untouched. Entries with controls fall back to ldap3.
    """
    strategy = conn.strategy
    original = strategy.decode_response_fast

    def decode(ldap_message):  # noqa: ANN001 - ldap3's fast-decoder message
        if ldap_message["protocolOp"] != 4 or ldap_message["controls"]:
            return original(ldap_message)
        payload = ldap_message["payload"]
        raw_dn = bytes(payload[0][3])
        try:
            dn = raw_dn.decode("utf-8")
            raw = {}
            for attribute in payload[1][3]:
                vals = attribute[3][1][3]
                raw[bytes(attribute[3][0][3]).decode("utf-8")] = [bytes(v[3]) for v in vals] if vals else None
        except UnicodeDecodeError:
            return original(ldap_message)
        return {"raw_dn": raw_dn, "dn": dn, "raw_attributes": raw, "attributes": {}, "type": "searchResEntry"}

    strategy.decode_response_fast = decode


def close_quietly(conn: ldap3.Connection | None) -> None:
    if conn is None:
        return
    try:
        conn.unbind()
    except Exception:  # noqa: BLE001 - closing a broken connection
        pass


def first_value(entry: dict, name: str) -> bytes | None:
    for key, values in entry.get("raw_attributes", {}).items():
        if key.lower() == name.lower() and values:
            return values[0]
    return None


def entries(conn: ldap3.Connection) -> list[dict]:
    return [e for e in (conn.response or ()) if e.get("type") == "searchResEntry"]


class RootDse:
    """What a DC says about itself (read at the start of every read)."""

    def __init__(self, conn: ldap3.Connection, url: str):
        conn.search("", "(objectClass=*)", ldap3.BASE, attributes=ROOT_DSE_ATTRIBUTES)
        found = entries(conn)
        if not found:
            raise SourceRefused(f"DC {url}: rootDSE not readable", where=url, stage=errors.STAGE)
        root = found[0]
        self.ds_service_name = (first_value(root, "dsServiceName") or b"").decode()
        self.highest_usn = int(first_value(root, "highestCommittedUSN") or b"0")
        self.naming_context = (first_value(root, "defaultNamingContext") or b"").decode()
        self.schema_nc = (first_value(root, "schemaNamingContext") or b"").decode()
        self.host = (first_value(root, "dnsHostName") or b"").decode()
        conn.search(self.ds_service_name, "(objectClass=*)", ldap3.BASE, attributes=["invocationId"])
        dsa = entries(conn)
        raw = first_value(dsa[0], "invocationId") if dsa else None
        if not raw or len(raw) != 16:
            raise SourceRefused(f"DC {url}: invocationId of {self.ds_service_name} not readable", where=url, stage=errors.STAGE)
        self.invocation_id = str(uuid.UUID(bytes_le=raw))

    def identity(self, url: str) -> DcIdentity:
        return DcIdentity(url=url, invocation_id=self.invocation_id, host=self.host, highest_usn=self.highest_usn)


def connect_first(config: SourceConfig, *, strategy: str = ldap3.SYNC, urls: Iterable[str] | None = None):
    """Try ``urls`` in order; return (connection, url, RootDse) of the first DC that answers.

    Raises ``Permanent`` when every DC refused us for a reason retrying won't fix, else
    ``Retriable`` naming every DC tried.
    """
    failures: list[Exception] = []
    for url in urls if urls is not None else config.urls:
        conn = None
        try:
            conn = open_connection(config, url, strategy=strategy)
            root = RootDse(conn, url) if strategy == ldap3.SYNC else None
            return conn, url, root
        except (LDAPException, OSError, Permanent, Retriable) as exc:
            close_quietly(conn)
            err = errors.classify(exc, dc=url, operation="bind", who=config.bind_dn)
            log.warning("ad.dc_failed", source=config.name, dc=url, error=str(err))
            failures.append(err)
    if not failures:
        raise SourceRefused(f"source {config.name}: no urls configured", stage=errors.STAGE)
    text = "; ".join(str(f) for f in failures)
    if all(isinstance(f, Permanent) for f in failures):
        raise SourceRefused(f"source {config.name}: every DC refused: {text}", where=",".join(config.urls), stage=errors.STAGE)
    raise SourceUnavailable(f"source {config.name}: no DC reachable: {text}", where=",".join(config.urls), stage=errors.STAGE)


def binary_attributes(conn: ldap3.Connection, schema_nc: str, names: Iterable[str]) -> frozenset[str]:
    """The requested attributes whose schema syntax is binary (octet string or SID)."""
    from ldap3.utils.conv import escape_filter_chars

    wanted = [n for n in names if ";" not in n]
    out = set(normalize.BINARY_ATTRIBUTES)
    if not schema_nc or not wanted:
        return frozenset(out)
    flt = "(|" + "".join(f"(lDAPDisplayName={escape_filter_chars(n)})" for n in wanted) + ")"
    conn.search(schema_nc, f"(&(objectClass=attributeSchema){flt})", ldap3.SUBTREE,
                attributes=["lDAPDisplayName", "attributeSyntax"])
    for e in entries(conn):
        syntax = (first_value(e, "attributeSyntax") or b"").decode()
        name = (first_value(e, "lDAPDisplayName") or b"").decode().lower()
        if syntax in BINARY_SYNTAXES and name:
            out.add(name)
    return frozenset(out)

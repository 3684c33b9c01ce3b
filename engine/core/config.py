"""The configuration as frozen values (loaded and validated by ``config_loader.load_config``).

Secrets are never held here: only the *name* of an environment variable or the *path* of a file
that holds them. ``resolve_secret`` reads them at the moment a connection needs them.
Relative paths are resolved against the config file's directory by the loader.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from urllib.parse import urlsplit

from attrs import field, frozen

from hybridsync.engine.core.errors import ConfigError
from hybridsync.engine.core.redact import remember
from hybridsync.engine.core.values import frozen_mapping

SCIM_ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

# Default mappings (INTERFACE.md "Default semantics"): target attribute path -> expression.
# Overridable per target attribute in [target.mapping.<kind>]; an empty string drops one.
DEFAULT_USER_MAPPING: Mapping[str, str] = {
    "userName": "[userPrincipalName]",
    "name.givenName": "[givenName]",
    "name.familyName": "[sn]",
    "displayName": "[displayName]",
    'emails[type eq "work"].value': "[mail]",
    "title": "[title]",
    'phoneNumbers[type eq "work"].value': "[telephoneNumber]",
    "active": 'Not(BitAnd([userAccountControl], 2))',
    f"{SCIM_ENTERPRISE}:employeeNumber": "[employeeNumber]",
    f"{SCIM_ENTERPRISE}:department": "[department]",
    f"{SCIM_ENTERPRISE}:manager": "[manager]",  # resolved to the manager's target id
}
DEFAULT_GROUP_MAPPING: Mapping[str, str] = {
    "displayName": "[cn]",
}
DEFAULT_CONTACT_MAPPING: Mapping[str, str] = {
    "userName": 'Coalesce([mail], [cn])',
    "displayName": 'Coalesce([displayName], [cn])',
    "name.givenName": "[givenName]",
    "name.familyName": "[sn]",
    'emails[type eq "work"].value': "[mail]",
    "active": '"False"',
    "userType": '"Contact"',
}
DEFAULT_MAPPINGS: Mapping[str, Mapping[str, str]] = {
    "user": DEFAULT_USER_MAPPING,
    "group": DEFAULT_GROUP_MAPPING,
    "contact": DEFAULT_CONTACT_MAPPING,
}
# Entra ID (Microsoft Graph v1.0 user/group properties), after Entra Cloud Sync's default
# attribute mappings (learn.microsoft.com/entra/identity/hybrid/cloud-sync/reference-attributes).
# `active` is the engine's enable flag; the connector writes it as `accountEnabled`.
ENTRA_USER_MAPPING: Mapping[str, str] = {
    "userPrincipalName": "[userPrincipalName]",
    # required by Graph: the RDN when AD has none (`name` too: a DirSync delta may carry no cn)
    "displayName": "Coalesce([displayName], [cn], [name])",
    "mailNickname": "Coalesce([mailNickname], [sAMAccountName])",
    "givenName": "[givenName]",
    "surname": "[sn]",
    "mail": "[mail]",
    "jobTitle": "[title]",
    "department": "[department]",
    "companyName": "[company]",
    "employeeId": "[employeeID]",
    "mobilePhone": "[mobile]",
    "officeLocation": "[physicalDeliveryOfficeName]",
    "city": "[l]",
    "state": "[st]",
    "postalCode": "[postalCode]",
    "streetAddress": "[streetAddress]",
    "manager": "[manager]",  # resolved to the manager's Entra id; written through /manager/$ref
    "active": 'Not(BitAnd([userAccountControl], 2))',
}
ENTRA_GROUP_MAPPING: Mapping[str, str] = {
    "displayName": "[cn]",  # mailNickname is the connector's: it carries the anchor (groups have
    # no onPremisesImmutableId in Graph; see docs/interface.md "Entra ID target")
    "description": "[description]",
    "groupType": "[groupType]",  # read by the connector: distribution groups are unsupported
    "mail": "[mail]",  # read by the connector: mail-enabled groups are unsupported
}
ENTRA_CONTACT_MAPPING: Mapping[str, str] = {
    "displayName": "Coalesce([displayName], [cn])",
    "mail": "[mail]",
}
DEFAULT_MAPPINGS_BY_TARGET_KIND: Mapping[str, Mapping[str, Mapping[str, str]]] = {
    "entra": {"user": ENTRA_USER_MAPPING, "group": ENTRA_GROUP_MAPPING, "contact": ENTRA_CONTACT_MAPPING},
}
ENTRA_MATCHING: tuple[str, ...] = ("userPrincipalName",)  # Entra's soft match; add "mail" to opt in

# Soft-match precedence for a source object whose anchor the target does not know yet.
# Soft match by userName only (issue 14: a shared work email took over a cloud-only admin);
# other keys, e.g. 'emails[type eq "work"].value', are opt-in per target (``matching``).
DEFAULT_MATCHING: tuple[str, ...] = ("userName",)

OBJECT_TYPES = ("user", "group", "contact")

# Connectors are plugins: a config ``kind`` names an entry point of this group.
ENTRY_POINT_GROUP = "hybridsync.connectors"


def available_kinds() -> dict[str, EntryPoint]:
    """Installed connector kinds -> entry point (scans every distribution's metadata)."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def secret_problem(value: str) -> str | None:
    """Why a secret value cannot be used (never quoting it), or None."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return "the value holds control characters (after removing one trailing newline)"
    return None


def clean_secret(value: str) -> str:
    """One trailing newline removed (``\\n`` or ``\\r\\n``: files, Kubernetes secrets, EnvironmentFiles)."""
    if value.endswith("\r\n"):
        return value[:-2]
    if value.endswith("\n"):
        return value[:-1]
    return value


def resolve_secret(env: str | None, file: str | None, *, what: str) -> str | None:
    """Read a secret from the named environment variable or file, at the moment of use: one
    trailing newline removed; a value still holding control characters is a ``ConfigError``
    naming the key (never the value). Every value read is registered for redaction."""
    if env:
        raw = os.environ.get(env)
        if raw is None:
            raise ConfigError.single(None, what, f"environment variable {env} is not set")
        key = f"{what}_env ({env})"
    elif file:
        try:
            raw = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError.single(None, f"{what}_file", f"cannot read {file}: {type(exc).__name__}") from None
        key = f"{what}_file ({file})"
    else:
        return None
    remember(raw)
    value = clean_secret(raw)
    if msg := secret_problem(value):
        raise ConfigError.single(None, key, msg)
    remember(value)
    return value


def _is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host == "localhost" or host.startswith("127.") or host == "::1"


def insecure_source(config: "SourceConfig") -> list[tuple[str, str]]:
    """(key, what actually happens) for each insecure choice of a source. Plain ``ldap://`` is
    not one: the connector always upgrades it with StartTLS before it binds."""
    if config.tls_verify:
        return []
    return [("tls_verify", "TLS verification is off: the DC's certificate is not checked, so whoever "
                           "answers on the network path receives the bind password")]


def insecure_target(config: "TargetConfig") -> list[tuple[str, str]]:
    """(key, what actually happens) for each insecure choice of a target."""
    out = []
    if not config.tls_verify and config.url.lower().startswith("https://"):
        out.append(("tls_verify", "TLS verification is off: the target's certificate is not checked, so "
                                  "whoever answers on the network path receives the credentials and the data"))
    if config.url.lower().startswith("http://") and not _is_loopback(config.url):
        what = "the credentials and every object's data" if config.auth != "none" else "every object's data"
        out.append(("url", f"plain http:// to a host that is not loopback: {what} cross the network "
                           "unencrypted; use https://"))
    return out


@frozen
class ScopeClause:
    """One clause of an attribute scoping filter, Entra style (``operator`` upper case)."""

    attribute: str
    operator: str  # EQUALS, NOT EQUALS, IS TRUE, IS FALSE, IS NULL, IS NOT NULL, REGEX MATCH, ...
    value: str | None = None


@frozen
class ScopeConfig:
    include_ous: tuple[str, ...] = ()  # empty: the whole base_dn
    exclude_ous: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()  # DNs of groups whose (nested) members are in scope
    object_types: tuple[str, ...] = OBJECT_TYPES
    # OR of AND-groups: [[clause, clause], [clause]] -> (c1 and c2) or c3
    filters: tuple[tuple[ScopeClause, ...], ...] = ()


@frozen
class SourceConfig:
    name: str
    kind: str = "ad"
    urls: tuple[str, ...] = ()
    base_dn: str = ""
    bind_dn: str | None = None
    password_env: str | None = field(default=None, repr=False)
    password_file: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    tls_verify: bool = True
    tls_server_name: str | None = None
    delta: str = "dirsync"  # or "usn"
    # DirSync with LDAP_DIRSYNC_OBJECT_SECURITY, for accounts without replication rights
    dirsync_object_security: bool = False
    page_size: int = 1000
    poll_interval: float = 1.0  # seconds between delta polls when notification is silent
    notify: bool = True  # use the AD change-notification control as a wake-up hint
    full_read_interval: float = 86400.0  # periodic safety full read, seconds
    timeout: float = 30.0
    scope: ScopeConfig = ScopeConfig()

    def password(self) -> str | None:
        return resolve_secret(self.password_env, self.password_file, what=f"source {self.name}.password")


@frozen
class TargetConfig:
    name: str
    kind: str = "scim"
    url: str = ""
    auth: str = "bearer"  # or "basic" or "none"
    token_env: str | None = field(default=None, repr=False)
    token_file: str | None = field(default=None, repr=False)
    username: str | None = None
    password_env: str | None = field(default=None, repr=False)
    password_file: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    tls_verify: bool = True
    object_types: tuple[str, ...] = ("user", "group")
    nested_groups: str = "nested"  # or "flatten" or "omit"
    contact_resource_type: str = "User"
    # kind -> {target attribute path -> expression}; defaults merged in by the loader
    mapping: Mapping[str, Mapping[str, str]] = field(factory=dict, converter=frozen_mapping)
    matching: tuple[str, ...] = DEFAULT_MATCHING
    # attribute paths computed at apply time, sent, never stored ("password" always is)
    write_only: tuple[str, ...] = ()
    dialect: Mapping[str, object] = field(factory=dict, converter=frozen_mapping)  # overrides
    max_in_flight: int = 4
    rate_limit: float | None = None  # requests per second, token bucket
    member_chunk: int = 100
    # SCIM Bulk (RFC 7644 §3.7): at most this many creates per /Bulk request (also capped by the
    # service's maxOperations / maxPayloadSize); 0 = never bulk. Measured: bench/README.md wave 7
    bulk_chunk: int = 100
    timeout: float = 30.0  # one request's overall deadline: connect + send + the whole answer
    max_response_bytes: int = 4 * 1024 * 1024  # a longer answer is an uncertain failure
    # kind = "entra" (INTERFACE.md "Entra ID target"); unused by other kinds
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret_env: str | None = field(default=None, repr=False)
    client_secret_file: str | None = field(default=None, repr=False)
    client_certificate_file: str | None = field(default=None, repr=False)
    client_certificate_password_env: str | None = field(default=None, repr=False)
    graph_url: str = "https://graph.microsoft.com/v1.0"
    authority_url: str = "https://login.microsoftonline.com"
    password_policy: str = "random"  # the TOML key `password`: "random" or "none"; never stored

    def client_secret(self) -> str | None:
        return resolve_secret(self.client_secret_env, self.client_secret_file,
                              what=f"target {self.name}.client_secret")

    def client_certificate_password(self) -> str | None:
        return resolve_secret(self.client_certificate_password_env, None,
                              what=f"target {self.name}.client_certificate_password")

    def token(self) -> str | None:
        return resolve_secret(self.token_env, self.token_file, what=f"target {self.name}.token")

    def password(self) -> str | None:
        return resolve_secret(self.password_env, self.password_file, what=f"target {self.name}.password")


@frozen
class SafetyConfig:
    # actions that take access away (disables from scope loss, tombstone, absence or AD's own
    # disabled flag; deletes) per target within ``delete_threshold_window`` beyond this: held
    delete_threshold: int = 500
    delete_threshold_window: float = 86400.0  # seconds (config: "24h", "30m", "2d" or seconds)
    # optional: at most this percent of the objects hybridsync owns in a target per window; the
    # effective limit is the smaller of the two (``engine.plan.holds.effective_limit``)
    delete_threshold_percent: float | None = None
    soft_delete_days: float = 30.0  # disable first, hard-delete after this
    # a full read returning fewer than this fraction of the last complete read is suspicious:
    # no deletes or disables from it
    min_full_read_fraction: float = 0.5
    restore_recreated: bool = True  # re-created AD object with a soft-deleted twin: restore + adopt
    # [matching] adopt: "auto" adopts a soft-matched foreign target object at once; "approve"
    # holds every such adoption until ``hybridsync approve-adoptions`` (engine/plan/adoption.py)
    adopt: str = "auto"
    quarantine_failure_ratio: float = 0.4
    quarantine_min_operations: int = 20


@frozen
class StateConfig:
    path: str = "hybridsync.db"
    record: bool = True  # keep every source batch and target call per cycle, for replay
    # PostgreSQL instead of the SQLite file: postgresql://user@host:port/db (statestore/postgres)
    url: str | None = None
    schema: str | None = None  # a PostgreSQL schema for the tables (created when missing)
    password_env: str | None = field(default=None, repr=False)
    password_file: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    tls_verify: bool = True
    lease_ttl: float = 15.0  # seconds a leader lease lasts without a heartbeat (PostgreSQL)
    # retention, run by the engine itself (at most once a day): the provisioning log (history),
    # finished cycles, settled intents and released holds older than retain_days are deleted;
    # the recordings for replay (source batches, target calls) older than record_days. 0: keep.
    retain_days: float = 30.0
    record_days: float = 7.0

    def password(self) -> str | None:
        return resolve_secret(self.password_env, self.password_file, what="state.password")


@frozen
class MetricsConfig:
    listen: str | None = None  # "127.0.0.1:9464"


@frozen
class LogConfig:
    """How the CLI logs (the library itself never configures logging): ``format`` "auto" is a
    human console on a terminal and JSON Lines otherwise (systemd/journald); ``file`` also gets
    every event, per-object outcomes included, as JSON Lines."""

    format: str = "auto"
    file: str | None = None


@frozen
class Config:
    sources: tuple[SourceConfig, ...]
    targets: tuple[TargetConfig, ...]
    state: StateConfig = StateConfig()
    safety: SafetyConfig = SafetyConfig()
    metrics: MetricsConfig = MetricsConfig()
    log: LogConfig = LogConfig()
    path: str | None = None  # the file it was loaded from

    def source(self, name: str) -> SourceConfig:
        return next(s for s in self.sources if s.name == name)

    def target(self, name: str) -> TargetConfig:
        return next(t for t in self.targets if t.name == name)

    def secret_values(self) -> list[str]:
        """Every configured secret's current value (for scrubbing snapshots and logs)."""
        out = []
        for s in self.sources:
            try:
                if v := s.password():
                    out.append(v)
            except Exception:
                pass
        for t in self.targets:
            for getter in (t.token, t.password):
                try:
                    if v := getter():
                        out.append(v)
                except Exception:
                    pass
        return out

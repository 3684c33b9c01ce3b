"""Load and validate a hybridsync TOML config into the frozen values of ``engine.config``.

    config = load_config("hybridsync.toml")                     # check-config, sync
    config = load_config("hybridsync.toml", check_secrets=False)  # status, explain: no secrets

The whole file is checked and every problem is reported together in one ``ConfigError`` (file,
key path such as ``target[0].mapping.user.userName``, message). Secrets are never read into the
values and never echoed: only ``*_env`` variable names and ``*_file`` paths are kept. The keys of
each table are listed in ``config_schema`` (which also documents the scoping-filter shape).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from hybridsync.engine.config import schema as S
from hybridsync.engine.config.reading import LoadContext, join_key, read_table
from hybridsync.engine.config.scoping import load_scope, object_types
from hybridsync.engine.core import config as model
from hybridsync.engine.core.config import (
    DEFAULT_MAPPINGS,
    DEFAULT_MAPPINGS_BY_TARGET_KIND,
    ENTRA_MATCHING,
    Config,
    LogConfig,
    MetricsConfig,
    SafetyConfig,
    SourceConfig,
    StateConfig,
    TargetConfig,
)
from hybridsync.engine.core.errors import ConfigError
from hybridsync.engine.mapping.expressions import parse as parse_expression

__all__ = ["load_config", "load_config_text"]


def load_config(path: str | Path, *, check_secrets: bool = True) -> Config:
    """Read, validate and resolve the config file at ``path``.

    ``check_secrets``: also require every ``*_env`` variable to be set and every ``*_file`` and
    ``ca_file`` to exist (check-config and sync want this; status and explain don't need it).
    Raises ``ConfigError`` listing every problem found.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError.single(str(path), "(file)", "config file not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # ValueError: a NUL in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError.single(str(path), "(file)", f"cannot read the config file: {reason}") from None
    return load_config_text(text, base_dir=p.resolve().parent, file=str(path), check_secrets=check_secrets)


def load_config_text(
    text: str, *, base_dir: Path, file: str | None = None, check_secrets: bool = True
) -> Config:
    """Like ``load_config`` for TOML ``text``; relative paths resolve against ``base_dir``."""
    ctx = LoadContext(file, Path(base_dir), check_secrets)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError.single(file, "(syntax)", f"TOML syntax error: {exc}") from None
    config = _load_document(ctx, doc)
    if ctx.problems:
        raise ConfigError(ctx.problems)
    return config


def _check_state_url(ctx: LoadContext, state: dict[str, Any]) -> None:
    """``[state] url`` selects the PostgreSQL store: a postgresql:// url without a password."""
    for key in ("password_file", "ca_file"):
        if key in state:
            state[key] = ctx.path(state[key], f"state.{key}")
    url = state.get("url")
    if url is None:
        return
    env = state.get("password_env")
    if ctx.check_secrets and env and env not in os.environ:
        ctx.add("state.password_env", f"environment variable {env} is not set")
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
        ctx.add("state.url", "must be postgresql://user@host[:port]/database "
                f"(got scheme {parts.scheme!r}{'' if parts.hostname else ', no host'})")
    elif parts.password is not None:
        ctx.add("state.url", "holds a password: use password_env or password_file instead")
    elif {k.lower() for k, _v in parse_qsl(parts.query, keep_blank_values=True)} & {"password", "sslpassword"}:
        # libpq reads a password from the query too; never quoted back
        ctx.add("state.url", "holds a password in its query: use password_env or password_file instead")


def _load_document(ctx: LoadContext, doc: dict[str, Any]) -> Config:
    top = read_table(ctx, doc, S.TOP_FIELDS, "")
    state = read_table(ctx, top.get("state", {}), S.STATE_FIELDS, "state")
    if "path" in state:
        state["path"] = state["path"] if state["path"] == ":memory:" else ctx.path(state["path"], "state.path")
    else:
        state["path"] = ctx.path(StateConfig().path, "state.path")
    _check_state_url(ctx, state)
    safety = read_table(ctx, top.get("safety", {}), S.SAFETY_FIELDS, "safety")
    if "delete_threshold_window" in safety:
        window, problem = S.duration_seconds(safety.pop("delete_threshold_window"))
        if problem is not None:
            ctx.add("safety.delete_threshold_window", problem)
        else:
            safety["delete_threshold_window"] = window
    retain = state.get("retain_days", StateConfig().retain_days)
    window_s = safety.get("delete_threshold_window", SafetyConfig().delete_threshold_window)
    if isinstance(retain, (int, float)) and 0 < retain * 86400 < window_s:
        ctx.add("state.retain_days", f"{retain} days keeps less history than the delete threshold's window "
                                     f"({window_s / 86400:g} days) counts: use at least that, or 0 to keep everything")
    metrics = read_table(ctx, top.get("metrics", {}), S.METRICS_FIELDS, "metrics")
    if "listen" in metrics and (msg := S.listen_problem(metrics["listen"])):
        ctx.add("metrics.listen", msg)
    log_cfg = read_table(ctx, top.get("log", {}), S.LOG_FIELDS, "log")
    if "file" in log_cfg:
        log_cfg["file"] = ctx.path(log_cfg["file"], "log.file")
    sources = [_load_source(ctx, t, f"source[{i}]") for i, t in enumerate(top.get("source", []))]
    matching = read_table(ctx, top.get("matching", {}), S.MATCHING_FIELDS, "matching")
    if "adopt" in matching:
        safety["adopt"] = matching["adopt"]
    soft_match = tuple(S.MATCH_ALIASES.get(k, k) for k in matching["soft_match"]) if "soft_match" in matching else None
    targets = [_load_target(ctx, t, f"target[{i}]", soft_match) for i, t in enumerate(top.get("target", []))]
    for section, items in (("source", sources), ("target", targets)):
        if f"{section}" in top and not items:
            ctx.add(section, f"at least one [[{section}]] is required")
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            if item is None:
                continue
            if item.name in seen:
                ctx.add(f"{section}[{i}].name", f"duplicate {section} name {item.name!r} (also {section}[{seen[item.name]}])")
            seen.setdefault(item.name, i)
    return Config(
        sources=tuple(s for s in sources if s is not None),
        targets=tuple(t for t in targets if t is not None),
        state=StateConfig(**state),
        safety=SafetyConfig(**safety),
        metrics=MetricsConfig(**metrics),
        log=LogConfig(**log_cfg),
        path=str(ctx.base_dir.resolve() / Path(ctx.file).name) if ctx.file else None,
    )


def _check_common(ctx: LoadContext, v: dict[str, Any], prefix: str, role: str) -> None:
    """name, kind, secrets and files: shared by sources and targets (fixes ``v`` in place)."""
    if "name" in v and not S.NAME.match(v["name"]):
        ctx.add(f"{prefix}.name", "must start with a letter or digit and hold only letters, digits, '_', '.', '-'")
        del v["name"]
    default_kind = (SourceConfig if role == "source" else TargetConfig)("x").kind  # "ad" / "scim"
    _check_kind(ctx, v.get("kind", default_kind), f"{prefix}.kind", role)  # defaults too
    for secret in ("password", "token"):
        env, file = f"{secret}_env", f"{secret}_file"
        if env in v and file in v:
            ctx.add(f"{prefix}.{file}", f"set only one of {env} and {file}")
        if env in v:
            if msg := S.env_name_problem(v[env]):
                ctx.add(f"{prefix}.{env}", msg)
            elif ctx.check_secrets and v[env] not in os.environ:
                ctx.add(f"{prefix}.{env}", f"environment variable {v[env]} is not set")
            elif ctx.check_secrets and not os.environ[v[env]]:
                ctx.add(f"{prefix}.{env}", f"environment variable {v[env]} is empty")
            elif ctx.check_secrets and (msg := model.secret_problem(model.clean_secret(os.environ[v[env]]))):
                ctx.add(f"{prefix}.{env}", f"environment variable {v[env]}: {msg}")
    for key in ("password_file", "token_file", "ca_file"):
        if key in v:
            v[key] = ctx.path(v[key], f"{prefix}.{key}")
            if ctx.check_secrets and not os.path.isfile(v[key]):
                ctx.add(f"{prefix}.{key}", f"file not found: {v[key]}")
            elif ctx.check_secrets and not os.access(v[key], os.R_OK):
                ctx.add(f"{prefix}.{key}", f"file is not readable: {v[key]}")
            elif ctx.check_secrets and key != "ca_file" and (msg := _secret_file_problem(v[key])):
                ctx.add(f"{prefix}.{key}", f"{v[key]}: {msg}")


def _secret_file_problem(path: str) -> str | None:
    try:
        text = open(path, encoding="utf-8").read()
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot read the file: {type(exc).__name__}"
    return model.secret_problem(model.clean_secret(text))


def _check_kind(ctx: LoadContext, kind: str, key: str, role: str) -> None:
    if ctx.kinds is None:  # listing entry points scans every distribution: once per load
        try:
            ctx.kinds = sorted(model.available_kinds())
        except Exception as exc:  # a broken third-party distribution's metadata
            ctx.add(key, f"cannot list installed connector kinds: {type(exc).__name__}")
            return
    installed = ctx.kinds
    if kind not in installed:
        ctx.add(key, f"unknown connector kind {kind!r}; installed: {', '.join(installed) or 'none'}")
    elif S.KNOWN_ROLES.get(kind, role) != role:
        ctx.add(key, f"{kind!r} is a {S.KNOWN_ROLES[kind]} connector, not a {role}")


def _load_source(ctx: LoadContext, table: dict[str, Any], prefix: str) -> SourceConfig | None:
    v = read_table(ctx, table, S.SOURCE_FIELDS, prefix)
    _check_common(ctx, v, prefix, "source")
    if "urls" in v:
        if not v["urls"]:
            ctx.add(f"{prefix}.urls", "needs at least one ldaps:// or ldap:// URL")
        for j, url in enumerate(v["urls"]):
            if msg := S.url_problem(url, ("ldaps", "ldap"), path_allowed=False):
                ctx.add(f"{prefix}.urls[{j}]", msg)
        v["urls"] = tuple(v["urls"])
    base_ok = False
    for key in ("base_dn", "bind_dn"):
        if key in v and (msg := S.dn_problem(v[key])):
            ctx.add(f"{prefix}.{key}", msg)
        elif key == "base_dn" and key in v:
            base_ok = True
    if "bind_dn" in v and not ({"password_env", "password_file"} & v.keys()):
        ctx.add(f"{prefix}.bind_dn", "a bind_dn needs password_env or password_file")
    if "tls_server_name" in v and not re.match(r"^[A-Za-z0-9.-]+$", v["tls_server_name"]):
        ctx.add(f"{prefix}.tls_server_name", "must be a host name such as DC1.lab.test")
    if "scope" in v:
        v["scope"] = load_scope(ctx, v["scope"], f"{prefix}.scope", v["base_dn"] if base_ok else None)
    if "name" not in v:
        return None
    return SourceConfig(**v)


def _load_target(ctx: LoadContext, table: dict[str, Any], prefix: str,
                 soft_match: tuple[str, ...] | None = None) -> TargetConfig | None:
    if table.get("kind") == "entra":
        return _load_entra_target(ctx, table, prefix)
    v = read_table(ctx, table, S.TARGET_FIELDS, prefix)
    _check_common(ctx, v, prefix, "target")
    if "url" in v and (msg := S.url_problem(v["url"], ("https", "http"), path_allowed=True)):
        ctx.add(f"{prefix}.url", msg)
    auth = v.get("auth", "bearer")
    has_token = bool({"token_env", "token_file"} & v.keys())
    has_password = bool({"password_env", "password_file"} & v.keys())
    if auth == "bearer" and not has_token:
        ctx.add(f"{prefix}.token_env", "auth = \"bearer\" needs token_env or token_file")
    if auth == "basic" and ("username" not in v or not has_password):
        ctx.add(f"{prefix}.username" if "username" not in v else f"{prefix}.password_env",
                "auth = \"basic\" needs username and password_env or password_file")
    if auth != "basic" and has_password:
        ctx.add(f"{prefix}.auth", f"a password is set but auth = {auth!r}; use auth = \"basic\"")
    if auth != "bearer" and has_token:
        ctx.add(f"{prefix}.auth", f"a token is set but auth = {auth!r}; use auth = \"bearer\"")
    if "object_types" in v:
        v["object_types"] = object_types(ctx, v["object_types"], f"{prefix}.object_types")
    if "contact_resource_type" in v and not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", v["contact_resource_type"]):
        ctx.add(f"{prefix}.contact_resource_type", "must be a SCIM resource type name such as User")
    v["mapping"] = _load_mapping(ctx, v.get("mapping", {}), f"{prefix}.mapping")
    if "matching" in v:
        for j, attr in enumerate(v["matching"]):
            if attr not in v["mapping"]["user"]:
                ctx.add(f"{prefix}.matching[{j}]", f"{attr!r} is not a mapped user attribute")
        v["matching"] = tuple(v["matching"])
    elif soft_match is not None:
        for j, attr in enumerate(soft_match):
            if attr not in v["mapping"]["user"]:
                ctx.add(f"matching.soft_match[{j}]", f"{attr!r} is not a mapped user attribute of {prefix}")
        v["matching"] = soft_match
    write_only = set(v.get("write_only", ())) | {"password"}
    if "write_only" in v:
        for j, attr in enumerate(v["write_only"]):
            if not any(attr in table for table in v["mapping"].values()):
                ctx.add(f"{prefix}.write_only[{j}]", f"{attr!r} is not a mapped attribute")
        v["write_only"] = tuple(v["write_only"])
    for kind, table in v["mapping"].items():
        for attr, expr in table.items():
            if attr not in write_only and _RANDOM.search(expr):
                ctx.add(f"{prefix}.mapping.{kind}.{attr}",
                        "RandomString makes a secret: map it only to password or a write_only attribute "
                        "(those are never stored)")
    if "dialect" in v:
        for key, value in v["dialect"].items():
            if isinstance(value, float) or not isinstance(value, (bool, int, str)):
                ctx.add(f"{prefix}.dialect.{key}", f"expected a boolean, integer or string, got {S.describe_type(value)}")
    if "name" not in v:
        return None
    return TargetConfig(**v)


def _load_entra_target(ctx: LoadContext, table: dict[str, Any], prefix: str) -> TargetConfig | None:
    """``kind = "entra"``: client credentials (a secret or a certificate), Graph and authority
    URLs, the new-user password policy (``password`` -> ``password_policy``), Entra's default
    mappings and soft match (``userPrincipalName``; ``mail`` opt-in through ``matching``)."""
    v = read_table(ctx, table, S.ENTRA_TARGET_FIELDS, prefix)
    _check_common(ctx, v, prefix, "target")
    has_secret = bool({"client_secret_env", "client_secret_file"} & v.keys())
    if "client_secret_env" in v and "client_secret_file" in v:
        ctx.add(f"{prefix}.client_secret_file", "set only one of client_secret_env and client_secret_file")
    if has_secret == ("client_certificate_file" in v):
        ctx.add(f"{prefix}.client_secret_env",
                "set exactly one credential: client_secret_env, client_secret_file or client_certificate_file")
    for key in ("client_secret_env", "client_certificate_password_env"):
        if key in v:
            if msg := S.env_name_problem(v[key]):
                ctx.add(f"{prefix}.{key}", msg)
            elif ctx.check_secrets and not os.environ.get(v[key]):
                ctx.add(f"{prefix}.{key}", f"environment variable {v[key]} is not set or empty")
    for key in ("client_secret_file", "client_certificate_file"):
        if key in v:
            v[key] = ctx.path(v[key], f"{prefix}.{key}")
            if ctx.check_secrets and not os.path.isfile(v[key]):
                ctx.add(f"{prefix}.{key}", f"file not found: {v[key]}")
    for key in ("graph_url", "authority_url"):
        if key in v:
            loopback = re.match(r"^http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/|$)", v[key])
            if msg := S.url_problem(v[key], ("https", "http"), path_allowed=True):
                ctx.add(f"{prefix}.{key}", msg)
            elif v[key].startswith("http:") and not loopback:
                ctx.add(f"{prefix}.{key}", "must be https:// (plain http only on loopback, for tests)")
            v[key] = v[key].rstrip("/")
    if "password" in v:
        v["password_policy"] = v.pop("password")
    if "object_types" in v:
        v["object_types"] = object_types(ctx, v["object_types"], f"{prefix}.object_types")
    v["mapping"] = _load_mapping(ctx, v.get("mapping", {}), f"{prefix}.mapping", "entra")
    v.setdefault("matching", list(ENTRA_MATCHING))
    for j, attr in enumerate(v["matching"]):
        if attr not in v["mapping"]["user"]:
            ctx.add(f"{prefix}.matching[{j}]", f"{attr!r} is not a mapped user attribute")
    v["matching"] = tuple(v["matching"])
    if "name" not in v or "tenant_id" not in v or "client_id" not in v:
        return None
    return TargetConfig(**v)


_RANDOM = re.compile(r"\bRandomString\s*\(", re.IGNORECASE)


def _load_mapping(ctx: LoadContext, table: dict[str, Any], prefix: str,
                  target_kind: str = "scim") -> dict[str, dict[str, str]]:
    defaults = DEFAULT_MAPPINGS_BY_TARGET_KIND.get(target_kind, DEFAULT_MAPPINGS)
    merged = {kind: dict(defaults[kind]) for kind in S.MAPPING_KINDS}
    for kind, attrs in table.items():
        key = join_key(prefix, kind)
        if kind not in S.MAPPING_KINDS:
            ctx.add(key, S.unknown_key_problem(kind, S.MAPPING_KINDS))
            continue
        if not isinstance(attrs, dict):
            ctx.add(key, f"expected a table of attribute = \"expression\", got {S.describe_type(attrs)}")
            continue
        for attr, expr in S.flatten(attrs):
            attr_key = f"{key}.{attr}"
            if not isinstance(expr, str):
                ctx.add(attr_key, f"expected an expression string, got {S.describe_type(expr)}")
                continue
            if not S.ATTRIBUTE_PATH.match(attr):
                ctx.add(attr_key, "not a target attribute path (e.g. userName, name.givenName, "
                                  "emails[type eq \"work\"].value)")
                continue
            if expr == "":
                merged[kind].pop(attr, None)
                continue
            if msg := _parse_problem(expr):
                ctx.add(attr_key, msg)
            merged[kind][attr] = expr
    return merged


def _parse_problem(text: str) -> str | None:
    """Why the mapping expression ``text`` does not compile (the config sits above the mapping
    layer and checks every expression with its parser), or None."""
    try:
        parse_expression(text)
    except Exception as exc:  # the parser's syntax error (carries .column); anything else too
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        column = getattr(exc, "column", None)
        where = f" at column {column}" if column is not None and f"column {column}" not in message else ""
        return f"expression does not parse{where}: {message}"
    return None

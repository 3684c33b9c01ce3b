"""What a hybridsync TOML config may hold: the keys of every table, their types and ranges.

Pure: no I/O. ``config_loader`` walks a parsed TOML document with these tables and turns every
violation into a ``ConfigProblem`` (file, key path, message), never stopping at the first.

Attribute scoping filters (Entra Cloud Sync style) in TOML::

    [[source.scope.filters]]          # one table = one AND-group; the tables are ORed
    clauses = [
      { attribute = "department", operator = "EQUALS", value = "Sales" },
      { attribute = "extensionAttribute1", operator = "IS NOT NULL" },
    ]

    [[source.scope.filters]]
    clauses = [{ attribute = "employeeID", operator = "REGEX MATCH", value = "^[0-9]{6}$" }]

``IS TRUE``/``IS FALSE``/``IS NULL``/``IS NOT NULL`` take no ``value``; ``GREATER_THAN``,
``GREATER_THAN_OR_EQUALS`` and ``LESS_THAN`` take an integer; ``IS IN``/``IS NOT IN`` take a
comma-separated string (as Entra) or an array of strings; the regex operators take a Python
regular expression, compiled at load.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from attrs import frozen

from hybridsync.engine.core.dn import DnError, dn_within, parse_dn

# Literal secrets: the key a user is tempted to write -> the keys to write instead.
SECRET_LITERALS: dict[str, str] = {
    "password": "password_env = \"VARIABLE\" (an environment variable) or password_file = \"path\"",
    "bind_password": "password_env = \"VARIABLE\" (an environment variable) or password_file = \"path\"",
    "token": "token_env = \"VARIABLE\" (an environment variable) or token_file = \"path\"",
    "bearer_token": "token_env = \"VARIABLE\" (an environment variable) or token_file = \"path\"",
    "secret": "token_env / token_file or password_env / password_file",
    "client_secret": "token_env / token_file or password_env / password_file",
    "api_key": "token_env = \"VARIABLE\" (an environment variable) or token_file = \"path\"",
}

DELTA_MODES = ("dirsync", "usn")
NESTED_GROUPS = ("nested", "flatten", "omit")
AUTH_MODES = ("bearer", "basic", "none")
MAPPING_KINDS = ("user", "group", "contact")

NO_VALUE_OPERATORS = ("IS TRUE", "IS FALSE", "IS NULL", "IS NOT NULL")
INTEGER_OPERATORS = ("GREATER_THAN", "GREATER_THAN_OR_EQUALS", "LESS_THAN")
REGEX_OPERATORS = ("REGEX MATCH", "NOT REGEX MATCH")
LIST_OPERATORS = ("IS IN", "IS NOT IN")
SCOPE_OPERATORS = (
    "EQUALS",
    "NOT EQUALS",
    *NO_VALUE_OPERATORS,
    *REGEX_OPERATORS,
    *INTEGER_OPERATORS,
    "INCLUDES",
    *LIST_OPERATORS,
)

# Built-in connector kinds and the role they play (third-party kinds are not classified).
KNOWN_ROLES: dict[str, str] = {"ad": "source", "scim": "target", "entra": "target"}

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@frozen
class Field:
    """One key of a table: its TOML type, whether it must be present, and its allowed range."""

    type: str  # str | bool | int | float | strs | table | tables | any
    required: bool = False
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False


STATE_FIELDS = {"path": Field("str"), "record": Field("bool"), "url": Field("str"), "schema": Field("str"),
                "password_env": Field("str"), "password_file": Field("str"), "ca_file": Field("str"),
                "tls_verify": Field("bool"), "lease_ttl": Field("float", min=1),
                "retain_days": Field("float", min=0, max=36_500), "record_days": Field("float", min=0, max=36_500)}
METRICS_FIELDS = {"listen": Field("str")}
LOG_FORMATS = ("auto", "console", "json")
LOG_FIELDS = {"format": Field("str", choices=LOG_FORMATS), "file": Field("str")}
SAFETY_FIELDS = {
    "delete_threshold": Field("int", min=0, max=10_000_000),
    "delete_threshold_window": Field("any"),  # a duration: "24h", "30m", "2d", "90s" or seconds
    "delete_threshold_percent": Field("float", min=0, min_exclusive=True, max=100),
    "soft_delete_days": Field("float", min=0, max=36_500),  # 100 years: dates stay representable
    "min_full_read_fraction": Field("float", min=0, max=1),
    "restore_recreated": Field("bool"),
    "quarantine_failure_ratio": Field("float", min=0, max=1, min_exclusive=True),
    "quarantine_min_operations": Field("int", min=1, max=10_000_000),
}
SCOPE_FIELDS = {
    "include_ous": Field("strs"),
    "exclude_ous": Field("strs"),
    "groups": Field("strs"),
    "object_types": Field("strs"),
    "filters": Field("tables"),
}
FILTER_FIELDS = {"clauses": Field("any", required=True)}
CLAUSE_FIELDS = {
    "attribute": Field("str", required=True),
    "operator": Field("str", required=True),
    "value": Field("any"),
}
SOURCE_FIELDS = {
    "name": Field("str", required=True),
    "kind": Field("str"),
    "urls": Field("strs", required=True),
    "base_dn": Field("str", required=True),
    "bind_dn": Field("str"),
    "password_env": Field("str"),
    "password_file": Field("str"),
    "ca_file": Field("str"),
    "tls_verify": Field("bool"),
    "tls_server_name": Field("str"),
    "delta": Field("str", choices=DELTA_MODES),
    "dirsync_object_security": Field("bool"),
    "page_size": Field("int", min=1, max=5000),
    "poll_interval": Field("float", min=0, min_exclusive=True, max=86400),
    "notify": Field("bool"),
    "full_read_interval": Field("float", min=0, min_exclusive=True, max=366 * 86400),
    "timeout": Field("float", min=0, min_exclusive=True, max=3600),
    "scope": Field("table"),
}
TARGET_FIELDS = {
    "name": Field("str", required=True),
    "kind": Field("str"),
    "url": Field("str", required=True),
    "auth": Field("str", choices=AUTH_MODES),
    "token_env": Field("str"),
    "token_file": Field("str"),
    "username": Field("str"),
    "password_env": Field("str"),
    "password_file": Field("str"),
    "ca_file": Field("str"),
    "tls_verify": Field("bool"),
    "object_types": Field("strs"),
    "nested_groups": Field("str", choices=NESTED_GROUPS),
    "contact_resource_type": Field("str"),
    "mapping": Field("table"),
    "matching": Field("strs"),
    "write_only": Field("strs"),
    "dialect": Field("table"),
    "max_in_flight": Field("int", min=1, max=256),
    "rate_limit": Field("float", min=0, min_exclusive=True, max=1_000_000),
    "member_chunk": Field("int", min=1, max=10000),
    "bulk_chunk": Field("int", min=0, max=10000),
    "timeout": Field("float", min=0, min_exclusive=True, max=3600),
    "max_response_bytes": Field("int", min=1024, max=1024 * 1024 * 1024),
}
# [matching]: the soft-match keys of every target that sets no ``matching`` of its own (issue 14:
# userName only by default; others are opt-in). Short names for common paths:
# ``adopt``: "auto" (adopt a soft match at once) or "approve" (hold it for approve-adoptions).
ADOPT_MODES = ("auto", "approve")
MATCHING_FIELDS = {"soft_match": Field("strs"), "adopt": Field("str", choices=ADOPT_MODES)}
MATCH_ALIASES = {"emails.work": 'emails[type eq "work"].value', "externalId": "externalId"}

# kind = "entra" (INTERFACE.md "Entra ID target"): no url/auth/token; Graph and the identity
# platform are reached with client credentials. `password` is the new-user password policy.
ENTRA_PASSWORD_POLICIES = ("random", "none")
ENTRA_TARGET_FIELDS = {
    **{k: f for k, f in TARGET_FIELDS.items()
       if k not in ("url", "auth", "token_env", "token_file", "username", "password_env", "password_file",
                    "dialect", "contact_resource_type")},
    "tenant_id": Field("str", required=True),
    "client_id": Field("str", required=True),
    "client_secret_env": Field("str"),
    "client_secret_file": Field("str"),
    "client_certificate_file": Field("str"),
    "client_certificate_password_env": Field("str"),
    "graph_url": Field("str"),
    "authority_url": Field("str"),
    "password": Field("str", choices=ENTRA_PASSWORD_POLICIES),
}
TOP_FIELDS = {
    "state": Field("table"),
    "source": Field("tables", required=True),
    "target": Field("tables", required=True),
    "safety": Field("table"),
    "matching": Field("table"),
    "metrics": Field("table"),
    "log": Field("table"),
}

_TYPE_NAMES = {
    "str": "a string",
    "bool": "a boolean (true or false)",
    "int": "an integer",
    "float": "a number",
    "strs": "an array of strings",
    "table": "a table",
    "tables": "an array of tables",
}


def describe_type(value: object) -> str:
    """The TOML type of a parsed value, in words (never the value itself: it may be a secret)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date/time"


def type_matches(spec: str, value: object) -> bool:
    if spec == "any":
        return True
    if spec == "str":
        return isinstance(value, str)
    if spec == "bool":
        return isinstance(value, bool)
    if spec == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if spec == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if spec == "strs":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if spec == "table":
        return isinstance(value, dict)
    if spec == "tables":
        return isinstance(value, list) and all(isinstance(v, dict) for v in value)
    raise ValueError(spec)


def type_problem(spec: str, value: object) -> str:
    if spec == "strs" and isinstance(value, list):
        return "expected an array of strings, but an element is not a string"
    if spec == "tables" and isinstance(value, dict):
        return "expected an array of tables: write [[...]] (double brackets), not [...]"
    if spec == "tables" and isinstance(value, list):
        return "expected an array of tables, but an element is not a table"
    return f"expected {_TYPE_NAMES[spec]}, got {describe_type(value)}"


def range_problem(field: Field, value: float) -> str | None:
    if isinstance(value, float) and value != value:  # NaN
        return "must be a number, not nan"
    low_bad = field.min is not None and (value <= field.min if field.min_exclusive else value < field.min)
    high_bad = field.max is not None and value > field.max
    if not (low_bad or high_bad):
        return None
    low = None if field.min is None else (f"> {field.min:g}" if field.min_exclusive else f">= {field.min:g}")
    high = None if field.max is None else f"<= {field.max:g}"
    return f"must be {' and '.join(p for p in (low, high) if p)} (got {value!r})"


def suggestion(key: str, allowed: Iterable[str]) -> str:
    names = list(allowed)
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(sorted(names))}"


def unknown_key_problem(key: str, allowed: Iterable[str]) -> str:
    if key.lower() in SECRET_LITERALS:
        return (
            "a secret must not be written into the config file; "
            f"write {SECRET_LITERALS[key.lower()]} instead (the value is not shown)"
        )
    return f"unknown key{suggestion(key, allowed)}"


def dn_problem(dn: str) -> str | None:
    """Why ``dn`` is not a DN ldap3 can parse, or None."""
    from ldap3.utils.dn import parse_dn

    if not dn.strip():
        return "must be a DN, got an empty string"
    try:
        parse_dn(dn)
    except Exception as exc:  # ldap3 raises LDAPInvalidDnError, odd input may raise others
        hint = " (remove the spaces after the commas)" if ", " in dn else ""
        return f"not a valid DN: {exc}{hint}"
    return None


def is_under(dn: str, base: str) -> bool:
    """``dn`` is ``base`` or below it, compared as the planner's scope compares them."""
    try:
        return dn_within(parse_dn(dn), parse_dn(base))
    except DnError:
        return False


def url_problem(url: str, schemes: tuple[str, ...], *, path_allowed: bool) -> str | None:
    want = " or ".join(f"{s}://" for s in schemes)
    try:
        parts = urlsplit(url)
        if "@" in parts.netloc:  # before the port: its error would quote the credentials
            return ("must not hold a user name or password (user:password@host); credentials come "
                    "only from *_env or *_file")
        port = parts.port
    except ValueError:
        return f"not a valid URL; expected {want}host[:port]"
    if parts.scheme.lower() not in schemes:
        return f"must start with {want} (got scheme {parts.scheme or 'none'!r})"
    if not parts.hostname:
        return f"has no host; expected {want}host[:port]"
    if port == 0:
        return "port must be between 1 and 65535"
    if parts.query or parts.fragment:
        return "must not have a query or fragment"
    if not path_allowed and parts.path not in ("", "/"):
        return "must not have a path (the search base is base_dn)"
    return None


def listen_problem(listen: str) -> str | None:
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        return "must be \"host:port\" with a port from 1 to 65535, e.g. \"127.0.0.1:9464\""
    if host.startswith("[") != host.endswith("]"):
        return "an IPv6 host must be bracketed, e.g. \"[::1]:9464\""
    return None


def env_name_problem(name: str) -> str | None:
    if not ENV_NAME.match(name):
        # not echoed: a secret pasted here by mistake must not be shown
        return "is not an environment variable name (letters, digits, _); name the variable, not its value"
    return None


ATTRIBUTE_PATH = re.compile(r"^[A-Za-z_][\w:.\-]*(\[[^\]]+\])?(\.[A-Za-z_]\w*)?$")


def flatten(table: dict[str, Any], prefix: str = "") -> list[tuple[str, object]]:
    """``name.givenName = ...`` written as a dotted TOML key arrives nested: flatten it back."""
    out: list[tuple[str, object]] = []
    for key, value in table.items():
        path = f"{prefix}.{key}" if prefix else key
        out.extend(flatten(value, path) if isinstance(value, dict) and value else [(path, value)])
    return out


_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
MAX_WINDOW = 366 * 86400.0


def duration_seconds(value: object) -> tuple[float | None, str | None]:
    """A duration ("24h", "30m", "2d", "90s", or a number of seconds) -> (seconds, problem)."""
    if isinstance(value, bool):
        return None, "expected a duration such as \"24h\", got a boolean"
    if isinstance(value, int) and not 0 < value <= MAX_WINDOW:  # float() of a huge int overflows
        return None, f"must be > 0 and at most 366 days (got {value!r})"
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and value.strip() and value.strip()[-1].lower() in _DURATION_UNITS:
        text = value.strip()
        try:
            seconds = float(text[:-1]) * _DURATION_UNITS[text[-1].lower()]
        except ValueError:
            return None, f"expected a duration such as \"24h\", \"30m\" or \"2d\" (got {value!r})"
    else:
        return None, f"expected a duration such as \"24h\", \"30m\" or \"2d\" (got {value!r})"
    if not (0 < seconds <= MAX_WINDOW):  # also rejects nan and inf
        return None, f"must be > 0 and at most 366 days (got {value!r})"
    return seconds, None


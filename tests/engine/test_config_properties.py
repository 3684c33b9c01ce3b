"""Hypothesis: whatever the file holds, loading it returns a Config or raises ConfigError, nothing else."""

from __future__ import annotations

import copy
import json
import math
import tomllib
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from hybridsync.engine.core.config import Config
from hybridsync.engine.config.loader import load_config_text
from hybridsync.engine.core.errors import ConfigError

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "config"
VALID = tomllib.loads((SAMPLES / "every-key.toml").read_text())
BASE_DIR = Path("/nonexistent-hybridsync-config-dir")
SECRET = "Sup3r-S3cret-Value-42"


def to_toml(value: dict) -> str:
    """Write a parsed TOML document back as TOML, every nested value inline."""
    return "".join(f"{_string(k)} = {_inline(v)}\n" for k, v in value.items())


def _string(s: str) -> str:
    # JSON's escapes are TOML's; DEL must be escaped in TOML, and astral characters stay literal
    # (a JSON surrogate pair escape is not a valid TOML \\u escape)
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def _inline(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list):
        return "[" + ", ".join(_inline(x) for x in v) + "]"
    return "{" + ", ".join(f"{_string(k)} = {_inline(x)}" for k, x in v.items()) + "}"


def test_the_writer_round_trips_the_valid_sample():
    assert tomllib.loads(to_toml(VALID)) == VALID
    assert isinstance(load_config_text(to_toml(VALID), base_dir=BASE_DIR, check_secrets=False), Config)


scalars = st.one_of(
    st.booleans(),
    st.integers() | st.sampled_from([10**400, -(10**400), 2**63]),  # TOML integers are unbounded
    st.floats(),
    st.text(max_size=30),
    st.sampled_from(["ldaps://127.0.0.2:636", "DC=lab,DC=test", "EQUALS", "user", "", "http://h/scim", "(["]),
)
keys = st.one_of(
    st.sampled_from(["name", "urls", "url", "base_dn", "source", "target", "scope", "mapping", "user",
                     "clauses", "operator", "value", "password", "token_env", "kind", "auth", "state"]),
    st.text(min_size=1, max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)


def outcome(text: str, check_secrets: bool) -> Config | ConfigError:
    try:
        return load_config_text(text, base_dir=BASE_DIR, file="fuzz.toml", check_secrets=check_secrets)
    except ConfigError as exc:
        assert exc.problems and all(p.key and p.message for p in exc.problems)
        assert SECRET not in str(exc)
        return exc


@given(st.text(max_size=300), st.booleans())
def test_any_text_loads_or_raises_config_error(text, check_secrets):
    outcome(text, check_secrets)


@given(st.dictionaries(keys, values, max_size=6), st.booleans())
def test_any_toml_document_loads_or_raises_config_error(document, check_secrets):
    outcome(to_toml(document), check_secrets)


def _tables(node: object, path: tuple = ()) -> list[tuple]:
    """Paths (dict keys / list indexes) of every table in a document."""
    out = []
    if isinstance(node, dict):
        out.append(path)
        for k, v in node.items():
            out += _tables(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _tables(v, (*path, i))
    return out


TABLES = _tables(VALID)
def _get(doc: object, path: tuple) -> object:
    for part in path:
        doc = doc[part]  # type: ignore[index]
    return doc


def _key_path(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


ENTRIES = [(t, k) for t in TABLES for k in _get(VALID, t)]


@given(st.sampled_from(ENTRIES), values, st.sampled_from(["replace", "drop", "wrap"]), st.booleans())
@example((("safety",), "delete_threshold_window"), 10**400, "replace", False)  # float() overflowed (found 2026-12-04)
def test_a_mutated_valid_config_loads_or_raises_config_error(entry, value, how, check_secrets):
    table_path, key = entry
    document = copy.deepcopy(VALID)
    table = _get(document, table_path)
    if how == "replace":
        table[key] = value
    elif how == "drop":
        del table[key]
    else:
        table[key] = [table[key]]
    outcome(to_toml(document), check_secrets)


FIXED_SHAPE_TABLES = [t for t in TABLES if "mapping" not in t and "dialect" not in t]


@given(st.sampled_from(FIXED_SHAPE_TABLES), st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=10), values)
def test_an_unknown_key_anywhere_is_reported_at_its_path(table_path, key, value):
    document = copy.deepcopy(VALID)
    table = _get(document, table_path)
    if key in table:
        key += "_unknown"
    table[key] = value
    result = outcome(to_toml(document), check_secrets=False)
    assert isinstance(result, ConfigError)
    expected = _key_path((*table_path, key))
    assert any(p.key == expected and ("unknown key" in p.message or "secret" in p.message) for p in result.problems)


@given(st.sampled_from(ENTRIES))
def test_a_literal_secret_next_to_any_key_is_never_echoed(entry):
    table_path, _ = entry
    document = copy.deepcopy(VALID)
    _get(document, table_path)["password"] = SECRET
    result = outcome(to_toml(document), check_secrets=True)
    assert isinstance(result, ConfigError) and SECRET not in repr(result.problems)

"""Mapping expressions are parsed at load, once ``hybridsync.engine.mapping.expressions`` exists.

These tests fail (never skip) if the module exists but its syntax errors don't come back as
config problems at ``target[i].mapping.<kind>.<attr>`` with a column.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from hybridsync.engine.core.config import DEFAULT_MAPPINGS
from hybridsync.engine.config.loader import load_config_text
from hybridsync.engine.core.errors import ConfigError

EXPRESSIONS_PRESENT = importlib.util.find_spec("hybridsync.engine.mapping.expressions") is not None

DOC = """
[[source]]
name = "corp"
urls = ["ldaps://127.0.0.2:636"]
base_dn = "DC=lab,DC=test"

[[target]]
name = "app"
url = "http://127.0.0.1:8100/scim/v2"
auth = "none"

[[target]]
name = "second"
url = "http://127.0.0.1:8101/scim/v2"
auth = "none"

[target.mapping.user]
displayName = 'Join(" ", [givenName], [sn])'
"""


def test_an_expression_that_does_not_parse_is_reported_at_its_key_with_the_column(tmp_path: Path):
    text = DOC + '\n[target.mapping.group]\ndisplayName = "Join("\n'
    if EXPRESSIONS_PRESENT:
        with pytest.raises(ConfigError) as info:
            load_config_text(text, base_dir=tmp_path, file="t.toml")
        (problem,) = info.value.problems
        assert problem.key == "target[1].mapping.group.displayName"
        assert "does not parse" in problem.message and "column 6" in problem.message
    else:  # the guard: without the module, expressions are kept unparsed and load fine
        config = load_config_text(text, base_dir=tmp_path, file="t.toml")
        assert config.targets[1].mapping["group"]["displayName"] == "Join("


def test_several_broken_expressions_are_all_reported(tmp_path: Path):
    text = DOC + '\n[target.mapping.contact]\ndisplayName = "Nope([cn])"\nuserName = "[mail"\n'
    if EXPRESSIONS_PRESENT:
        with pytest.raises(ConfigError) as info:
            load_config_text(text, base_dir=tmp_path, file="t.toml")
        assert {p.key for p in info.value.problems} == {
            "target[1].mapping.contact.displayName",
            "target[1].mapping.contact.userName",
        }
    else:
        assert load_config_text(text, base_dir=tmp_path).targets[1].mapping["contact"]["userName"] == "[mail"


def test_every_default_mapping_written_out_explicitly_loads(tmp_path: Path):
    head = DOC.split("[target.mapping.user]")[0]
    lines = []
    for kind, mapping in DEFAULT_MAPPINGS.items():
        lines.append(f"[target.mapping.{kind}]")
        lines += [f"{_key(attr)} = '{expr}'" for attr, expr in mapping.items()]  # no ' in defaults
    config = load_config_text(head + "\n".join(lines) + "\n", base_dir=tmp_path)
    assert config.targets[1].mapping == {k: dict(v) for k, v in DEFAULT_MAPPINGS.items()}


def test_a_valid_expression_loads_as_written(tmp_path: Path):
    config = load_config_text(DOC, base_dir=tmp_path)
    assert config.targets[1].mapping["user"]["displayName"] == 'Join(" ", [givenName], [sn])'
    assert config.targets[0].mapping["user"]["displayName"] == "[displayName]"


def _key(attr: str) -> str:
    return '"' + attr.replace("\\", "\\\\").replace('"', '\\"') + '"'

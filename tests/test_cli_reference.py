"""The command reference in docs/cli.md is generated from the parser and must be fresh."""

from pathlib import Path

from hybridsync.engine.cli import COMMANDS
from hybridsync.engine.cli.clidoc import render

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def test_every_interface_command_is_documented_and_the_reference_is_fresh():
    text = render()
    for name in COMMANDS:
        assert f"## `hybridsync {name}`" in text
    assert DOC.read_text(encoding="utf-8") == text, (
        "docs/cli.md is stale: run `python -m hybridsync.engine.cli.clidoc > docs/cli.md`")

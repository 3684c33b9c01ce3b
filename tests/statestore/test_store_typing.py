"""mypy proves that the SQLite ``Store`` satisfies the ``StateStore`` protocol, member by member
with full signatures (the kit's runtime check only sees that the names exist)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

CHECKED = '''
from hybridsync.statestore import StateStore, Store

store: StateStore = Store.open(":memory:")
'''


@pytest.mark.slow
def test_mypy_accepts_the_sqlite_store_as_a_state_store(tmp_path, monkeypatch):
    api = pytest.importorskip("mypy.api")
    # The editable install maps hybridsync's folders with an import hook mypy cannot follow:
    # give mypy the installed package's layout as a tree of links.
    tree = tmp_path / "src" / "hybridsync"
    tree.mkdir(parents=True)
    (tree / "__init__.py").symlink_to(importlib.import_module("hybridsync").__file__)
    for part in ("engine", "connectors", "statestore"):
        folder = Path(importlib.import_module(f"hybridsync.{part}").__file__).parent
        (tree / part).symlink_to(folder, target_is_directory=True)
    checked = tmp_path / "check_store_protocol.py"
    checked.write_text(CHECKED)
    monkeypatch.setenv("MYPYPATH", str(tmp_path / "src"))
    out, err, status = api.run(["--no-error-summary", "--follow-imports=silent",
                                "--cache-dir", str(tmp_path / "cache"), str(checked)])
    assert status == 0, out + err
    assert "store_protocol" not in out

"""Run import-linter over hybridsync's layers (the contracts in pyproject.toml).

hybridsync's top-level folders become one namespace only when installed (pyproject's
package-dir), and grimp walks a top-level package's folder on disk. So this lays the
package out as it is installed -- a temporary ``hybridsync/`` of symbolic links to pkg/'s
files, engine/, connectors/ and statestore/ -- and runs ``lint-imports`` against it.

    .venv/bin/python scripts/lint_imports.py [lint-imports options, e.g. --verbose]

Exit status and report are lint-imports' own; tests/test_layers.py runs this.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"
FOLDERS = {"engine": "engine", "connectors": "connectors", "statestore": "statestore"}


def lay_out(into: Path) -> Path:
    package = into / "hybridsync"
    package.mkdir()
    for item in (ROOT / "pkg").iterdir():
        if item.suffix == ".py":
            (package / item.name).symlink_to(item)
    for name, folder in FOLDERS.items():
        (package / name).symlink_to(ROOT / folder, target_is_directory=True)
    return package


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="hybridsync-layers-") as tmp:
        lay_out(Path(tmp))
        env = dict(os.environ, PYTHONPATH=tmp, PYTHONDONTWRITEBYTECODE="1")
        command = [sys.executable, "-c", RUN, "--no-cache", "--no-logo",
                   str(ROOT / "pyproject.toml"), *argv]
        return subprocess.run(command, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

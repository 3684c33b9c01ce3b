"""Run mypy over the packages held to ``--strict`` (pyproject.toml ``[tool.mypy]``: the
per-module strict settings for hybridsync.engine.core, .config and .mapping, and
hybridsync.connectors.scim), against the package laid out as installed (``layout.py``).

    .venv/bin/python scripts/typecheck.py                      # the strict packages
    .venv/bin/python scripts/typecheck.py -p hybridsync.engine.plan --strict   # any other

Exit status and report are mypy's own; tests/test_types.py runs this.
"""

from __future__ import annotations

import os
import subprocess
import sys

from layout import ROOT, lay_out

STRICT_PACKAGES = ("hybridsync.engine.core", "hybridsync.engine.config", "hybridsync.engine.mapping",
                   "hybridsync.engine.plan", "hybridsync.connectors.scim", "hybridsync.connectors.entra")


def main(argv: list[str]) -> int:
    base = lay_out()
    env = dict(os.environ, MYPYPATH=str(base))
    targets = argv or [arg for p in STRICT_PACKAGES for arg in ("-p", p)]
    command = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
               "--cache-dir", str(base / ".mypy_cache"), *targets]
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    prefix = f"{base}/hybridsync/"  # report the repository's paths, not the layout's
    for line in (run.stdout + run.stderr).splitlines():
        if line.startswith(prefix):
            line = line[len(prefix):]
            line = "pkg/" + line if "/" not in line.split(":", 1)[0] else line
        print(line)
    return run.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

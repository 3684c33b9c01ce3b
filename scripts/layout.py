"""hybridsync laid out as it is installed, for tools that read packages from disk.

The repository's top-level folders become one namespace only when installed (pyproject's
package-dir: pkg/ -> hybridsync, engine/ -> hybridsync.engine, ...). import-linter (grimp) and
mypy find a package by walking its folder, so ``lay_out()`` makes ``<dir>/hybridsync/`` of
symbolic links to pkg/'s files, engine/, connectors/ and statestore/ and returns ``<dir>``, to
put on PYTHONPATH / MYPYPATH. The folder is stable per checkout (tools' caches stay valid).
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("engine", "connectors", "statestore")


def lay_out() -> Path:
    digest = hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
    base = Path(tempfile.gettempdir()) / f"hybridsync-layout-{digest}"
    package = base / "hybridsync"
    package.mkdir(parents=True, exist_ok=True)
    links = {item.name: item for item in (ROOT / "pkg").iterdir() if item.suffix == ".py"}
    links.update({name: ROOT / name for name in FOLDERS})
    for name, target in links.items():
        link = package / name
        if link.is_symlink() and link.resolve() == target.resolve():
            continue
        link.unlink(missing_ok=True)
        try:
            link.symlink_to(target, target_is_directory=target.is_dir())
        except FileExistsError:  # another run laid it out at the same moment
            pass
    return base

"""A real SCIMMY service provider on loopback: npm ``scimmy`` + ``scimmy-routers`` under Express
(Node.js; scimmyjs, another author and ecosystem than scim2-server).

``ScimmyLab().start()`` runs ``node engine/lab/node/scimmy_server.mjs``: SCIMMY parses, validates
and applies requests (filters, PATCH, paging, schemas); the resources live in the child's memory.
Base URL ``http://127.0.0.1:<port>/scim/v2``. Same child protocol and ``/_lab`` backdoor as
``scim.py`` (``ScimLab``), so ``ScimBackdoor`` reads it back. The Node packages are installed by
``scripts/bootstrap.sh`` (``npm ci`` in ``engine/lab/node``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from hybridsync.engine.lab.errors import LabError
from hybridsync.engine.lab.scim import ScimLab

NODE_DIR = Path(__file__).resolve().parent / "node"


class ScimmyLab(ScimLab):
    name = "scimmy"
    base_path = "/scim/v2"

    def command(self) -> list[str]:
        node = shutil.which("node")
        if node is None or not (NODE_DIR / "node_modules" / "scimmy").is_dir():
            raise LabError(f"scimmy lab: needs node and `npm ci` in {NODE_DIR} (scripts/bootstrap.sh installs both)")
        return [node, str(NODE_DIR / "scimmy_server.mjs")]

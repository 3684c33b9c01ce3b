"""A real django-scim2 service provider on loopback (PyPI ``django-scim2``, 15five; Django).

``DjangoScimLab().start()`` runs ``python engine/lab/djangoproj/serve.py``: a tiny
Django project with django-scim2's default adapters and filter parser over SQLite, base URL
``http://127.0.0.1:<port>/scim/v2``. Same child protocol and ``/_lab`` backdoor as ``scim.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hybridsync.engine.lab.scim import ScimLab


class DjangoScimLab(ScimLab):
    name = "django-scim2"
    base_path = "/scim/v2"

    def command(self) -> list[str]:
        return [sys.executable, str(Path(__file__).resolve().parent / "djangoproj" / "serve.py")]

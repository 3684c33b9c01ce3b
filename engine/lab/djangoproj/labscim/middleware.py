"""Bearer check and SCIM request counts of the lab's Django project."""

from __future__ import annotations

import secrets
from collections import Counter
from typing import Any

counts: Counter[str] = Counter()


class Bearer:
    """Authenticates ``Authorization: Bearer <token>`` and counts the SCIM requests."""

    def __init__(self, get_response: Any):
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        from types import SimpleNamespace

        from django.conf import settings

        given = request.headers.get("Authorization", "")
        ok = secrets.compare_digest(given, f"Bearer {settings.LAB_TOKEN}")
        request.user = SimpleNamespace(is_authenticated=ok, is_anonymous=not ok, id=None)
        if request.path.startswith("/scim/v2"):
            endpoint = "/" + request.path.removeprefix("/scim/v2").strip("/").split("/", 1)[0]
            counts[request.method] += 1
            counts[f"{request.method} {endpoint}"] += 1
        return self.get_response(request)

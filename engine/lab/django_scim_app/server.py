"""The child process of ``engine/lab/djangoscim.py``: django-scim2 under wsgiref on loopback.

Binds 127.0.0.1 on a free port, prints ``PORT n``, configures Django (SQLite in a temp file,
django-scim2's default adapters and filter parser, a bearer check) and serves until its owner's
stdin closes. Base URL ``/scim/v2``; the ``/_lab`` backdoor is the one of ``engine/lab/scim.py``.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import tempfile
import threading
from collections import Counter
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

_counts: Counter[str] = Counter()


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def _configure(port: int, token: str, backdoor: str, db: str) -> None:
    from django.conf import settings

    settings.configure(
        DEBUG=False, SECRET_KEY=secrets.token_urlsafe(32), ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django_scim",
                        "hybridsync.engine.lab.django_scim_app.apps.LabScimConfig"],
        AUTH_USER_MODEL="labscim.User", USE_TZ=True,
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": db}},
        MIDDLEWARE=["hybridsync.engine.lab.django_scim_app.server.Bearer",
                    "django_scim.middleware.SCIMAuthCheckMiddleware"],
        ROOT_URLCONF="hybridsync.engine.lab.django_scim_app.urls",
        SCIM_SERVICE_PROVIDER={
            "NETLOC": f"127.0.0.1:{port}", "SCHEME": "http",
            "GROUP_MODEL": "hybridsync.engine.lab.django_scim_app.models.Group",
            "AUTHENTICATION_SCHEMES": [{"type": "oauthbearertoken", "name": "OAuth Bearer Token",
                                        "description": "the lab's bearer token"}],
        },
        LAB_TOKEN=token, LAB_BACKDOOR=backdoor,
        LOGGING_CONFIG=None,
    )


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
            _counts[request.method] += 1
            _counts[f"{request.method} {endpoint}"] += 1
        return self.get_response(request)


def main() -> None:  # pragma: no cover - runs in the child process
    token = os.environ.pop("HYBRIDSYNC_LAB_SCIM_TOKEN")
    backdoor = os.environ.pop("HYBRIDSYNC_LAB_SCIM_BACKDOOR")
    options = json.loads(os.environ.pop("HYBRIDSYNC_LAB_SCIM_FEATURES", "{}"))
    holder: dict[str, Any] = {}

    def app(environ: Any, start_response: Any) -> Any:
        return holder["app"](environ, start_response)

    server: WSGIServer = make_server("127.0.0.1", int(options.get("port") or 0), app, handler_class=_Quiet)
    tmp = tempfile.mkdtemp(prefix="hybridsync-djangoscim-")
    _configure(server.server_port, token, backdoor, os.path.join(tmp, "scim.db"))
    import django
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application

    django.setup()
    call_command("migrate", run_syncdb=True, verbosity=0)
    holder["app"] = get_wsgi_application()
    if options.get("tie"):
        def exit_when_owner_ends() -> None:
            sys.stdin.buffer.read()
            os._exit(0)

        threading.Thread(target=exit_when_owner_ends, daemon=True).start()
    print(f"PORT {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":  # pragma: no cover
    main()

"""The child process of ``engine/lab/djangoscim.py``: django-scim2 under wsgiref on loopback.

Run as a script (``python serve.py``): this folder is not a package of hybridsync (Django's
modules can't be imported without settings), so its ``labscim`` app is found next to it.

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
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def _configure(port: int, token: str, backdoor: str, db: str) -> None:
    from django.conf import settings

    settings.configure(
        DEBUG=False, SECRET_KEY=secrets.token_urlsafe(32), ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django_scim",
                        "labscim.apps.LabScimConfig"],
        AUTH_USER_MODEL="labscim.User", USE_TZ=True,
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": db}},
        MIDDLEWARE=["labscim.middleware.Bearer",
                    "django_scim.middleware.SCIMAuthCheckMiddleware"],
        ROOT_URLCONF="labscim.urls",
        SCIM_SERVICE_PROVIDER={
            "NETLOC": f"127.0.0.1:{port}", "SCHEME": "http",
            "GROUP_MODEL": "labscim.models.Group",
            "AUTHENTICATION_SCHEMES": [{"type": "oauthbearertoken", "name": "OAuth Bearer Token",
                                        "description": "the lab's bearer token"}],
        },
        LAB_TOKEN=token, LAB_BACKDOOR=backdoor,
        LOGGING_CONFIG=None,
    )


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

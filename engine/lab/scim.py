"""A real scim2-server on loopback, under uvicorn (ASGI, keep-alive), with a bearer token.

``ScimLab().start()`` runs ``python -m hybridsync.engine.lab.scim`` in a child process: the child
binds a free port on 127.0.0.1 itself (no race), prints it, and serves scim2-server's
``ASGIApplication`` over an in-memory storage at ``http://127.0.0.1:<port>/v2``.

The bearer token and the backdoor token are random per lab and reach the child through its
environment, never its command line. The backdoor (``/_lab/...``, its own token) reads back,
seeds and resets what the server holds without going through SCIM, and counts the SCIM requests
the server has served (per method), so tests and benches can check a connector's cost from the
server's side. Service provider features can be switched off per lab (``patch=False``,
``etag=False``, ``filter=False``) to exercise a connector's fallbacks against the real server.
``port=`` and ``token=`` pin them (for ``hybridsync lab`` and its written config); by default the
port is free and the token random.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from hybridsync.engine.lab.guard import refuse_if_forbidden

_TOKEN_ENV = "HYBRIDSYNC_LAB_SCIM_TOKEN"
_BACKDOOR_ENV = "HYBRIDSYNC_LAB_SCIM_BACKDOOR"
_FEATURES_ENV = "HYBRIDSYNC_LAB_SCIM_FEATURES"
_BACKDOOR_HEADER = "X-Lab-Backdoor"
# what ScimBackdoor.find compares: the SCIM attribute -> scim2-models' field
FINDABLE = {"id": "id", "userName": "user_name", "displayName": "display_name", "externalId": "external_id"}


class ScimBackdoor:
    """Direct access to the lab server's storage (bypasses SCIM; for seeding and inspection)."""

    def __init__(self, url: str, token: str):
        self._client = httpx.Client(base_url=url, headers={_BACKDOOR_HEADER: token}, timeout=120)

    def __repr__(self) -> str:
        return f"ScimBackdoor({str(self._client.base_url)!r})"

    def _call(self, method: str, path: str, body: Any = None, query: Mapping[str, str] | None = None) -> Any:
        response = self._client.request(method, path, json=body, params=query)
        response.raise_for_status()
        return response.json() if response.content else None

    def reset(self) -> None:
        """Drop every resource and zero the request counters."""
        self._call("POST", "/_lab/reset")

    def resources(self, resource_type: str | None = None, *, members: bool = True) -> list[dict[str, Any]]:
        """Every stored resource (of one type), as SCIM JSON; ``members=False`` drops member lists."""
        q = {"type": resource_type or "", "members": "1" if members else "0"}
        return self._call("GET", "/_lab/resources?" + "&".join(f"{k}={v}" for k, v in q.items()))

    def find(self, resource_type: str, attribute: str, value: str, *, members: bool = True) -> list[dict[str, Any]]:
        """The stored resources of one type whose ``attribute`` (one of ``FINDABLE``) equals
        ``value``, compared case-insensitively: one cheap read where ``resources`` serializes
        every resource (seconds for the lab's 5,000 users, while the server answers nothing else)."""
        q = {"type": resource_type, "members": "1" if members else "0", "attribute": attribute, "value": value}
        return self._call("GET", "/_lab/resources", query=q)

    def get(self, resource_id: str) -> dict[str, Any] | None:
        response = self._client.get(f"/_lab/resources/{resource_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def seed(self, resource_type: str, resources: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Store resources as they are (ids assigned by the server); returns them as stored."""
        return self._call("POST", "/_lab/seed", {"type": resource_type, "resources": list(resources)})

    def remove(self, resource_id: str) -> None:
        self._call("DELETE", f"/_lab/resources/{resource_id}")

    def requests(self) -> Counter[str]:
        """SCIM requests served since the last reset, keyed ``"METHOD /Endpoint"`` and ``"METHOD"``."""
        return Counter(self._call("GET", "/_lab/requests"))

    def close(self) -> None:
        self._client.close()


class ScimLab:
    """Start / stop one scim2-server child process. Use as a context manager or call start/stop.

    Other servers (``scimmy.py``, ``djangoscim.py``) subclass it: ``name``, ``base_path`` and
    ``command()`` say what to run; the child protocol (``PORT n``, the tokens in the environment,
    the ``/_lab`` backdoor, exit on stdin EOF) is the same."""

    name = "scim2-server"
    base_path = "/v2"

    def __init__(self, *, patch: bool = True, etag: bool = True, filter: bool = True, bulk: bool = True,
                 port: int = 0, token: str | None = None):
        self.token = token or secrets.token_urlsafe(24)
        self._want_port = port
        self._backdoor_token = secrets.token_urlsafe(24)
        self.features = {"patch": patch, "etag": etag, "filter": filter, "bulk": bulk}
        self.port: int | None = None
        self._proc: subprocess.Popen[str] | None = None
        self.backdoor: ScimBackdoor | None = None
        self.token_file: str | None = None  # set by the pytest plugin: a 0600 file holding the token

    def __repr__(self) -> str:  # the token is never shown
        return f"{type(self).__name__}(url={self.url!r}, features={self.features})"

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.root}{self.base_path}" if self.port else ""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "hybridsync.engine.lab.scim"]

    def start(self, timeout: float = 30.0, *, tie_to_parent: bool = True) -> "ScimLab":
        """Start the server. ``tie_to_parent``: the child exits when this process ends, even by
        SIGKILL (it watches a pipe from us for EOF), so a killed test run leaves no server."""
        refuse_if_forbidden("scim", f"starting the lab {self.name}")
        env = dict(os.environ)
        env[_TOKEN_ENV] = self.token
        env[_BACKDOOR_ENV] = self._backdoor_token
        env[_FEATURES_ENV] = json.dumps({**self.features, "port": self._want_port, "tie": tie_to_parent})
        self._proc = subprocess.Popen(
            self.command(),
            env=env,
            stdin=subprocess.PIPE if tie_to_parent else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=not tie_to_parent,
        )
        assert self._proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = self._proc.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"{self.name} lab did not start (said {line.strip()!r})")
        self.port = int(line.split()[1])
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/ServiceProviderConfig", timeout=2).status_code in (200, 401):
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError(f"{self.name} lab did not answer in time")
        self.backdoor = ScimBackdoor(self.root, self._backdoor_token)
        return self

    def reset(self) -> None:
        assert self.backdoor is not None, "lab not started"
        self.backdoor.reset()

    def stop(self) -> None:
        if self.backdoor is not None:
            self.backdoor.close()
            self.backdoor = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            for pipe in (self._proc.stdout, self._proc.stdin):
                if pipe:
                    pipe.close()
            self._proc = None

    def __enter__(self) -> "ScimLab":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------------
# The child process: scim2-server's ASGI application, a bearer check and the backdoor.
# ---------------------------------------------------------------------------------------------


def build_app(token: str, backdoor_token: str, features: Mapping[str, bool]) -> Any:
    from scim2_models import UnauthorizedException
    from scim2_server.applications.asgi import ASGIApplication
    from scim2_server.memory import AsyncInMemoryStorage, InMemoryStorage
    from scim2_server.testserver.application import BEARER_TOKEN_SCHEME
    from scim2_server.utils import (
        load_default_resource_types,
        load_default_schemas,
        load_default_service_provider_config,
    )
    from scim2_models import ScimProvider

    config = load_default_service_provider_config()
    config.patch.supported = features.get("patch", True)
    config.etag.supported = features.get("etag", True)
    config.filter.supported = features.get("filter", True)
    config.bulk.supported = features.get("bulk", True)
    config.authentication_schemes = [BEARER_TOKEN_SCHEME]
    provider = ScimProvider.from_discovery(
        load_default_schemas().values(), load_default_resource_types().values(), config=config
    )
    memory = InMemoryStorage()
    counts: Counter[str] = Counter()

    class LabApplication(ASGIApplication):
        def check_auth(self, request: Any) -> None:
            scheme, _, given = (request.header("Authorization") or "").partition(" ")
            if scheme.lower() != "bearer" or not secrets.compare_digest(given, token):
                raise UnauthorizedException

    scim = LabApplication(AsyncInMemoryStorage(memory), provider)
    types = {rt.name: rt for rt in load_default_resource_types().values()}

    def dump(resource: Any, members: bool = True) -> dict[str, Any]:
        data = resource.model_dump(mode="json", by_alias=True, exclude_none=True)
        if not members:
            data.pop("members", None)
        return data

    def backdoor(method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if path == "/_lab/reset" and method == "POST":
            memory.resources = []
            counts.clear()
            return 204, None
        if path == "/_lab/requests":
            return 200, dict(counts)
        if path == "/_lab/resources" and method == "GET":
            wanted = query.get("type") or None
            members = query.get("members", "1") == "1"
            field = FINDABLE.get(query["attribute"]) if "attribute" in query else None
            if "attribute" in query and field is None:
                return 400, {"detail": f"attribute must be one of {sorted(FINDABLE)}"}
            value = query.get("value", "").casefold()
            return 200, [
                dump(r, members)
                for r in memory.resources
                if (wanted is None or (r.meta and r.meta.resource_type == wanted))
                and (field is None or str(getattr(r, field, None) or "").casefold() == value)
            ]
        if path.startswith("/_lab/resources/"):
            rid = path.rsplit("/", 1)[1]
            found = next((r for r in memory.resources if r.id == rid), None)
            if found is None:
                return 404, None
            if method == "DELETE":
                memory.delete(types[found.meta.resource_type], rid)
                return 204, None
            return 200, dump(found)
        if path == "/_lab/seed" and method == "POST":
            rt = types[body["type"]]
            model = scim.service.get_model(rt)
            with memory.lock:
                out = [dump(memory.create(rt, model.model_validate(r))) for r in body["resources"]]
            return 200, out
        return 404, None

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/_lab/"):
            headers = dict(scope["headers"])
            given = headers.get(_BACKDOOR_HEADER.lower().encode(), b"").decode()
            body = await _read_body(receive)
            if not secrets.compare_digest(given, backdoor_token):
                status, payload = 401, None
            else:
                from urllib.parse import parse_qsl

                query = dict(parse_qsl(scope["query_string"].decode()))
                status, payload = backdoor(scope["method"], scope["path"], query, json.loads(body) if body else None)
            data = b"" if payload is None else json.dumps(payload).encode()
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": data})
            return
        if scope["type"] == "http":
            endpoint = "/" + scope["path"].removeprefix("/v2").strip("/").split("/", 1)[0]
            counts[scope["method"]] += 1
            counts[f"{scope['method']} {endpoint}"] += 1
            if endpoint == "/Bulk" and scope["method"] == "POST":
                receive = await _count_bulk_operations(receive, counts)
        await scim(scope, receive, send)

    return app


async def _read_body(receive: Any) -> bytes:
    """An ASGI request's whole body."""
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


async def _count_bulk_operations(receive: Any, counts: Counter[str]) -> Any:
    """Count each operation of a /Bulk request as ``"BULK <METHOD> /<Endpoint>"`` (a create sent
    in bulk is still a create: tests that count creates add these), then hand the body on."""
    body = await _read_body(receive)
    try:
        operations = json.loads(body).get("Operations") or []
    except (ValueError, AttributeError):
        operations = []  # the server answers the garbage itself
    for op in operations if isinstance(operations, list) else []:
        if isinstance(op, dict) and isinstance(op.get("path"), str):
            endpoint = "/" + op["path"].strip("/").split("/", 1)[0]
            counts[f"BULK {str(op.get('method', '')).upper()} {endpoint}"] += 1
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return await receive()  # a disconnect, as the server would have seen it
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _serve() -> None:  # pragma: no cover - runs in the child process
    import asyncio
    import socket

    import uvicorn

    token = os.environ.pop(_TOKEN_ENV)
    backdoor_token = os.environ.pop(_BACKDOOR_ENV)
    features = json.loads(os.environ.pop(_FEATURES_ENV, "{}"))
    app = build_app(token, backdoor_token, features)
    if features.get("tie"):
        import threading

        def exit_when_owner_ends() -> None:
            sys.stdin.buffer.read()  # EOF: the process that started us is gone
            os._exit(0)

        threading.Thread(target=exit_when_owner_ends, daemon=True).start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # accepted sockets inherit it: without it uvicorn's separate header/body writes wait for
    # the client's delayed ACK (~40 ms per response on loopback)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", int(features.get("port") or 0)))
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            timeout_keep_alive=60)
    server = uvicorn.Server(config)
    asyncio.run(server.serve(sockets=[sock]))


if __name__ == "__main__":  # pragma: no cover
    _serve()

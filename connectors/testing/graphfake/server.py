"""``GraphFake``: the fake Graph and token endpoint on 127.0.0.1, in a thread of this process.

- ``start()`` binds a free loopback port (``ThreadingHTTPServer``) and serves in a daemon thread;
  ``stop()`` shuts it down; also a context manager.
- ``graph_url`` is ``http://127.0.0.1:<port>/v1.0``; ``token_url`` is
  ``http://127.0.0.1:<port>/<tenant>/oauth2/v2.0/token`` (client credentials with
  ``knobs.client_id`` / ``knobs.client_secret``); ``token()`` issues one without HTTP.
- ``configure(**changes)`` swaps the frozen ``Knobs``; ``clock.advance(s)`` moves time (replication
  lag, throttling window, 30-day retention) without sleeping; ``force_batch_throttle(n)`` makes the
  next n ``$batch`` items answer 429.
- ``backdoor`` reads and seeds what the fake holds without going through Graph (users, groups,
  members, org contacts -- which Graph itself cannot create) and counts the requests served.
Nothing here configures logging; the request log of ``http.server`` is silenced.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs

from hybridsync.connectors.testing.graphfake import batch, groups, router, users
from hybridsync.connectors.testing.graphfake.auth import Tokens
from hybridsync.connectors.testing.graphfake.errors import GraphError, Reply
from hybridsync.connectors.testing.graphfake.request import Request, iso_now
from hybridsync.connectors.testing.graphfake.state import Clock, Directory, DirObject, Knobs
from hybridsync.connectors.testing.graphfake.throttle import WriteQuota

_TOKEN_PATH = re.compile(r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/token$")


class Backdoor:
    """Direct access to the fake's state (bypasses Graph; for seeding and inspection)."""

    def __init__(self, fake: "GraphFake"):
        self._fake = fake
        self.requests: Counter[str] = Counter()

    @property
    def _d(self) -> Directory:
        return self._fake.directory

    def users(self, *, deleted: bool = False) -> list[dict[str, Any]]:
        with self._d.lock:
            return [{**users.serialize(self._d, o), "passwordProfile": o.data.get("passwordProfile")}
                    for o in self._d.objects.values() if o.kind == "user" and (o.deleted_at is not None) == deleted]

    def groups(self, *, deleted: bool = False) -> list[dict[str, Any]]:
        with self._d.lock:
            return [groups.serialize(self._d, o) for o in self._d.objects.values()
                    if o.kind == "group" and (o.deleted_at is not None) == deleted]

    def get(self, object_id: str) -> dict[str, Any] | None:
        with self._d.lock:
            obj = self._d.objects.get(object_id)
            return None if obj is None else {"kind": obj.kind, "id": obj.id, **obj.data,
                                             "deleted": obj.deleted_at is not None}

    def members(self, group_id: str) -> set[str]:
        with self._d.lock:
            return set(self._d.objects[group_id].members)

    def expire_delta_links(self) -> None:
        """Every deltaLink handed out so far answers "expired" (the client must resync)."""
        with self._d.lock:
            self._d.delta_issued.clear()

    def cloud_edit(self, object_id: str, **changes: Any) -> None:
        """Change an object as an admin in the portal would (no validation; recorded for delta)."""
        with self._d.lock:
            obj = self._d.objects[object_id]
            obj.data.update(changes)
            self._d.record(obj.kind, obj.id)

    def manager(self, user_id: str) -> str | None:
        """The id of the user's manager (the navigation property), or None."""
        with self._d.lock:
            return self._d.objects[user_id].manager

    def seed(self, kind: str, data: dict[str, Any]) -> str:
        """Store an object as is (no validation, no replication lag); returns its id. The only
        way to get an orgContact, which Graph cannot create."""
        with self._d.lock:
            obj = DirObject(kind, self._d.new_id(), {"createdDateTime": iso_now(), **data}, float("-inf"))
            self._d.objects[obj.id] = obj
            self._d.record(kind, obj.id)
            return obj.id

    def reset(self) -> None:
        self._fake._reset_state()
        self.requests.clear()


class GraphFake:
    def __init__(self, knobs: Knobs | None = None):
        self.clock = Clock()
        self.directory = Directory(knobs or Knobs(), self.clock)
        self.tokens = Tokens(self.clock)
        self.quota = WriteQuota()
        self.batch_throttle = batch.BatchThrottle()
        self.backdoor = Backdoor(self)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"GraphFake(graph_url={self.graph_url!r})"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> "GraphFake":
        handler = type("GraphFakeHandler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.directory.base_url = self.graph_url
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="graphfake", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "GraphFake":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses and knobs ---------------------------------------------------------------------
    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}" if self._server else ""

    @property
    def graph_url(self) -> str:
        return f"{self.root}/v1.0" if self._server else ""

    @property
    def token_url(self) -> str:
        return f"{self.root}/{self.knobs.tenant}/oauth2/v2.0/token" if self._server else ""

    @property
    def knobs(self) -> Knobs:
        return self.directory.knobs

    def configure(self, **changes: Any) -> Knobs:
        self.directory.knobs = attrs.evolve(self.directory.knobs, **changes)
        return self.directory.knobs

    def token(self) -> str:
        return self.tokens.issue(self.knobs.token_lifetime)

    def force_batch_throttle(self, items: int) -> None:
        self.batch_throttle.remaining = items

    def _reset_state(self) -> None:
        with self.directory.lock:
            self.directory = Directory(self.directory.knobs, self.clock)
            self.directory.base_url = self.graph_url
        self.quota.reset()
        self.batch_throttle.remaining = 0

    # -- one request ---------------------------------------------------------------------------
    def answer(self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes) -> Reply:
        parts = urlsplit(raw_path)
        token_match = _TOKEN_PATH.match(parts.path)
        if token_match and method == "POST":
            return self.tokens.token_endpoint(self.knobs, token_match.group("tenant"), raw_body,
                                              endpoint=f"{self.root}{parts.path}")
        if not parts.path.startswith("/v1.0/"):
            return GraphError(404, "NotFound", f"No route for {parts.path}.").reply()
        path = parts.path[len("/v1.0"):]
        self.backdoor.requests[f"{method} {re.sub(r'/[0-9a-f-]{36}', '/{id}', path)}"] += 1
        self.backdoor.requests[method] += 1
        try:
            self.tokens.check(headers.get("authorization"))
            body = None
            if raw_body:
                try:
                    body = json.loads(raw_body)
                except ValueError as exc:
                    raise GraphError(400, "BadRequest", "Unable to read JSON request payload.") from exc
            req = Request(method, path, dict(parse_qsl(parts.query, keep_blank_values=True)), body, headers)
            if path == "/$batch" and method == "POST":
                return batch.handle(self.directory, self.quota, self.batch_throttle, req)
            return router.dispatch(self.directory, self.quota, req)
        except GraphError as exc:
            return exc.reply()


class _Handler(BaseHTTPRequestHandler):
    fake: GraphFake
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        pass  # no request log on stderr; the library configures no logging

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.fake.answer(self.command, self.path, headers, raw)
        data = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        for k, v in reply.headers.items():
            self.send_header(k, v)
        if reply.body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

"""``HostileServer``: a loopback HTTP/1.1 server answering each request with an ``Answer``.

An ``Answer`` says the status line, headers and body, and how to misbehave while sending them:
``stall`` seconds before the first byte, ``drip`` seconds between body bytes, ``filler`` bytes of
padding streamed after the body (an oversized answer without holding it in memory), and a
``content_length`` that may lie. ``{{authorization}}`` in a body is replaced by the request's
``Authorization`` header (a server that echoes credentials into its error text); ``{{base}}`` by
the server's URL (a link that leads back to it). Every connection is closed after its answer. Requests are kept in
``seen`` (method, path, headers, body) so tests can check what the client sent.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs
from attrs import field, frozen

CHUNK = 64 * 1024
ECHO = b"{{authorization}}"  # in an Answer's body: replaced by the request's Authorization header
BASE = b"{{base}}"  # in an Answer's body: replaced by the server's URL (a link back to itself)


@frozen
class Answer:
    status: int = 200
    headers: Mapping[str, str] = field(factory=dict)
    body: bytes = b""
    stall: float = 0.0  # seconds before anything is sent
    drip: float = 0.0  # seconds between body bytes (0: all at once)
    filler: int = 0  # bytes of padding streamed after ``body``
    content_length: int | None = None  # None: the true length; else what is claimed

    @classmethod
    def json(cls, status: int, doc: Any, **kw: Any) -> "Answer":
        import json

        return cls(status, {"Content-Type": "application/scim+json"}, json.dumps(doc).encode(), **kw)


@frozen
class Seen:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes


Script = Callable[[Seen], Answer]


class _Handler(socketserver.StreamRequestHandler):
    server: "_Server"

    def handle(self) -> None:
        try:
            seen = self._read_request()
        except (OSError, ValueError):
            return
        if seen is None:
            return
        owner = self.server.owner
        owner.seen.append(seen)
        try:
            answer = owner.script(seen)
            if BASE in answer.body:  # a link back to this server (e.g. a paging link that loops)
                answer = attrs.evolve(answer, body=answer.body.replace(BASE, owner.url.encode()))
            if ECHO in answer.body:  # a server that quotes our credentials back
                quoted = json.dumps(seen.headers.get("authorization", ""))[1:-1].encode()
                answer = attrs.evolve(answer, body=answer.body.replace(ECHO, quoted))
            self._answer(answer, owner.stopping)
        except OSError:  # the client gave up: that is what the test wants to see
            pass

    def _read_request(self) -> Seen | None:
        line = self.rfile.readline(65537).decode("latin-1").strip()
        if not line:
            return None
        method, path, _ = (line.split(" ", 2) + ["", ""])[:3]
        headers: dict[str, str] = {}
        while True:
            h = self.rfile.readline(65537).decode("latin-1")
            if h in ("\r\n", "\n", ""):
                break
            name, _, value = h.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        body = self.rfile.read(length) if length else b""
        return Seen(method, path, headers, body)

    def _answer(self, a: Answer, stopping: threading.Event) -> None:
        if a.stall and stopping.wait(a.stall):
            return
        total = len(a.body) + a.filler
        length = total if a.content_length is None else a.content_length
        head = [f"HTTP/1.1 {a.status} X", f"Content-Length: {length}", "Connection: close"]
        head += [f"{k}: {v}" for k, v in a.headers.items() if k.lower() not in ("content-length", "connection")]
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1", "replace"))
        self.wfile.flush()
        if a.drip:
            for i in range(len(a.body)):
                self.wfile.write(a.body[i:i + 1])
                self.wfile.flush()
                if stopping.wait(a.drip):
                    return
        else:
            self.wfile.write(a.body)
        left = a.filler
        pad = b" " * CHUNK
        while left > 0 and not stopping.is_set():
            n = min(left, CHUNK)
            self.wfile.write(pad[:n])
            left -= n
        self.wfile.flush()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: "HostileServer"


class HostileServer:
    """Serve ``script`` (an ``Answer`` for every request, or a callable ``Seen -> Answer``) on
    127.0.0.1 at a free port until ``close()``; a context manager."""

    def __init__(self, script: Answer | Script, *, path: str = "/scim/v2"):
        self.script: Script = (lambda _seen: script) if isinstance(script, Answer) else script
        self.seen: list[Seen] = []
        self.stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}{path}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="hostile-server", daemon=True)
        self._thread.start()

    def __enter__(self) -> "HostileServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

"""A loopback proxy in front of a real SCIM server that misbehaves on ``POST /Bulk`` only.

``mode``: None (pass through), "drop" (forward the bulk, then close the connection without an
answer), "no-location" (forward, then strip ``location`` from every 201 answer), "omit" (forward,
then leave every second op out of the answer), "501" (answer 501 without forwarding). ``once``:
misbehave on the first /Bulk only. ``bulks`` counts the /Bulk requests seen."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


class BulkProxy:
    def __init__(self, upstream_root: str, mode: str | None = None, *, once: bool = False):
        self.mode, self.once, self.bulks = mode, once, 0
        client = httpx.Client(base_url=upstream_root, timeout=30)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                mode = None
                if self.command == "POST" and self.path.split("?")[0].endswith("/Bulk"):
                    with lock:
                        proxy.bulks += 1
                        mode = proxy.mode if not (proxy.once and proxy.bulks > 1) else None
                if mode == "501":
                    return self._answer(501, {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                                              "status": "501", "detail": "bulk not implemented"})
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type",
                                                                                  "if-match", "accept")}
                resp = client.request(self.command, self.path, content=body, headers=headers)
                if mode == "drop":
                    self.close_connection = True
                    return  # processed upstream, no answer
                data = resp.content
                if mode in ("no-location", "omit") and resp.status_code == 200:
                    answer = resp.json()
                    ops = answer["Operations"]
                    if mode == "no-location":
                        for op in ops:
                            op.pop("location", None)
                    else:
                        answer["Operations"] = ops[::2]
                    data = json.dumps(answer).encode()
                self._raw(resp.status_code, data, resp.headers.get("content-type", "application/scim+json"))

            def _answer(self, status: int, body: object) -> None:
                self._raw(status, json.dumps(body).encode(), "application/scim+json")

            def _raw(self, status: int, data: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        lock = threading.Lock()
        self._client = client
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

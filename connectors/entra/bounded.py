"""One HTTP exchange with an overall deadline and a size cap (Graph calls and token requests).

``timeout`` seconds for connect + send + the whole answer: the per-phase timeouts httpx hands to
httpcore are read from a mapping that answers the time left at each socket operation, so a
server that drip-feeds or stalls mid-body cannot hold a request past the deadline
(``DeadlineExceeded``); the body is streamed and capped at ``max_response_bytes``
(``ResponseTooLarge``). Both are ``httpx.RequestError``s: the target answers them as a
retriable, uncertain failure. (The same rules as the SCIM transport, connectors/scim/transport.py.)
"""

from __future__ import annotations

import time
from typing import Any

import httpx

# the SCIM transport's deadline mapping and capped reader: the same DeadlineExceeded and
# ResponseTooLarge for both connectors
from hybridsync.connectors.scim.transport import TimeLeft, read_capped


def exchange(client: httpx.Client, method: str, url: str, *, timeout: float, cap: int,
             **kwargs: Any) -> tuple[int, httpx.Headers, bytes]:
    """(status, headers, body) of one request, within ``timeout`` seconds and ``cap`` bytes."""
    deadline = time.monotonic() + timeout
    built = client.build_request(method, url, **kwargs)
    built.extensions["timeout"] = TimeLeft(deadline)
    response = client.send(built, stream=True)
    try:
        body = read_capped(response, built, deadline=deadline, cap=cap, timeout=timeout)
    finally:
        response.close()
    return response.status_code, response.headers, body

"""Name resolution under the request's deadline.

httpcore connects with ``socket.create_connection``, whose ``getaddrinfo`` has no timeout: a
resolver that stalls (a dead DNS server, a broken ``/etc/resolv.conf``, an NSS module waiting on
LDAP) would hold a request far past ``timeout``, outside the overall deadline
``transport.Transport`` promises. ``DeadlineBackend`` is httpcore's own synchronous network
backend with one change: the host is resolved on a helper thread that the caller waits for only
until the connect timeout (the time left before the deadline), then the connection goes to the
resolved address. TLS (SNI, certificate name) and the ``Host`` header still use the name:
httpcore takes them from the request's origin, never from the address connected to.

A resolution past the deadline raises ``httpcore.ConnectTimeout`` (httpx: ``ConnectTimeout``, a
retriable failure); the stalled lookup finishes on its own daemon thread, and at most
``MAX_PENDING`` such lookups run at once (beyond that a request waits, still bounded by its
deadline, for one to end). A failed resolution raises ``httpcore.ConnectError`` naming the host.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

MAX_PENDING = 8
_pending = threading.BoundedSemaphore(MAX_PENDING)


def resolve_within(host: str, port: int, deadline: float | None) -> list[str]:
    """The addresses of ``host`` (in the resolver's order), or ``httpcore.ConnectTimeout`` when
    they are not known by ``deadline`` (``time.monotonic``; None: wait as long as it takes)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass

    def left() -> float | None:
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    if not _pending.acquire(timeout=left()):
        raise httpcore.ConnectTimeout(f"name resolution of {host}: no resolver slot before the deadline")
    box: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            box["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            box["error"] = exc
        finally:
            done.set()
            _pending.release()

    threading.Thread(target=work, name=f"resolve {host}", daemon=True).start()
    if not done.wait(left()):
        raise httpcore.ConnectTimeout(f"name resolution of {host} did not finish before the deadline")
    if "error" in box:
        raise httpcore.ConnectError(f"name resolution of {host} failed ({type(box['error']).__name__})")
    out: list[str] = []
    for info in box["infos"]:
        address = str(info[4][0])
        if address not in out:
            out.append(address)
    if not out:
        raise httpcore.ConnectError(f"name resolution of {host} gave no address")
    return out


class DeadlineBackend(httpcore.SyncBackend):
    """httpcore's SyncBackend, resolving under the connect timeout (see the module docstring)."""

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        deadline = None if timeout is None else time.monotonic() + timeout
        error: Exception | None = None
        for address in resolve_within(host, port, deadline):
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise httpcore.ConnectTimeout(f"connect to {host}:{port} did not finish before the deadline")
            try:
                return super().connect_tcp(address, port, left, local_address, socket_options)
            except httpcore.ConnectTimeout:
                raise
            except httpcore.ConnectError as exc:  # the next address, as create_connection would
                error = exc
        raise error or httpcore.ConnectError(f"connect to {host}:{port} failed")


def bound_resolution(client: httpx.Client) -> httpx.Client:
    """``client`` with every httpcore pool it holds (the default one and the proxies it took from
    the environment) resolving under the deadline. Pools of other kinds are left as they are."""
    transports = [getattr(client, "_transport", None), *getattr(client, "_mounts", {}).values()]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        if isinstance(pool, httpcore.ConnectionPool) and hasattr(pool, "_network_backend"):
            pool._network_backend = DeadlineBackend()
    return client

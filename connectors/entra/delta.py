"""Changes made in the tenant since the last round, through the delta links kept between cycles.

https://learn.microsoft.com/graph/delta-query-overview, /graph/api/user-delta, /group-delta: a
first ``/users/delta`` round lists every object and ends in an ``@odata.deltaLink``; a later
request with that link lists only the objects changed since, in their current state, and the
deleted ones as ``@removed``. The links are kept per kind here and published in ``describe()``
(the engine stores it as the target's profile); ``restore_links`` takes them back after a
restart, so the next cycle reads only what changed meanwhile.

An expired or unknown link (Graph: 400 ``syncStateNotFound`` -- identity delta links live seven
days --, 410 Gone / ``resyncRequired``, ``syncStateInvalid``) falls back to a full round, which
sets a new link. A round that does not end in a deltaLink proves nothing: ``RetryAfter``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import attrs

from hybridsync.connectors.base import RetryAfter, Terminal
from hybridsync.connectors.entra import check, prepare
from hybridsync.connectors.entra.transport import Request, Response
from hybridsync.engine.core.values import ObjectKind, TargetObject

RESYNC_CODES = frozenset({"syncStateNotFound", "resyncRequired", "syncStateInvalid"})
_SEGMENT = {ObjectKind.USER: "users", ObjectKind.GROUP: "groups"}
_SELECT = {ObjectKind.USER: prepare.USER_SELECT, ObjectKind.GROUP: prepare.GROUP_SELECT}


@attrs.frozen
class Changes:
    """What a delta round said: objects changed (current state), ids removed, and whether the
    round was a full one (no link, or the link had expired)."""

    changed: tuple[TargetObject, ...] = ()
    removed: tuple[str, ...] = ()
    full: bool = False


class Host(Protocol):
    @property
    def graph_url(self) -> str: ...

    def exchange(self, request: Request, what: str) -> Response | RetryAfter | Terminal: ...

    def fail(self, resp: Response, what: str) -> RetryAfter | Terminal: ...


class Delta:
    def __init__(self, host: Host):
        self._host = host
        self.links: dict[str, str] = {}  # kind -> the deltaLink the last round ended in

    def restore_links(self, profile: Mapping[str, Any] | None) -> None:
        """Take back the links a previous run published (``describe()["delta_links"]``)."""
        links = (profile or {}).get("delta_links")
        if isinstance(links, Mapping):
            base = self._host.graph_url + "/"
            self.links.update({str(k): v for k, v in links.items()
                               if isinstance(v, str) and v.startswith(base) and str(k) not in self.links})

    def changes(self, kind: ObjectKind) -> Changes | RetryAfter | Terminal:
        """The objects of ``kind`` changed since the last round (a full round the first time)."""
        what = f"delta {kind}"
        link = self.links.get(str(kind))
        got = self._round(kind, link, what) if link is not None else None
        if got is None or isinstance(got, Response):  # no link yet, or it must resync: a full round
            got = self._round(kind, None, what)
        return got if not isinstance(got, Response) else self._host.fail(got, what)

    def _round(self, kind: ObjectKind, link: str | None, what: str) -> Changes | RetryAfter | Terminal | Response:
        base = self._host.graph_url
        path, params = (link[len(base):], {}) if link else (f"/{_SEGMENT[kind]}/delta", {"$select": _SELECT[kind]})
        changed: list[TargetObject] = []
        removed: list[str] = []
        followed: set[str] = set()
        while True:
            resp = self._host.exchange(Request("GET", path, params=params), what)
            if not isinstance(resp, Response):
                return resp
            if resp.status != 200:
                return resp if link is not None and _resync(resp) else self._host.fail(resp, what)
            items = check.collection(resp.body, removed_ok=True)
            if items is None:
                return check.unreadable(what, resp.status)
            for o in items:
                if "@removed" in o:
                    removed.append(str(o["id"]))
                else:
                    changed.append(prepare.flatten(o, kind))
            next_link, delta_link = resp.body.get("@odata.nextLink"), resp.body.get("@odata.deltaLink")
            if next_link is None and isinstance(delta_link, str) and delta_link.startswith(base + "/"):
                self.links[str(kind)] = delta_link
                return Changes(tuple(changed), tuple(removed), full=link is None)
            if not isinstance(next_link, str) or not next_link.startswith(base + "/") or next_link in followed:
                return RetryAfter(check.RETRY_5XX, f"{what}: the delta round did not end in a deltaLink", resp.status)
            followed.add(next_link)
            path, params = next_link[len(base):], {}


def _resync(got: object) -> bool:
    """An answer saying the link can no longer be used: start a full round."""
    if not isinstance(got, Response):
        return False
    code, _ = check.error(got.body)
    return got.status == 410 or (got.status == 400 and code in RESYNC_CODES)

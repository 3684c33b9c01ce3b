"""Deleted items (https://learn.microsoft.com/graph/api/directory-deleteditems-restore): the users
that can still be restored (30 days), by anchor and by UPN, read once per run (and after deletes)."""

from __future__ import annotations

from typing import Protocol

from hybridsync.connectors.base import RetryAfter, Terminal
from hybridsync.connectors.entra import check
from hybridsync.connectors.entra.transport import Request, Response


class Host(Protocol):
    def exchange(self, request: Request, what: str) -> Response | RetryAfter | Terminal: ...


def load(host: Host, what: str) -> dict[str, str] | None:
    """anchor or UPN (lower) -> deleted user id; None when deleted items could not be read."""
    params = {"$select": "id,userPrincipalName,onPremisesImmutableId"}
    resp = host.exchange(Request("GET", "/directory/deletedItems/microsoft.graph.user", params=params), what)
    items = check.collection(resp.body) if isinstance(resp, Response) and resp.status == 200 else None
    if items is None:
        return None
    out: dict[str, str] = {}
    for o in items:
        upn = str(o.get("userPrincipalName") or "").lower()
        if o.get("onPremisesImmutableId"):
            out[str(o["onPremisesImmutableId"])] = str(o["id"])
        if upn:  # Graph prefixes a deleted user's UPN with its id (no dashes)
            prefix = str(o["id"]).replace("-", "")
            out[upn[len(prefix):] if upn.startswith(prefix) else upn] = str(o["id"])
    return out

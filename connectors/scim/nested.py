"""Group members that are groups: does the service keep them? (a mixin of ``ScimTarget``).

django-scim2's groups hold users only: a member ``value`` is read as a user id, and user and
group ids share one numeric space, so adding group 7 as a member silently adds user 7 (or
answers 400 "non-existent user" when there is none). Nothing in ``/Schemas`` says so (its Group
schema announces ``User`` and ``Group`` members).

So before the first nested member is sent, the connector probes once, on a scratch group it
creates for that and deletes right after: it adds the group member there and reads the scratch
group back. Kept when the member comes back as sent (or typed ``Group``); dropped when the add is
refused or the member comes back as a ``User`` (``type`` or ``$ref``). A service that drops
them gets ``group:members[type eq "Group"]`` in ``Dialect.dropped``: nested members are then
never sent (adding or removing one would touch an unrelated user), logged, and documented by
``describe()``, like every attribute the service does not keep (``notkept.py``).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from hybridsync.connectors.base import Result, RetryAfter, Terminal
from hybridsync.connectors.scim import prepare
from hybridsync.connectors.scim.plumbing import ScimPlumbing
from hybridsync.connectors.scim.prepare import Request
from hybridsync.connectors.scim.transport import Response
from hybridsync.engine.core.values import ObjectKind

log = structlog.get_logger(__name__)
NESTED = 'group:members[type eq "Group"]'
REFUSED = frozenset({400, 404, 409, 422, 500, 501})  # the add itself was refused: not kept


class NestedMixin(ScimPlumbing):
    def _patch(self, path: str, ops: list[dict[str, Any]], what: str) -> Response | RetryAfter | Terminal:
        raise NotImplementedError

    def _members_sent(self, group_id: str, members: Sequence[tuple[ObjectKind, str]]) -> list[str] | Result:
        """The member ids to send: nested groups left out where the service does not keep them
        (probed before the first one); a ``RetryAfter`` when the probe could not finish."""
        nested = [m for k, m in members if k is ObjectKind.GROUP]
        pinned = self.dialect.sources.get("dropped") == "config"  # the config says: no probe
        if nested and NESTED not in self.dialect.dropped and not pinned and not self.__dict__.get("_nested_known"):
            with self.__dict__.setdefault("_nested_lock", threading.Lock()):  # groups' adds run concurrently
                if not self.__dict__.get("_nested_known"):  # one probe, whichever group asks first
                    unknown = self._probe_nested(nested[0])
                    if unknown is not None:
                        return unknown
        if nested and NESTED in self.dialect.dropped:
            log.warning("scim.members.nested_not_kept", target=self.name, group=group_id, left_out=len(nested))
            return [m for k, m in members if k is not ObjectKind.GROUP]
        return [m for _, m in members]

    def _probe_nested(self, member_id: str) -> Result | None:
        what = "probe: are group members that are groups kept"
        endpoint = self._endpoint(ObjectKind.GROUP)
        body = {"schemas": [prepare.GROUP_SCHEMA], "displayName": f"hybridsync probe {secrets.token_hex(6)}"}
        made = self._exchange(Request("POST", endpoint, json=body), what)
        if not isinstance(made, Response):
            return made
        scratch = made.body.get("id") if isinstance(made.body, Mapping) else None
        if not 200 <= made.status < 300 or not isinstance(scratch, str):
            return RetryAfter(60.0, f"{what}: the scratch group was not created ({made.status})", made.status)
        try:
            added = self._patch(f"{endpoint}/{scratch}", prepare.member_operations("add", [member_id], self.dialect), what)
            if not isinstance(added, Response):
                return added
            if added.status in REFUSED:
                kept = False
            elif not 200 <= added.status < 300:
                return RetryAfter(60.0, f"{what}: answered {added.status}", added.status)
            else:
                read = self._exchange(Request("GET", f"{endpoint}/{scratch}"), what)
                if not isinstance(read, Response) or not 200 <= read.status < 300 or not isinstance(read.body, Mapping):
                    return read if isinstance(read, (RetryAfter, Terminal)) else RetryAfter(60.0, f"{what}: read failed")
                kept = any(_as_group(m, member_id) for m in read.body.get("members") or ())
        finally:
            self._exchange(Request("DELETE", f"{endpoint}/{scratch}"), what)
        self.__dict__["_nested_known"] = True
        if not kept:
            self._probe("nested-groups", dropped=(*self.dialect.dropped, NESTED))
        return None


def _as_group(member: Any, member_id: str) -> bool:
    """The member came back as the group that was sent (not re-read as a user)."""
    if not isinstance(member, Mapping) or member.get("value") != member_id:
        return False
    ref = str(member.get("$ref") or "")
    return member.get("type") not in ("User", "user") and "/Users/" not in ref

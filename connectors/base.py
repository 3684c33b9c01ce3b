"""The connector protocols the engine uses for every source and every target.

Target calls return a result value and never sleep or raise for a remote refusal:

- ``Done(target_id, etag, found)``: it worked (``found`` carries lookup results);
- ``RetryAfter(seconds, why)``: try this object again later (429/503/5xx/timeouts);
- ``Terminal(why, status, scim_type, detail)``: this object will not succeed as it is
  (400, 409, 404 ...). ``status`` 401/403 means the whole target is failing (quarantine it).

Connectors are plugins registered under the ``hybridsync.connectors`` entry-point group by their
config ``kind``; built-in ones register exactly the way a third-party package would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol, Union, runtime_checkable

from attrs import frozen

from hybridsync.engine.core.config import ENTRY_POINT_GROUP, available_kinds  # noqa: F401 - re-exported
from hybridsync.engine.core.errors import ConfigError
from hybridsync.engine.core.values import (
    Cursor,
    ObjectKind,
    SourceBatch,
    SourceObject,
    TargetObject,
)


@frozen
class Done:
    target_id: str | None = None
    etag: str | None = None
    found: tuple[TargetObject, ...] = ()
    status: int | None = None


@frozen
class RetryAfter:
    seconds: float
    why: str
    status: int | None = None


# ``Terminal.scim_type`` of a refusal that is the whole target's, not the object's: the target is
# misconfigured (e.g. its collection URL answers 404). Kept in ``scim_type`` so recordings keep it.
MISCONFIGURED = "hybridsync:misconfigured"


@frozen
class Terminal:
    why: str
    status: int | None = None
    scim_type: str | None = None
    detail: str | None = None

    @property
    def gone(self) -> bool:
        """The object no longer exists at the target (404 on update/delete)."""
        return self.status == 404 and self.scim_type != MISCONFIGURED

    @property
    def target_level(self) -> bool:
        """The target refuses us as a whole (auth, misconfigured): quarantine the target, not the object."""
        return self.status in (401, 403) or self.scim_type == MISCONFIGURED


Result = Union[Done, RetryAfter, Terminal]


@runtime_checkable
class Target(Protocol):
    """A cloud directory that hybridsync provisions into.

    ``attributes`` are flat projections keyed by target attribute paths exactly as written in
    the mapping config (``userName``, ``name.givenName``, ``emails[type eq "work"].value``,
    ``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department``, ``active``).
    A value of ``None`` in an update clears the attribute. Member lists are target ids.
    """

    name: str

    def describe(self) -> Mapping[str, Any]:
        """The detected dialect/profile, for ``status`` (may contact the target once)."""

    def lookup_by_anchor(self, kind: ObjectKind, anchor: str) -> Result: ...

    def lookup_by_attribute(self, kind: ObjectKind, attribute: str, value: str) -> Result: ...

    def create(self, kind: ObjectKind, anchor: str, attributes: Mapping[str, Any]) -> Result: ...

    def update(
        self, kind: ObjectKind, target_id: str, changes: Mapping[str, Any], *, anchor: str | None = None
    ) -> Result:
        """Apply exactly ``changes``; ``anchor`` given means also (re)write externalId."""

    def disable(self, kind: ObjectKind, target_id: str) -> Result: ...

    def restore(self, kind: ObjectKind, target_id: str) -> Result: ...

    def delete(self, kind: ObjectKind, target_id: str) -> Result: ...

    def add_members(self, group_id: str, members: Sequence[tuple[ObjectKind, str]]) -> Result: ...

    def remove_members(self, group_id: str, members: Sequence[tuple[ObjectKind, str]]) -> Result: ...

    def list_owned(self, kind: ObjectKind) -> Iterator[TargetObject]:
        """Every object of ``kind`` that carries an externalId (for bulk matching and audits)."""

    # Optional: ``list_objects(kind) -> Result`` (``Done(found=...)``; an iterator of
    # TargetObject is accepted too), every object of ``kind`` owned or not. When a target offers it, the engine answers a large first sync's soft-match
    # questions from one complete listing instead of a lookup per object.
    # Optional: ``create_many(items) -> list[Result]`` with ``bulk_size() -> int``: ``create`` of
    # each ``(kind, anchor, attributes)`` item, one result each in order, in fewer requests (SCIM
    # Bulk). The engine hands over at most ``bulk_size()`` items a call (0: it calls ``create``).
    # Optional: ``call_grace: float``, seconds a call may still land after its caller died (a
    # network target: its request deadline). After a crash or a takeover, a create not found
    # at the target is looked up again once that long has passed since it was journaled.

    def close(self) -> None: ...


@runtime_checkable
class Source(Protocol):
    """A directory hybridsync reads from (Active Directory over LDAP)."""

    name: str

    def read(self, cursor: Cursor) -> Iterator[SourceBatch]:
        """Yield batches from ``cursor`` on. ``Refresh`` means a complete full read.

        Raises a retriable error (``engine.errors.Retriable``) when every DC failed; a full read
        that fails midway must raise, never end quietly, so it is never taken as complete.
        """

    def read_object(self, ref: str) -> SourceObject | None:
        """Read one object now, by objectGUID (base64 or text form), DN, sAMAccountName or UPN."""

    # Optional: ``lookup_guid(object_guid) -> SourceObject | None``: the live object by a direct
    # lookup by objectGUID (AD: a base search on ``<GUID=...>``), None when the directory says it
    # is gone; raises when the answer proves nothing. Before an object absent from a complete full
    # read is disabled, the engine confirms its absence this way (``read_object`` when missing).

    def wait_for_change(self, timeout: float, stop: threading.Event) -> bool:
        """Block up to ``timeout`` s; True as soon as the directory signals a change."""

    def describe(self) -> Mapping[str, Any]:
        """Mode (dirsync/usn), privilege level, DC in use, whether deletions are visible."""

    def close(self) -> None: ...


def load_connector_class(kind: str) -> Any:
    eps = available_kinds()
    if kind not in eps:
        raise ConfigError.single(
            None, "kind", f"unknown connector kind {kind!r}; installed: {', '.join(sorted(eps)) or 'none'}"
        )
    return eps[kind].load()

"""What the fake tenant holds: directory objects, a change log for delta, a clock, the knobs.

One ``Directory`` per fake, guarded by one lock (the HTTP server is threaded). Time comes from a
``Clock`` the tests can move forward (``advance``) so that replication lag, the throttling
window and the 30-day deleted-items retention are tested without sleeping.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from attrs import define, field, frozen

# directory-deleteditems-restore / resources/directory: "Deleted items remain available to
# restore for up to 30 days. After 30 days, the items are permanently deleted."
# https://learn.microsoft.com/graph/api/resources/directory
DELETED_RETENTION_SECONDS = 30 * 24 * 3600


@frozen
class Knobs:
    """What a test can turn. Frozen: change them with ``GraphFake.configure(**changes)``."""

    tenant: str = "00000000-0000-0000-0000-00000000beef"
    client_id: str = "11111111-2222-3333-4444-555555555555"
    client_secret: str = "fake-secret"
    # PEM certificates registered on the app (its "Certificates & secrets"): a client assertion
    # signed by one of their keys authenticates the app (auth.py; certificate-credentials).
    client_certificates: tuple[str, ...] = ()
    token_lifetime: float = 3599.0
    # Seconds after a create during which the new object answers 404 by id and cannot be
    # referenced (eventual consistency across directory replicas); 0 = none.
    replication_lag: float = 0.0
    # Identity and access write quota per app+tenant: (writes, per seconds). Graph's published
    # figure is 3,000 per 150 s; None = no quota.
    write_quota: tuple[int, float] | None = None
    # The next N $batch items are answered 429 + Retry-After on their own (the batch is 200).
    batch_throttle_items: int = 0
    batch_retry_after: int = 3
    # Domains a userPrincipalName may use (the tenant's verified domains); None = any.
    verified_domains: tuple[str, ...] | None = ("contoso.onmicrosoft.com",)
    delta_page_size: int = 100
    # A deltaLink older than this is refused: "delta links for identity and access ... resources
    # have a lifetime of seven (7) days" (devblogs.microsoft.com/microsoft365dev, "Duration of
    # change tracking tokens for identity and education resources"); the answer's status:
    # 400 syncStateNotFound there, 410 Gone for services that say "resync required".
    delta_link_lifetime: float = 7 * 24 * 3600.0
    delta_expired_status: int = 400
    list_page_size: int = 100


class Clock:
    """Monotonic seconds plus an offset tests can advance."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.monotonic() + self._offset

    def wall(self) -> float:
        """Unix time moved by the same offset (JWT ``exp``/``nbf`` are Unix times)."""
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds


@define
class DirObject:
    kind: str  # "user" | "group" | "orgContact"
    id: str
    data: dict[str, Any]
    created_at: float
    members: set[str] = field(factory=set)
    manager: str | None = None  # a user's manager (the navigation property), by id
    deleted_at: float | None = None  # soft-deleted (in deletedItems) since


@frozen
class Change:
    seq: int
    kind: str
    object_id: str
    member: str | None = None      # a membership change on a group: the member's id
    member_added: bool = False


class Directory:
    def __init__(self, knobs: Knobs, clock: Clock):
        self.knobs = knobs
        self.clock = clock
        self.lock = threading.RLock()
        self.objects: dict[str, DirObject] = {}
        self.purged: dict[str, str] = {}  # id -> kind, permanently deleted (delta says "deleted")
        self.changes: list[Change] = []
        self.delta_issued: dict[int, float] = {}  # a deltaLink's token -> when it was first handed out
        self._seq = 0
        self.base_url = ""  # http://127.0.0.1:<port>/v1.0, set by the server

    # -- identity ------------------------------------------------------------------------
    @staticmethod
    def new_id() -> str:
        return str(uuid.uuid4())

    def record(self, kind: str, object_id: str, member: str | None = None, added: bool = False) -> None:
        self._seq += 1
        self.changes.append(Change(self._seq, kind, object_id, member, added))

    @property
    def seq(self) -> int:
        return self._seq

    # -- visibility ----------------------------------------------------------------------
    def replicated(self, obj: DirObject) -> bool:
        return self.clock.now() >= obj.created_at + self.knobs.replication_lag

    def expire_deleted(self) -> None:
        """Purge soft-deleted objects older than the retention period."""
        now = self.clock.now()
        for obj in list(self.objects.values()):
            if obj.deleted_at is not None and now - obj.deleted_at >= DELETED_RETENTION_SECONDS:
                self.purge(obj.id)

    def purge(self, object_id: str) -> None:
        obj = self.objects.pop(object_id)
        self.purged[object_id] = obj.kind
        for other in self.objects.values():
            other.members.discard(object_id)
            if other.manager == object_id:
                other.manager = None
        self.record(obj.kind, object_id)

    def live(self, kind: str | None = None) -> Iterator[DirObject]:
        """Objects that exist (not deleted) and have replicated."""
        self.expire_deleted()
        for obj in self.objects.values():
            if obj.deleted_at is None and (kind is None or obj.kind == kind) and self.replicated(obj):
                yield obj

    def get_live(self, object_id: str, kind: str | None = None) -> DirObject | None:
        self.expire_deleted()
        obj = self.objects.get(object_id)
        if obj is None or obj.deleted_at is not None or (kind and obj.kind != kind) or not self.replicated(obj):
            return None
        return obj

    def get_deleted(self, object_id: str) -> DirObject | None:
        self.expire_deleted()
        obj = self.objects.get(object_id)
        return obj if obj is not None and obj.deleted_at is not None else None

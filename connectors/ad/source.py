"""``AdSource``: the Active Directory source over ldap3 (the only I/O of the AD connector).

Reads
- ``read(Refresh)``: a full read -- paged subtree search of users, groups and contacts under
  ``base_dn`` (page = ``page_size``), one batch per page. Intermediate batches carry ``Refresh``;
  the last carries the new position, taken at the START of the read so that nothing changed
  during the read is lost: in dirsync mode a DirSync cookie from a no-match DirSync (measured on
  Samba: one pass costs ~8 ms on a small DC, its cookie delivers exactly the later changes; a full
  DirSync enumeration instead arrives as ONE response because Samba ignores MaxBytes, which
  defeats streaming), in usn mode ``UsnWatermark(invocationId, highestCommittedUSN)``.
  ``last=True, complete=True`` only when every page arrived; any failure midway raises
  ``Retriable``/``Permanent`` -- never a quiet end.
- ``read(DirSyncCookie)``: DirSync on the naming-context root with incremental values (and
  OBJECT_SECURITY when configured or when a plain DirSync is refused), objects ``partial=True``;
  each page's ``whenChanged`` (not replicated: DirSync never returns it) read by ``ad.changed``.
- ``read(UsnWatermark)``: ``(uSNChanged>=N+1)(uSNChanged<=H)`` on the naming-context root, H the
  rootDSE highestCommittedUSN read at the start, plus tombstones from CN=Deleted Objects (Show
  Deleted) when the account can read them. Members come whole. Intermediate batches carry the old
  watermark (re-reading is harmless), the last one ``UsnWatermark(invocationId, H)``.
  Deltas cover the whole naming context (DirSync refuses an OU base); scope is the planner's.

Refresh signal (the choice for "position unusable"): when a stored cursor cannot be continued --
another DC or a restored one (invocationId changed), a USN watermark above the DC's
highestCommittedUSN, a DirSync cookie the DC rejects, a cursor of the other delta mode -- ``read``
yields exactly ONE batch ``SourceBatch((), Refresh(reason), DELTA, dc, last=True,
complete=False)`` and stops. The engine stores that cursor like any other, so the next
``read`` is a complete full read; the reason is also kept for ``describe()``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import ldap3
import structlog
from ldap3.core import exceptions as lx
from ldap3.core.exceptions import LDAPException

from hybridsync.connectors.ad import connection as cx
from hybridsync.connectors.ad import cursor as cursors
from hybridsync.connectors.ad import changed, errors, lookup, normalize, pages, query
from hybridsync.connectors.ad.notify import Watcher
from hybridsync.engine.core.config import SourceConfig, insecure_source
from hybridsync.engine.core.errors import ObjectError, Permanent, Retriable, SourceError, SourceUnavailable
from hybridsync.engine.core.values import (
    Cursor,
    DcIdentity,
    DirSyncCookie,
    ReadMode,
    Refresh,
    SourceBatch,
    SourceObject,
    SourceObjectError,
    UsnWatermark,
)

log = structlog.get_logger(__name__)

# Class-only filter: tombstones keep objectClass but lose objectCategory; computers excluded.
DIRSYNC_FILTER = "(|(&(objectClass=user)(!(objectClass=computer)))(objectClass=group)(objectClass=contact))"
NO_MATCH_FILTER = "(objectGUID=\\00)"  # a DirSync that returns nothing but a fresh cookie
_COOKIE_REJECTED = (lx.LDAPUnavailableCriticalExtensionResult, lx.LDAPProtocolErrorResult, lx.LDAPUnwillingToPerformResult)


class AdSource:
    """The AD source. ``member_range`` asks ``member;range=0-(n-1)`` and follows the ranges."""

    def __init__(self, config: SourceConfig, *, attributes: Iterable[str] = (), member_range: int | None = None):
        self.config = config
        self.name = config.name
        for key, message in insecure_source(config):  # every engine start, not only check-config
            log.warning("insecure_source", source=config.name, key=key, message=message)
        self.attributes = query.attribute_list(attributes)
        self.member_range = member_range
        self._conn: ldap3.Connection | None = None
        self._url: str | None = None
        self._root: cx.RootDse | None = None
        self._binary = normalize.BINARY_ATTRIBUTES
        self._object_security = bool(config.dirsync_object_security)
        self._privilege: str | None = "usn-plain" if config.delta == "usn" else None
        self._deletions_visible: bool | None = None
        self._last_refresh: str | None = None
        self._watcher: Watcher | None = None
        self._lock = threading.RLock()

    # -- connection ---------------------------------------------------------------------

    def _connect(self) -> ldap3.Connection:
        if self._conn is None or self._conn.closed:
            self._conn, self._url, self._root = cx.connect_first(self.config)
            self._deletions_visible = None
            try:
                self._binary = cx.binary_attributes(self._conn, self._root.schema_nc, self.attributes)
            except LDAPException as exc:  # schema unreadable: keep the known binary set
                log.warning("ad.schema_unreadable", source=self.name, error=str(errors.classify(exc, dc=self._url)))
        return self._conn

    def _drop(self) -> None:
        cx.close_quietly(self._conn)
        self._conn = None

    def _fail(self, exc: BaseException, operation: str) -> Exception:
        err = errors.classify(exc, dc=self._url or "?", operation=operation, who=self.config.bind_dn)
        if isinstance(err, Retriable):
            self._drop()
        return err

    def _start(self) -> DcIdentity:
        """Connect (failing over in ``urls`` order) and re-read the DC's identity; one retry."""
        for attempt in (1, 2):
            conn = self._connect()
            try:
                self._root = cx.RootDse(conn, self._url)
                return self._root.identity(self._url)
            except LDAPException as exc:
                err = self._fail(exc, "rootdse")
                if attempt == 2 or not isinstance(err, Retriable):
                    raise err from None
        raise AssertionError("unreachable")

    def _identity(self) -> DcIdentity:
        """The DC identity read at the start of the last read while its connection is open (the
        engine asks ``describe()`` after every cycle: two more LDAP round trips each), else read now."""
        if self._root is not None and self._url and self._conn is not None and not self._conn.closed:
            return self._root.identity(self._url)
        return self._start()

    @property
    def naming_context(self) -> str:
        nc = self._root.naming_context if self._root else ""
        if nc and self.config.base_dn.lower().endswith(nc.lower()):
            return nc
        return query.naming_context_of(self.config.base_dn) or nc

    def _search(self, operation: str, base: str, flt: str, scope=ldap3.SUBTREE, *, missing_ok: bool = False,
                **kwargs: Any) -> list[dict]:
        conn = self._connect()
        try:
            conn.search(base, flt, scope, **kwargs)
        except lx.LDAPNoSuchObjectResult as exc:
            if missing_ok:
                return []
            raise self._fail(exc, operation) from None
        except LDAPException as exc:
            raise self._fail(exc, operation) from None
        self._check(conn)
        return cx.entries(conn)

    def _check(self, conn: ldap3.Connection) -> None:
        problem = pages.result_problem(conn.result)
        if problem is not None:
            raise SourceUnavailable(f"DC {self._url}: {problem}: the read is incomplete", where=self._url or "?",
                                    stage="ldap_read")

    def _paged_cookie(self, conn: ldap3.Connection) -> bytes:
        self._check(conn)
        return conn.result["controls"][query.OID_PAGED]["value"]["cookie"]

    # -- reads --------------------------------------------------------------------------

    def read(self, cursor: Cursor) -> Iterator[SourceBatch]:
        with self._lock:
            dc = self._start()
            if isinstance(cursor, Refresh):
                yield from self._full_read(dc, cursor.reason)
                return
            problem = cursors.check(cursor, delta=self.config.delta, dc=dc)
            if problem is not None:
                yield self._refresh_signal(dc, problem.reason)
                return
            if isinstance(cursor, DirSyncCookie):
                yield from self._dirsync_delta(dc, cursor)
            else:
                yield from self._usn_delta(dc, cursor)

    def _refresh_signal(self, dc: DcIdentity, reason: str) -> SourceBatch:
        self._last_refresh = reason
        log.warning("ad.refresh_required", source=self.name, dc=dc.url, reason=reason)
        return SourceBatch((), Refresh(reason), ReadMode.DELTA, dc, last=True, complete=False)

    def _full_read(self, dc: DcIdentity, reason: str) -> Iterator[SourceBatch]:
        if self.config.delta == "usn":
            final: Cursor = UsnWatermark(dc.invocation_id, dc.highest_usn or 0)
            self._probe_deleted_objects()
        else:
            _, cookie, _ = self._dirsync(None, NO_MATCH_FILTER)
            final = DirSyncCookie(cookie, dc.invocation_id)
        attrs = list(query.with_member_range(self.attributes, self.member_range))
        flt = query.kind_filter(self.config.scope.object_types)
        interim = Refresh(reason or "full read in progress")
        page_cookie: bytes | None = None
        while True:
            conn = self._connect()
            try:
                conn.search(self.config.base_dn, flt, ldap3.SUBTREE, attributes=attrs, paged_size=self.config.page_size,
                            paged_cookie=page_cookie, controls=[query.extended_dn()])
                page_cookie = self._paged_cookie(conn)
            except (LDAPException, KeyError) as exc:
                raise self._fail(exc, "read") from None
            found = cx.entries(conn)
            conn.response = None  # the raw entries are released one by one as they are normalized
            objects, errs = self._normalize_page(found, partial=False)
            del found
            last = not page_cookie
            batch = SourceBatch(objects, final if last else interim, ReadMode.FULL, dc, errs, last=last, complete=last)
            del objects, errs
            yield batch
            del batch  # the consumer has the page: this frame does not keep it while the next one is read
            if last:
                self._last_refresh = None
                return

    def _dirsync(self, cookie: bytes | None, flt: str) -> tuple[list[dict], bytes, bool]:
        """One DirSync round: (entries, new cookie, more results). Falls back to OBJECT_SECURITY."""
        conn = self._connect()
        while True:
            try:
                conn.search(self.naming_context, flt, ldap3.SUBTREE, attributes=list(self.attributes),
                            controls=[query.dirsync(cookie, object_security=self._object_security),
                                      query.extended_dn(), query.show_deleted()])
                self._check(conn)
                value = conn.result["controls"][query.OID_DIRSYNC]["value"]
            except lx.LDAPInsufficientAccessRightsResult as exc:
                if self._object_security:
                    raise self._fail(exc, "dirsync-object-security") from None
                log.info("ad.dirsync_object_security", source=self.name, dc=self._url,
                         why="plain DirSync refused (no 'Replicating Directory Changes'): using OBJECT_SECURITY")
                self._object_security = True
                continue
            except KeyError:
                raise SourceUnavailable(f"DC {self._url}: DirSync answer without the DirSync control", where=self._url) from None
            except LDAPException as exc:
                if cookie and isinstance(exc, _COOKIE_REJECTED):
                    raise _CookieRejected(f"DC {self._url} rejected the DirSync cookie: {type(exc).__name__}") from None
                raise self._fail(exc, "dirsync") from None
            self._privilege = "object-security" if self._object_security else "replication"
            self._deletions_visible = not self._object_security
            return cx.entries(conn), value["cookie"], bool(value["more_results"])

    def _dirsync_delta(self, dc: DcIdentity, cur: DirSyncCookie) -> Iterator[SourceBatch]:
        cookie = cur.cookie
        while True:
            try:
                found, cookie, more = self._dirsync(cookie, DIRSYNC_FILTER)
            except _CookieRejected as exc:
                yield self._refresh_signal(dc, str(exc))
                return
            objects, errs = self._normalize_page(found, partial=True)
            del found
            if self._conn is not None:
                self._conn.response = None
            objects = changed.with_when_changed(self._search, self.naming_context, objects, log.bind(source=self.name))
            yield SourceBatch(objects, DirSyncCookie(cookie, dc.invocation_id), ReadMode.DELTA, dc, errs, last=not more)
            if not more:
                return

    def _usn_delta(self, dc: DcIdentity, wm: UsnWatermark) -> Iterator[SourceBatch]:
        top = dc.highest_usn or 0
        final = UsnWatermark(dc.invocation_id, top)
        if wm.usn >= top:
            yield SourceBatch((), final, ReadMode.DELTA, dc, last=True)
            return
        attrs = list(query.with_member_range(self.attributes, self.member_range))
        searches = [(self.naming_context, query.usn_filter(wm.usn, top, self.config.scope.object_types), [query.extended_dn()])]
        if self._probe_deleted_objects():
            searches.append((f"CN=Deleted Objects,{self.naming_context}", query.tombstone_filter(wm.usn, top),
                             [query.extended_dn(), query.show_deleted()]))
        pending: SourceBatch | None = None
        for base, flt, controls in searches:
            page_cookie = None
            while True:
                conn = self._connect()
                try:
                    conn.search(base, flt, ldap3.SUBTREE, attributes=attrs, paged_size=self.config.page_size,
                                paged_cookie=page_cookie, controls=controls)
                    page_cookie = self._paged_cookie(conn)
                except (LDAPException, KeyError) as exc:
                    raise self._fail(exc, "read") from None
                objects, errs = self._normalize_page(cx.entries(conn), partial=False)
                conn.response = None
                if pending is not None:
                    yield pending
                pending = SourceBatch(objects, wm, ReadMode.DELTA, dc, errs)
                if not page_cookie:
                    break
        assert pending is not None
        yield SourceBatch(pending.objects, final, ReadMode.DELTA, dc, pending.errors, last=True)

    def _probe_deleted_objects(self) -> bool:
        """Can this account read tombstones in CN=Deleted Objects (Show Deleted)?"""  # noqa: D401
        if self._deletions_visible is None:
            try:
                found = self._search("read", f"CN=Deleted Objects,{self.naming_context}", "(objectClass=*)", ldap3.BASE,
                                     missing_ok=True, attributes=["isDeleted"], controls=[query.show_deleted()])
                # A plain user still sees the container itself but cannot read its attributes
                # (measured on Samba): readable isDeleted goes with readable tombstones.
                self._deletions_visible = bool(found) and cx.first_value(found[0], "isDeleted") == b"TRUE"
            except Permanent:
                self._deletions_visible = False
        return self._deletions_visible

    # -- normalization with ranged member retrieval (connectors/ad/pages.py) ---------------

    def _normalize_page(self, found: list[Any], *, partial: bool) -> tuple[tuple[SourceObject, ...], tuple[SourceObjectError, ...]]:
        return pages.normalize_page(found, partial=partial, binary=self._binary, member_range=self.member_range,
                                    read_range=self._read_range, log=log.bind(source=self.name))

    def _read_range(self, dn: str, attribute: str) -> list[dict]:
        return self._search("read", dn, "(objectClass=*)", ldap3.BASE, missing_ok=True, attributes=[attribute],
                            controls=[query.extended_dn()])

    # -- one object ---------------------------------------------------------------------

    def read_object(self, ref: str) -> SourceObject | None:
        return lookup.read_object(self, ref)

    def lookup_guid(self, object_guid: str) -> SourceObject | None:
        """The live object by a base search on ``<GUID=...>``, None when gone (``ad.lookup``)."""
        return lookup.lookup_guid(self, object_guid)

    # -- notification -------------------------------------------------------------------

    def wait_for_change(self, timeout: float, stop: threading.Event) -> bool:
        deadline = time.monotonic() + max(0.0, timeout)
        watcher = self._ensure_watcher() if self.config.notify else None
        while not stop.is_set():
            if watcher is not None and watcher.changed.is_set():
                watcher.changed.clear()
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if watcher is not None:
                watcher.changed.wait(min(remaining, 0.05))
            else:
                stop.wait(min(remaining, 0.05))
        return False

    def _ensure_watcher(self) -> Watcher | None:
        if self._watcher is not None and self._watcher.alive:
            return self._watcher
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
        # Not under self._lock: a read may be in progress on the main connection (another thread).
        urls = [self._url] if self._url else list(self.config.urls)
        for url in urls:
            try:
                self._watcher = Watcher(self.config, url, self.naming_context)
                return self._watcher
            except (LDAPException, OSError, Retriable, Permanent) as exc:
                log.warning("ad.notification_unavailable", source=self.name, dc=url, error=str(errors.classify(exc, dc=url)))
        return None

    # -- status and shutdown --------------------------------------------------------------

    def describe(self) -> Mapping[str, Any]:
        with self._lock:
            dc = self._identity()
            if self.config.delta == "dirsync" and self._privilege is None:
                self._dirsync(None, NO_MATCH_FILTER)
            visible = self._deletions_visible if self.config.delta == "dirsync" else self._probe_deleted_objects()
            return {
                "kind": "ad",
                "source": self.name,
                "delta": self.config.delta,
                "privilege": self._privilege,
                "dc": {"url": dc.url, "host": dc.host, "invocation_id": dc.invocation_id, "highest_usn": dc.highest_usn},
                "naming_context": self.naming_context,
                "base_dn": self.config.base_dn,
                "deletions_visible": bool(visible),
                "deletions": (
                    ("tombstones via DirSync" if self.config.delta == "dirsync" else "tombstones via Show Deleted")
                    if visible
                    else "not visible to this account: deletions are detected only by a complete full read"
                ),
                "notify": self.config.notify,
                "notification_active": bool(self._watcher and self._watcher.alive),
                "last_refresh_reason": self._last_refresh,
            }

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
        with self._lock:
            self._drop()


class _CookieRejected(SourceError):
    """The DC refused a DirSync cookie: the caller answers with the Refresh signal."""

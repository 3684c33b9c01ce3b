"""An in-memory source implementing the source protocol, deterministic: behaves like an AD
source with DirSync-style deltas (partial objects carrying only changed attributes, incremental
member values, tombstones without kind); fault hooks make a read fail. ``GeneratedSource`` is a
large directory generated on the fly (benchmarks)."""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from hybridsync.engine.core.errors import SourceUnavailable
from hybridsync.engine.core.values import (
    Cursor,
    DcIdentity,
    ObjectKind,
    ReadMode,
    Refresh,
    SourceBatch,
    SourceObject,
    SourceObjectError,
    UsnWatermark,
)

__all__ = ["GeneratedSource", "MemorySource"]


class MemorySource:
    """A directory held in a dict, with a change log so delta reads return only what changed."""

    def __init__(self, name: str = "mem", *, page_size: int = 1000, invocation_id: str = "mem-dc-1"):
        self.name = name
        self.page_size = page_size
        self.dc = DcIdentity(url=f"memory://{name}", invocation_id=invocation_id, host=name)
        self._objects: dict[str, SourceObject] = {}
        self._log: list[tuple[int, str, frozenset[str], frozenset[str], frozenset[str], bool]] = []
        self._seqs: list[int] = []
        self._seq = 0
        self._changed = threading.Event()
        self._tombstones: dict[str, str] = {}  # anchor -> objectGUID of deleted objects
        self.fail_full_read_after_pages: int | None = None  # raise Retriable after N pages
        self.fail_delta_after_pages: int | None = None  # the same for a delta read
        self.hidden: set[str] = set()  # anchors a full read omits while claiming completeness
        self.reads: list[str] = []  # "full" / "delta" per read call
        self.broken: set[str] = set()  # anchors read as a per-object error (with the objectGUID)
        self.lookup_fails: set[str] = set()  # anchors whose lookup by GUID raises (unconfirmable)
        self.lookups: list[str] = []  # objectGUIDs looked up by ``lookup_guid``

    # ---- seeding and edits (the "AD" side) -----------------------------------------------
    def put(self, obj: SourceObject) -> None:
        old = self._objects.get(obj.anchor)
        members = obj.members if obj.members is not None else (old.members if old else None)
        if obj.kind == ObjectKind.GROUP and members is None:
            members = frozenset()
        new = SourceObject(
            anchor=obj.anchor, object_guid=obj.object_guid, kind=obj.kind, dn=obj.dn,
            attributes=obj.attributes, members=members, usn=self._seq + 1,
        )
        self._objects[obj.anchor] = new
        if old is None:
            changed = frozenset(new.attributes) | {"__dn__"}
            added, removed = (members or frozenset()), frozenset()
        else:
            names = set(new.attributes) | set(old.attributes)
            changed = frozenset(n for n in names if new.get(n) != old.get(n))
            if new.dn != old.dn:
                changed |= {"__dn__"}
            added = (members or frozenset()) - (old.members or frozenset())
            removed = (old.members or frozenset()) - (members or frozenset())
        self._record(obj.anchor, changed, frozenset(added), frozenset(removed), False)

    def modify(self, anchor: str, **attributes: Any) -> None:
        old = self._objects[anchor]
        attrs = dict(old.attributes)
        for k, v in attributes.items():
            if v is None:
                attrs.pop(k.lower(), None)
            else:
                attrs[k.lower()] = (v,) if isinstance(v, str) else tuple(v)
        self.put(SourceObject(anchor=anchor, object_guid=old.object_guid, kind=old.kind, dn=old.dn,
                              attributes=attrs, members=old.members))

    def move(self, anchor: str, dn: str) -> None:
        old = self._objects[anchor]
        self.put(SourceObject(anchor=anchor, object_guid=old.object_guid, kind=old.kind, dn=dn,
                              attributes=old.attributes, members=old.members))

    def set_members(self, group: str, members: Iterable[str]) -> None:
        old = self._objects[group]
        self.put(SourceObject(anchor=group, object_guid=old.object_guid, kind=old.kind, dn=old.dn,
                              attributes=old.attributes, members=frozenset(members)))

    def add_member(self, group: str, member: str) -> None:
        self.set_members(group, (self._objects[group].members or frozenset()) | {member})

    def remove_member(self, group: str, member: str) -> None:
        self.set_members(group, (self._objects[group].members or frozenset()) - {member})

    def delete(self, anchor: str) -> None:
        """Delete like AD: a tombstone, and (the member trap) no event for the groups holding it."""
        old = self._objects.pop(anchor)
        self._tombstones[anchor] = old.object_guid
        self._record(anchor, frozenset(), frozenset(), frozenset(), True)

    def vanish(self, anchor: str) -> None:
        """The object is gone and no tombstone will ever be read (deletions not visible)."""
        self._objects.pop(anchor)

    def objects(self) -> list[SourceObject]:
        return list(self._objects.values())

    def _record(self, anchor, changed, added, removed, deleted) -> None:
        self._seq += 1
        self._log.append((self._seq, anchor, changed, added, removed, deleted))
        self._seqs.append(self._seq)
        self._changed.set()

    # ---- Source protocol ------------------------------------------------------------------
    def read(self, cursor: Cursor) -> Iterator[SourceBatch]:
        if isinstance(cursor, UsnWatermark) and cursor.dc_invocation_id == self.dc.invocation_id:
            self.reads.append("delta")
            yield from self._delta(cursor.usn)
        else:
            self.reads.append("full")
            yield from self._full()

    def _full(self) -> Iterator[SourceBatch]:
        top = self._seq
        items = [o for a, o in sorted(self._objects.items()) if a not in self.hidden]
        pages = [items[i : i + self.page_size] for i in range(0, len(items), self.page_size)] or [[]]
        for n, page in enumerate(pages):
            if self.fail_full_read_after_pages is not None and n >= self.fail_full_read_after_pages:
                raise SourceUnavailable(f"full read of {self.name} failed after {n} pages", where=self.dc.url,
                                stage="ldap_read")
            last = n == len(pages) - 1
            page, errors = self._split_errors(page)
            yield SourceBatch(
                objects=tuple(page), errors=errors,
                cursor=UsnWatermark(self.dc.invocation_id, top) if last else Refresh("full read in progress"),
                mode=ReadMode.FULL, dc=self.dc, last=last, complete=last,
            )

    def _delta(self, since: int) -> Iterator[SourceBatch]:
        top = self._seq
        start = bisect.bisect_right(self._seqs, since)
        per: dict[str, list] = {}
        for seq, anchor, changed, added, removed, deleted in itertools.islice(self._log, start, None):
            acc = per.setdefault(anchor, [set(), set(), set(), False, seq, seq])  # ..., last seq, first seq
            if deleted:
                acc[0].clear(); acc[1].clear(); acc[2].clear(); acc[3] = True
            else:
                acc[3] = False
                acc[0] |= changed
                acc[1] = (acc[1] - removed) | added
                acc[2] = (acc[2] - added) | removed
            acc[4] = seq
        out: list[SourceObject] = []
        firsts: list[int] = []  # like the AD source, each page's cursor covers only what was read:
        for anchor, (changed, added, removed, deleted, seq, first) in per.items():  # in first-change order
            firsts.append(first)
            obj = self._objects.get(anchor)
            if deleted or obj is None:
                guid = self._tombstones.get(anchor, anchor)
                out.append(SourceObject(anchor=anchor, object_guid=guid, kind=None,
                                        dn=f"CN=x\\0ADEL:{guid},CN=Deleted Objects", deleted=True,
                                        partial=True, usn=seq))
                continue
            attrs = {n: obj.get(n) for n in changed if n != "__dn__"}
            out.append(SourceObject(anchor=anchor, object_guid=obj.object_guid, kind=obj.kind, dn=obj.dn,
                                    attributes=attrs, members=None, members_added=frozenset(added),
                                    members_removed=frozenset(removed), usn=seq, partial=True))
        pages = [out[i : i + self.page_size] for i in range(0, len(out), self.page_size)] or [[]]
        for n, page in enumerate(pages):
            if self.fail_delta_after_pages is not None and n >= self.fail_delta_after_pages:
                raise SourceUnavailable(f"delta read of {self.name} failed after {n} pages", where=self.dc.url,
                                        stage="ldap_read")
            last = n == len(pages) - 1
            page, errors = self._split_errors(page)
            # everything before the next page's first change (re-reading is harmless; skipping is not)
            upto = top if last else firsts[(n + 1) * self.page_size] - 1
            yield SourceBatch(objects=tuple(page), errors=errors, cursor=UsnWatermark(self.dc.invocation_id, upto),
                              mode=ReadMode.DELTA, dc=self.dc, last=last, complete=False)

    def _split_errors(self, page: list[SourceObject]) -> tuple[list[SourceObject], tuple[SourceObjectError, ...]]:
        if not self.broken:
            return page, ()
        errors = tuple(SourceObjectError(o.dn, "displayName", "undecodable value", object_guid=o.object_guid)
                       for o in page if o.anchor in self.broken)
        return [o for o in page if o.anchor not in self.broken], errors

    def lookup_guid(self, object_guid: str) -> SourceObject | None:
        """A base search by objectGUID (``<GUID=...>``): the live object, or None when it is gone."""
        self.lookups.append(object_guid)
        for obj in self._objects.values():
            if obj.object_guid == object_guid:
                if obj.anchor in self.lookup_fails:
                    raise SourceUnavailable(f"lookup of <GUID={object_guid}> failed", where=self.dc.url,
                                            stage="ldap_read")
                return obj
        if any(g == object_guid for a, g in self._tombstones.items() if a in self.lookup_fails):
            raise SourceUnavailable(f"lookup of <GUID={object_guid}> failed", where=self.dc.url, stage="ldap_read")
        return None

    def read_object(self, ref: str) -> SourceObject | None:
        ref_l = ref.lower()
        for obj in self._objects.values():
            if ref in (obj.anchor, obj.object_guid) or obj.dn.lower() == ref_l:
                return obj
            if ref_l in (v.lower() for v in obj.get("userPrincipalName") + obj.get("sAMAccountName")):
                return obj
        return None

    def wait_for_change(self, timeout: float, stop: threading.Event) -> bool:
        deadline = time.monotonic() + timeout
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self._changed.wait(min(left, 0.05)):
                self._changed.clear()
                return True
        return False

    def describe(self) -> Mapping[str, Any]:
        return {"mode": "memory", "dc": self.dc.url, "deletions_visible": True}

    def close(self) -> None:
        pass


class GeneratedSource(MemorySource):
    """A large directory generated on the fly (benchmarks): only edited objects are held in memory."""

    def __init__(self, n: int, factory: Callable[[int], SourceObject], *, name: str = "gen", page_size: int = 1000):
        super().__init__(name, page_size=page_size)
        self.n = n
        self.factory = factory

    def _base(self, anchor: str) -> SourceObject | None:
        return self._objects.get(anchor)

    def generated(self, i: int) -> SourceObject:
        obj = self.factory(i)
        return self._objects.get(obj.anchor, obj)

    def modify(self, anchor: str, **attributes: Any) -> None:
        if anchor not in self._objects:
            for i in range(self.n):  # benchmarks edit low indexes; fine for a generator
                o = self.factory(i)
                if o.anchor == anchor:
                    self._objects[anchor] = o
                    break
        super().modify(anchor, **attributes)

    def _full(self) -> Iterator[SourceBatch]:
        top = self._seq
        page: list[SourceObject] = []
        for i in range(self.n):
            obj = self.generated(i)
            if obj.anchor in self._tombstones or obj.anchor in self.hidden:
                continue
            page.append(obj)
            if len(page) == self.page_size:
                yield SourceBatch(objects=tuple(page), cursor=Refresh("full read in progress"), mode=ReadMode.FULL,
                                  dc=self.dc)
                page = []
        yield SourceBatch(objects=tuple(page), cursor=UsnWatermark(self.dc.invocation_id, top), mode=ReadMode.FULL,
                          dc=self.dc, last=True, complete=True)

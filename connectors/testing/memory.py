"""In-memory source and target implementing the connector protocols, deterministic.

For engine tests and benchmarks: ``MemorySource`` behaves like an AD source with DirSync-style
deltas (partial objects carrying only changed attributes, incremental member values, tombstones
without kind); ``MemoryTarget`` behaves like a SCIM service (externalId, userName uniqueness,
member sets by target id). Both have fault hooks so tests can make a read or a call fail.
Nothing here is registered as an entry point; tests construct them and inject them.
"""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from hybridsync.connectors.base import Done, Result, RetryAfter, Terminal
from hybridsync.engine.core.errors import Retriable
from hybridsync.engine.core.values import (
    Cursor,
    DcIdentity,
    ObjectKind,
    ReadMode,
    Refresh,
    SourceBatch,
    SourceObject,
    TargetObject,
    UsnWatermark,
)


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
        self.hidden: set[str] = set()  # anchors a full read omits while claiming completeness
        self.reads: list[str] = []  # "full" / "delta" per read call

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

    def objects(self) -> list[SourceObject]:
        return list(self._objects.values())

    def get_obj(self, anchor: str) -> SourceObject | None:
        return self._objects.get(anchor)

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
                raise Retriable(f"full read of {self.name} failed after {n} pages", where=self.dc.url,
                                stage="ldap_read")
            last = n == len(pages) - 1
            yield SourceBatch(
                objects=tuple(page),
                cursor=UsnWatermark(self.dc.invocation_id, top) if last else Refresh("full read in progress"),
                mode=ReadMode.FULL, dc=self.dc, last=last, complete=last,
            )

    def _delta(self, since: int) -> Iterator[SourceBatch]:
        top = self._seq
        start = bisect.bisect_right(self._seqs, since)
        per: dict[str, list] = {}
        for seq, anchor, changed, added, removed, deleted in itertools.islice(self._log, start, None):
            acc = per.setdefault(anchor, [set(), set(), set(), False, seq])
            if deleted:
                acc[0].clear(); acc[1].clear(); acc[2].clear(); acc[3] = True
            else:
                acc[3] = False
                acc[0] |= changed
                acc[1] = (acc[1] - removed) | added
                acc[2] = (acc[2] - added) | removed
            acc[4] = seq
        out: list[SourceObject] = []
        for anchor, (changed, added, removed, deleted, seq) in per.items():
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
            last = n == len(pages) - 1
            yield SourceBatch(objects=tuple(page), cursor=UsnWatermark(self.dc.invocation_id, top),
                              mode=ReadMode.DELTA, dc=self.dc, last=last, complete=False)

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


class MemoryTarget:
    """A SCIM-like directory in a dict. ``inject`` makes the next matching calls return a result."""

    def __init__(self, name: str = "app", *, lean: bool = False):
        self.name = name
        self.lean = lean  # benchmarks: keep no attributes (the engine's memory is measured, not ours)
        self.store: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._by_ext: dict[tuple[ObjectKind, str], set[str]] = {}
        self._by_attr: dict[tuple[ObjectKind, str, str], set[str]] = {}  # (kind, attribute, lowered value)
        self.calls: list[tuple[str, str]] = []  # (operation, target id or anchor)
        self._faults: list[list[Any]] = []  # [predicate, result, times_left]
        self.after_call: Callable[[str], None] | None = None  # e.g. raise to simulate a crash

    # ---- test hooks -----------------------------------------------------------------------
    def inject(self, result: Result, *, times: int = 1, op: str | None = None,
               when: Callable[[str, str], bool] | None = None) -> None:
        def pred(o: str, key: str) -> bool:
            return (op is None or o == op) and (when is None or when(o, key))
        self._faults.append([pred, result, times])

    def seed(self, kind: ObjectKind, attributes: Mapping[str, Any], *, external_id: str | None = None,
             active: bool = True) -> str:
        tid = f"t{next(self._ids)}"
        self.store[tid] = {"kind": kind, "external_id": external_id, "attributes": dict(attributes),
                           "active": active, "members": set()}
        self._index(tid)
        return tid

    def by_external_id(self) -> dict[str, dict[str, Any]]:
        return {r["external_id"]: r for r in self.store.values() if r["external_id"]}

    def _call(self, op: str, key: str) -> Result | None:
        self.calls.append((op, key))
        for fault in self._faults:
            if fault[2] > 0 and fault[0](op, key):
                fault[2] -= 1
                return fault[1]
        return None

    def _done(self, op: str, result: Result) -> Result:
        if self.after_call is not None:
            self.after_call(op)
        return result

    def _view(self, tid: str) -> TargetObject:
        r = self.store[tid]
        return TargetObject(target_id=tid, kind=r["kind"], external_id=r["external_id"],
                            attributes=r["attributes"], active=r["active"])

    # ---- Target protocol ------------------------------------------------------------------
    def describe(self) -> Mapping[str, Any]:
        return {"kind": "memory", "objects": len(self.store)}

    def lookup_by_anchor(self, kind: ObjectKind, anchor: str) -> Result:
        if (f := self._call("lookup_by_anchor", anchor)) is not None:
            return f
        ids = [t for t in self._by_ext.get((kind, anchor), ()) if t in self.store
               and self.store[t]["external_id"] == anchor]
        return Done(found=tuple(self._view(t) for t in sorted(ids)))

    def lookup_by_attribute(self, kind: ObjectKind, attribute: str, value: str) -> Result:
        if (f := self._call("lookup_by_attribute", value)) is not None:
            return f
        ids = sorted(t for t in self._by_attr.get((kind, attribute, str(value).lower()), ()) if t in self.store)
        return Done(found=tuple(self._view(t) for t in ids))

    def _unique_conflict(self, kind: ObjectKind, attrs: Mapping[str, Any], skip: str | None) -> str | None:
        key = "userName" if kind != ObjectKind.GROUP else "displayName"
        value = attrs.get(key)
        if value is None:
            return None
        for t in sorted(self._by_attr.get((kind, key, str(value).lower()), ())):
            if t != skip and t in self.store:
                return f"{key} {value!r} is already used by {t}"
        return None

    @staticmethod
    def _keys(r: dict[str, Any]) -> list[tuple[ObjectKind, str, str]]:
        return [(r["kind"], a, v.lower()) for a, v in r["attributes"].items() if isinstance(v, str)]

    def _index(self, tid: str) -> None:
        r = self.store[tid]
        if r["external_id"]:
            self._by_ext.setdefault((r["kind"], r["external_id"]), set()).add(tid)
        for k in self._keys(r):
            self._by_attr.setdefault(k, set()).add(tid)

    def _unindex(self, tid: str) -> None:
        r = self.store[tid]
        if r["external_id"]:
            self._by_ext.get((r["kind"], r["external_id"]), set()).discard(tid)
        for k in self._keys(r):
            self._by_attr.get(k, set()).discard(tid)

    def create(self, kind: ObjectKind, anchor: str, attributes: Mapping[str, Any]) -> Result:
        if (f := self._call("create", anchor)) is not None:
            return f
        if (conflict := self._unique_conflict(kind, attributes, None)) is not None:
            return Terminal(conflict, status=409, scim_type="uniqueness")
        attrs = {k: v for k, v in attributes.items() if v is not None and k != "active"
                 and (not self.lean or k == "userName")}
        tid = f"t{next(self._ids)}"
        active = attributes.get("active", True)
        self.store[tid] = {"kind": kind, "external_id": anchor, "attributes": attrs,
                           "active": active if isinstance(active, bool) else str(active).lower() == "true",
                           "members": set()}
        self._index(tid)
        return self._done("create", Done(target_id=tid, status=201))

    def update(self, kind: ObjectKind, target_id: str, changes: Mapping[str, Any], *,
               anchor: str | None = None) -> Result:
        if (f := self._call("update", target_id)) is not None:
            return f
        r = self.store.get(target_id)
        if r is None:
            return Terminal(f"{target_id} not found", status=404)
        merged = {**r["attributes"], **changes}
        if (conflict := self._unique_conflict(kind, merged, target_id)) is not None:
            return Terminal(conflict, status=409, scim_type="uniqueness")
        self._unindex(target_id)
        for k, v in changes.items():
            if k == "active":
                r["active"] = v if isinstance(v, bool) else str(v).lower() == "true"
            elif v is None:
                r["attributes"].pop(k, None)
            else:
                r["attributes"][k] = v
        if anchor is not None:
            r["external_id"] = anchor
        self._index(target_id)
        return self._done("update", Done(target_id=target_id, status=200))

    def _set_active(self, op: str, target_id: str, active: bool) -> Result:
        if (f := self._call(op, target_id)) is not None:
            return f
        if target_id not in self.store:
            return Terminal(f"{target_id} not found", status=404)
        self.store[target_id]["active"] = active
        return self._done(op, Done(target_id=target_id, status=200))

    def disable(self, kind: ObjectKind, target_id: str) -> Result:
        return self._set_active("disable", target_id, False)

    def restore(self, kind: ObjectKind, target_id: str) -> Result:
        return self._set_active("restore", target_id, True)

    def delete(self, kind: ObjectKind, target_id: str) -> Result:
        if (f := self._call("delete", target_id)) is not None:
            return f
        if target_id not in self.store:
            return Terminal(f"{target_id} not found", status=404)
        self._unindex(target_id)
        del self.store[target_id]
        for r in self.store.values():
            r["members"].discard(target_id)
        return self._done("delete", Done(target_id=target_id, status=204))

    def _members(self, op: str, group_id: str, members: Sequence[tuple[ObjectKind, str]], add: bool) -> Result:
        if (f := self._call(op, group_id)) is not None:
            return f
        r = self.store.get(group_id)
        if r is None:
            return Terminal(f"{group_id} not found", status=404)
        ids = {m for _, m in members}
        if add:
            missing = [m for m in ids if m not in self.store]
            if missing:
                return Terminal(f"member {missing[0]} not found", status=400, scim_type="invalidValue")
            r["members"] |= ids
        else:
            r["members"] -= ids
        return self._done(op, Done(target_id=group_id, status=204))

    def add_members(self, group_id: str, members: Sequence[tuple[ObjectKind, str]]) -> Result:
        return self._members("add_members", group_id, members, True)

    def remove_members(self, group_id: str, members: Sequence[tuple[ObjectKind, str]]) -> Result:
        return self._members("remove_members", group_id, members, False)

    def list_owned(self, kind: ObjectKind) -> Iterator[TargetObject]:
        for t, r in list(self.store.items()):
            if r["kind"] == kind and r["external_id"]:
                yield self._view(t)

    def list_objects(self, kind: ObjectKind) -> Iterator[TargetObject]:
        """Every object of ``kind``, owned or not (a complete listing)."""
        self.calls.append(("list_objects", str(kind)))
        for t, r in list(self.store.items()):
            if r["kind"] == kind:
                yield self._view(t)

    def close(self) -> None:
        pass


__all__ = ["MemorySource", "MemoryTarget", "RetryAfter", "Terminal", "Done"]


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

"""An in-memory target implementing the target protocol, deterministic: behaves like a SCIM
service (externalId, userName uniqueness, member sets by target id); fault hooks make a call
answer a chosen result."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from hybridsync.connectors.base import Done, Result, Terminal
from hybridsync.engine.core.values import ObjectKind, TargetObject

__all__ = ["MemoryTarget"]


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

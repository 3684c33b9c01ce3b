"""Scoping groups by objectGUID (issue 14, finding 2).

The configured DN is only how a scoping group is first found (in the current read, then the
store); its objectGUID is then remembered (store meta ``scope.group_guid.<source>.<i>``) and the
group is followed by GUID from then on. A scoping group that is missing (deleted, or not found),
or renamed or moved out of its configured DN, is a *problem*: ``GroupScope.problems`` names it,
the planner blocks every scope-exit disable it would cause (``safety.scope_groups``), and the
cycle reports it. A renamed group's members stay in scope through its GUID.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hybridsync.engine.core.values import ObjectState
from hybridsync.engine.plan.scope import GroupScope, expand_group_scope, normalize_dn


def _key(source: str, index: int, dn: str) -> str:
    return f"scope.group_guid.{source}.{index}.{normalize_dn(dn)}"


def resolve(store: Any, source: str, groups: Sequence[str], overlay: Mapping[str, ObjectState],
            anchor_by_dn: Callable[[str], str | None], *, remember: bool) -> GroupScope:
    """The closure of ``groups`` (configured DNs), each resolved by its remembered objectGUID."""
    by_guid = {s.object_guid: s for s in overlay.values()}

    def state(guid: str) -> ObjectState | None:
        return by_guid.get(guid) or store.object_by_guid(source, guid)

    guid_by_dn: dict[str, str] = {}
    problems: list[str] = []
    for i, dn in enumerate(groups):
        key = normalize_dn(dn)
        guid = store.meta_get(_key(source, i, dn))
        if guid is None:
            anchor = anchor_by_dn(key)
            st = (overlay.get(anchor) or store.get_object(source, anchor)) if anchor else None
            if st is None or st.deleted:
                problems.append(f"scope.groups[{i}] {dn}: missing (no live group at that DN)")
                continue
            guid = st.object_guid
            if remember:
                store.meta_set(_key(source, i, dn), guid)
        st = state(guid)
        if st is None or st.deleted:
            problems.append(f"scope.groups[{i}] {dn}: missing (the group {guid} was deleted or is unreadable)")
            continue
        if normalize_dn(st.dn) != key:
            problems.append(f"scope.groups[{i}] {dn}: renamed or moved to {st.dn} (objectGUID {guid}); "
                            "update the config")
        guid_by_dn[key] = guid
    members: dict[str, frozenset[str]] = {}
    frontier = sorted(set(guid_by_dn.values()))
    while frontier:
        nxt: set[str] = set()
        for g in frontier:
            st = state(g)
            members[g] = st.members if st is not None and not st.deleted else frozenset()
            nxt.update(m for m in members[g] if m not in members)
        frontier = sorted(nxt)
    if remember and (store.meta_get(f"scope.problems.{source}") or []) != problems:
        store.meta_set(f"scope.problems.{source}", problems)  # for status
    scope = expand_group_scope(groups, guid_by_dn, members)
    return GroupScope(scope.members, scope.via, scope.missing, tuple(problems))


__all__ = ["resolve"]

"""Group members for one target: which member anchors a group should hold there. Pure.

A member counts when the target takes its kind and it is provisioned there (stored state
provisioned/disabled/held/escrow with a target id) or will be by this plan (pending_create,
provisioned, disabled). Nested groups per ``TargetConfig.nested_groups``: ``nested`` keeps them as
group members, ``flatten`` replaces them by their transitive user/contact members (cycles
tolerated), ``omit`` drops them.

``unread_members``: a group names a member that neither this plan nor the store knows. In a page
of a full read that is not its last (``defers_members``), a later page may bring it: then
``target.plan_members`` leaves the group's member change to the cycle's due pass, which sees every
member (one PATCH per group for a full sync, not one per page that created some of its members),
and ``needs.questions`` does not ask for that group's member states, so the page's plan reads
nothing of the members the page before is still creating (``runtime.pipeline`` plans it while
they are in flight). A group naming a member never read (outside the base DN) is planned again
in every full read's due pass, where it changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from hybridsync.engine.core.config import TargetConfig
from hybridsync.engine.core.states import PRESENT_PLANNED, PRESENT_STORED
from hybridsync.engine.core.values import ObjectKind, SourceObject, TargetState
from hybridsync.engine.plan import lifecycle as lc
from hybridsync.engine.plan.inputs import PlanInput, References
from hybridsync.engine.plan.lifecycle import State



class Planning(Protocol):
    """What member planning reads of ``target.TargetPlanner``."""

    inp: PlanInput
    cfg: TargetConfig
    types: frozenset[str]
    by_guid: Mapping[str, SourceObject]
    planned: dict[str, State]
    projections: set[str]

    def state(self, anchor: str) -> TargetState | None: ...


def stored_present(ts: TargetState | None) -> bool:
    return ts is not None and lc.effective_state(ts) in PRESENT_STORED and bool(ts.target_id)


def _kind(tp: Planning, guid: str, anchor: str) -> ObjectKind | None:
    obj = tp.by_guid.get(guid)
    if obj is not None and obj.kind is not None:
        return obj.kind
    kind = tp.inp.refs.kind_by_anchor.get(anchor)
    if kind is not None:
        return ObjectKind(kind)
    ts = tp.state(anchor)
    return ts.kind if ts is not None else None


def _members_of(tp: Planning, guid: str) -> frozenset[str]:
    obj = tp.by_guid.get(guid)
    if obj is not None and not obj.deleted:
        return frozenset(obj.members or ())
    return frozenset(tp.inp.refs.members_by_guid.get(guid) or ())


def _present(tp: Planning, anchor: str) -> bool:
    planned = tp.planned.get(anchor)
    if planned is not None:
        return planned in PRESENT_PLANNED and (anchor in tp.projections or stored_present(tp.state(anchor)))
    return stored_present(tp.state(anchor))


def desired_members(tp: Planning, group: SourceObject) -> frozenset[str]:
    """Member anchors ``group`` should hold at ``tp``'s target."""
    mode = tp.cfg.nested_groups
    types = tp.types
    out: set[str] = set()
    visited = {group.object_guid}
    stack = sorted(group.members or (), reverse=True)
    direct = set(stack)
    by_guid = tp.by_guid.get
    anchor_by_guid = tp.inp.refs.anchor_by_guid.get
    while stack:
        guid = stack.pop()
        if guid in visited and guid not in direct:
            continue
        visited.add(guid)
        obj = by_guid(guid)  # _anchor and _kind, inlined: this runs once per member
        anchor = obj.anchor if obj is not None else anchor_by_guid(guid)
        if anchor is None:
            continue
        kind = obj.kind if obj is not None and obj.kind is not None else _kind(tp, guid, anchor)
        if kind is None:
            continue
        if kind == ObjectKind.GROUP:
            if mode == "flatten":
                stack.extend(g for g in sorted(_members_of(tp, guid), reverse=True) if g not in visited)
                continue
            if mode == "omit" or guid not in direct:
                continue
        if kind not in types or anchor == group.anchor:  # a StrEnum hashes and compares as its name
            continue
        if _present(tp, anchor):
            out.add(anchor)
    return frozenset(out)


def unread_members(group: SourceObject, by_guid: Mapping[str, SourceObject], refs: References) -> bool:
    """Whether a direct member of ``group`` is in neither this plan nor the store (the store
    answered "no such object" for its objectGUID): not read yet, or never read (out of the base)."""
    answered = refs.anchor_by_guid
    return any(g not in by_guid and g in answered and answered[g] is None for g in group.members or ())


def defers_members(inp: PlanInput) -> bool:
    """Whether this plan leaves the member changes of groups with unread members to the due pass:
    a page of a full read with more pages to come."""
    return inp.read.mode == "full" and not inp.read.final

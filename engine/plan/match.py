"""Matching: which target object (if any) a source object whose anchor the target does not know
yet corresponds to. Pure.

1. ``externalId == anchor`` (``match.anchor``): the object is already ours at the target (the
   state was lost): adopt it.
2. Soft match on ``TargetConfig.matching`` paths in precedence order (``match.soft.<path>``),
   case-insensitively against the projection's values; the first path that finds candidates
   decides. One candidate -> adopt; several -> disputed.
3. A candidate already held by another anchor's stored state: if that predecessor is
   soft-deleted / disabled / held -- or leaves in this very plan (a tombstone, a scope exit or
   absence read with the new object: a user or group deleted and re-created inside one poll
   window) --, owned (created or adopted) and ``restore_recreated`` is on, the new object takes it
   over (``match.recreated``: re-anchor and restore, both anchors named); otherwise disputed. A
   candidate whose externalId names another, unknown anchor is disputed.
3b. Groups (on a target whose group names are unique, ``GROUP_NAME_UNIQUE``): a group the target
   does not know is matched by ``displayName`` for a takeover only: a soft-deleted group of ours
   with that name is taken over (a group deleted in AD and created again), any other holder --
   a live group of ours, a foreign group -- makes it disputed, naming both (a create would only
   meet the target's 409). A group is never adopted by name.
4. Two source objects of one plan claiming one target object: both disputed
   (``resolve_conflicts``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from attrs import frozen

from hybridsync.engine.core.states import TAKEOVER
from hybridsync.engine.core.values import ObjectKind, Ownership, Reason, TargetObject, TargetState

CREATE = "create"
ADOPT = "adopt"
RECREATE = "recreate"
DISPUTED = "disputed"
GROUP_NAME = "displayName"  # the path a group is taken over by (3b)
GROUP_NAME_UNIQUE_EXCEPT = frozenset({"entra"})  # target kinds whose group names need not be unique


@frozen
class MatchResult:
    outcome: str  # create | adopt | recreate | disputed
    reasons: tuple[Reason, ...]
    target: TargetObject | None = None
    predecessor: TargetState | None = None  # the state whose target object a recreate takes over
    others: tuple[str, ...] = ()  # the other side(s) of a dispute (anchors or target ids)


NO_MATCH = MatchResult(CREATE, (Reason("match.none", "no target object matches: create"),))  # shared: frozen


def group_names(target_kind: str) -> bool:
    """Whether groups the target does not know are matched by name (3b) at a target of this kind."""
    return target_kind not in GROUP_NAME_UNIQUE_EXCEPT


def _family(kind: ObjectKind | str | None) -> str:
    return "group" if str(kind) == "group" else "user"


def _first(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value


def _key(value: Any) -> str | None:
    v = _first(value)
    if v is None or isinstance(v, bool):
        return None
    text = str(v).strip()
    return text.casefold() if text else None


# for ``plan.converge`` (a rename onto a held name compares the same way)
family, first, key = _family, _first, _key


class TargetIndex:
    """The engine's ``TargetView`` indexed by externalId and by each matching path's value."""

    def __init__(self, objects: Iterable[TargetObject], matching: tuple[str, ...],
                 holders: Mapping[tuple[ObjectKind, str], TargetState], *, group_names: bool = False,
                 leaving: frozenset[str] = frozenset()):
        self.matching = matching
        self.leaving = leaving  # anchors leaving the target in this plan: takeover candidates too
        self.group_names = group_names
        self.holders = holders
        self.by_external: dict[str, list[TargetObject]] = defaultdict(list)
        self.by_value: dict[tuple[str, str, str], list[TargetObject]] = defaultdict(list)
        seen: set[tuple[ObjectKind, str]] = set()  # a server may number users and groups apart
        for obj in sorted(objects, key=lambda o: (o.target_id, o.kind)):
            if (obj.kind, obj.target_id) in seen:
                continue
            seen.add((obj.kind, obj.target_id))
            fam = _family(obj.kind)
            if obj.external_id:
                self.by_external[obj.external_id].append(obj)
            for path in matching + ((GROUP_NAME,) if group_names and fam == "group" else ()):
                k = _key(obj.attributes.get(path))
                if k is not None:
                    self.by_value[(fam, path, k)].append(obj)

    @property
    def empty(self) -> bool:
        """Nothing to match against: every ``find`` answers ``NO_MATCH`` (a create)."""
        return not self.by_external and not self.by_value

    def find(self, anchor: str, kind: ObjectKind, values: Mapping[str, Any], *,
             restore_recreated: bool) -> MatchResult:
        if not self.by_external and not self.by_value:  # an empty view (a first sync): nothing to match
            return NO_MATCH
        fam = _family(kind)
        own = [o for o in self.by_external.get(anchor, ()) if _family(o.kind) == fam]
        if len(own) == 1:
            return MatchResult(ADOPT, (Reason("match.anchor", f"target object {own[0].target_id} has externalId {anchor}"),),
                               own[0])
        if len(own) > 1:
            ids = tuple(o.target_id for o in own)
            return MatchResult(DISPUTED, (Reason("match.anchor", f"several target objects have externalId {anchor}: "
                                                 + ", ".join(ids)),), others=ids)
        if fam == "group" and self.group_names:
            return self._group(anchor, values, restore_recreated)
        first: tuple[str, str, TargetObject] | None = None
        every: dict[str, TargetObject] = {}
        for path in self.matching:
            k = _key(values.get(path))
            if k is None:
                continue
            found = self.by_value.get((fam, path, k), [])
            if not found:
                continue
            rule = f"match.soft.{path}"
            if len(found) > 1:
                ids = tuple(o.target_id for o in found)
                return MatchResult(DISPUTED, (Reason(rule, f"{path}={_first(values.get(path))!r} matches several target "
                                                     f"objects: {', '.join(ids)}"),), others=ids)
            every.setdefault(found[0].target_id, found[0])
            if first is None:
                first = (rule, f"{path}={_first(values.get(path))!r}", found[0])
        if first is None:
            return NO_MATCH
        rule, what, obj = first
        if len(every) > 1:  # the keys name different objects: no identity, no adoption
            ids = tuple(sorted(every))
            return MatchResult(DISPUTED, (Reason("match.disputed", f"the matching keys name several target objects: "
                                                 f"{', '.join(ids)}"),), obj, others=ids)
        mine, theirs = _key(values.get("userName")), _key(obj.attributes.get("userName"))
        if mine is not None and theirs is not None and mine != theirs:
            return MatchResult(DISPUTED, (Reason(rule, f"{what} matches target object {obj.target_id}"), Reason(
                "match.disputed", f"adopting it would change its userName {_first(obj.attributes.get('userName'))!r} "
                                  f"to {_first(values.get('userName'))!r}: not the same identity")),
                obj, others=(obj.target_id,))
        return self._judge(anchor, obj, rule, what, restore_recreated)

    def _group(self, anchor: str, values: Mapping[str, Any], restore_recreated: bool) -> MatchResult:
        """3b: a group the target does not know, by its name: a takeover or a dispute, never an adoption."""
        k = _key(values.get(GROUP_NAME))
        found = self.by_value.get(("group", GROUP_NAME, k), []) if k is not None else []
        if not found:
            return NO_MATCH
        rule, what = f"match.soft.{GROUP_NAME}", f"{GROUP_NAME}={_first(values.get(GROUP_NAME))!r}"
        if len(found) > 1:
            ids = tuple(o.target_id for o in found)
            return MatchResult(DISPUTED, (Reason(rule, f"{what} names several target groups: {', '.join(ids)}"),),
                               others=ids)
        obj = found[0]
        res = self._judge(anchor, obj, rule, what, restore_recreated)
        if res.outcome == ADOPT:  # nobody of ours holds it: a group hybridsync does not own
            return MatchResult(DISPUTED, (Reason(rule, f"{what} is the name of target group {obj.target_id}, "
                                                 "which hybridsync does not own: not adopted by name"),),
                               obj, others=(obj.target_id,))
        return res

    def _judge(self, anchor: str, obj: TargetObject, rule: str, what: str, restore_recreated: bool) -> MatchResult:
        holder = self.holders.get((obj.kind, obj.target_id))
        if holder is not None and holder.anchor != anchor:
            owned = holder.ownership in (Ownership.CREATED, Ownership.ADOPTED)
            leaving = holder.anchor in self.leaving
            if restore_recreated and owned and (holder.state in TAKEOVER or leaving):
                return MatchResult(RECREATE, (
                    Reason(rule, f"{what} matches target object {obj.target_id}"),
                    Reason("match.recreated", f"re-created source object: new anchor {anchor} takes over "
                                              f"{obj.target_id} from predecessor {holder.anchor} ({holder.state}"
                                              + (", leaving in this plan)" if leaving else ")")),
                ), obj, predecessor=holder)
            why = ("restore_recreated is off" if not restore_recreated else
                   f"held by {holder.anchor} in state {holder.state}, ownership {holder.ownership}")
            return MatchResult(DISPUTED, (Reason(rule, f"{what} matches target object {obj.target_id}, {why}"),),
                               obj, others=(holder.anchor, obj.target_id))
        if obj.external_id and obj.external_id != anchor and holder is None:
            return MatchResult(DISPUTED, (Reason(rule, f"{what} matches target object {obj.target_id} whose externalId "
                                                 f"{obj.external_id} names another source object"),),
                               obj, others=(obj.external_id, obj.target_id))
        return MatchResult(ADOPT, (Reason(rule, f"{what} matches target object {obj.target_id}: adopt"),), obj)


def resolve_conflicts(results: Mapping[str, MatchResult]) -> dict[str, MatchResult]:
    """Two source objects claiming one target object: both become disputed, naming each other."""
    claims: dict[str, list[str]] = defaultdict(list)
    for anchor, res in results.items():
        if res.outcome in (ADOPT, RECREATE) and res.target is not None:
            claims[res.target.target_id].append(anchor)
    out = dict(results)
    for target_id, anchors in claims.items():
        if len(anchors) < 2:
            continue
        anchors.sort()
        for anchor in anchors:
            others = tuple(a for a in anchors if a != anchor)
            out[anchor] = MatchResult(DISPUTED, results[anchor].reasons + (
                Reason("match.disputed", f"target object {target_id} is also matched by {', '.join(others)}"),),
                results[anchor].target, others=others + (target_id,))
    return out

"""The planner's input values: what the engine gathers, answers and passes to ``plan()``.

Everything here is a plain frozen value or a plain mapping: the planner reads it and never asks
anything else (no store, no connector, no callback doing I/O).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from attrs import field, frozen

from hybridsync.engine.core.config import SafetyConfig, ScopeConfig, TargetConfig
from hybridsync.engine.core.values import (
    ObjectKind,
    ReadMode,
    SourceObject,
    TargetObject,
    TargetState,
    frozen_mapping,
)
from hybridsync.engine.mapping.projection import ProjectionContext
from hybridsync.engine.plan.scope import CompiledScope, GroupScope


class Projector(Protocol):
    """What the planner needs of ``engine.mapping.TargetMapping``."""

    def project(self, obj: SourceObject, ctx: ProjectionContext) -> Any: ...

    def paths(self, kind: ObjectKind | str) -> tuple[str, ...]: ...


@frozen
class ReadEvidence:
    """What the read proves about absence."""

    mode: ReadMode = ReadMode.DELTA
    final: bool = True  # the last plan of this read (full reads planned in pages: only the last)
    complete: bool = False  # the full read finished without error (SourceBatch.complete)
    count: int | None = None  # objects this full read returned (final plan only)
    last_complete_count: int | None = None  # objects the last complete full read returned


@frozen
class References:
    """Stored facts the planner uses to resolve references: plain values, answered by the engine
    before planning (``needs.questions``). A key answered "not stored" maps to None; a key not
    asked is absent (both read as "no such object").

    - ``anchor_by_guid``: objectGUID -> anchor, for every object that may be a member.
    - ``anchor_by_dn``: normalized DN (``scope.normalize_dn``) -> anchor (manager references).
    - ``kind_by_anchor``: anchor -> ObjectKind of stored objects (members not in this batch).
    - ``members_by_guid``: group objectGUID -> direct member objectGUIDs (flatten mode).
    """

    anchor_by_guid: Mapping[str, str | None] = field(factory=dict)
    anchor_by_dn: Mapping[str, str | None] = field(factory=dict)
    kind_by_anchor: Mapping[str, ObjectKind | None] = field(factory=dict)
    members_by_guid: Mapping[str, frozenset[str] | None] = field(factory=dict)


@frozen
class Lookup:
    """A question for the engine to ask a target before planning: who holds ``path == value``?

    ``path`` is ``externalId`` (value = the anchor) or a matching path of ``TargetConfig.matching``
    (value = the projected value, compared case-insensitively).
    """

    target: str
    kind: ObjectKind
    path: str
    value: str


@frozen
class TargetView:
    """What the engine found at the target for the lookups (or a full listing of it).

    ``objects``: every TargetObject returned by any lookup (attributes flattened to projection
    paths, ``external_id`` set). ``holders``: (kind, target_id) -> the stored TargetState (any
    anchor) that holds that target object, for each of those objects
    (``Store.target_state_by_target_id``); keyed by kind too, as a server may number users and
    groups apart (django-scim2: user 4 and group 4).
    The view is assumed to contain every candidate for the lookups asked.
    """

    objects: tuple[TargetObject, ...] = ()
    holders: Mapping[tuple[ObjectKind, str], TargetState] = field(factory=dict)


@frozen
class TargetInput:
    config: TargetConfig
    mapping: Projector
    states: Mapping[str, TargetState | None] = field(factory=dict)  # anchor -> stored state (None: none)
    view: TargetView = TargetView()
    approved: frozenset[str] = frozenset()  # anchors whose held disable/delete was approved
    # (anchor, target id) of each approved adoption ([matching] adopt = "approve")
    adoptions: frozenset[tuple[str, str]] = frozenset()


@frozen
class Carry:
    """What one plan hands to the next plan of the same cycle (the engine passes it back as
    ``PlanInput.carry``): the disables/deletes applied within the window and planned per target
    so far -- once the threshold tripped, more than the limit, so every later page of the cycle
    holds too -- and the limit per target (``plan.holds.effective_limit``; a target missing
    here has ``delete_threshold``)."""

    threshold_used: Mapping[str, int] = field(factory=dict, converter=frozen_mapping)
    limits: Mapping[str, int] = field(factory=dict, converter=frozen_mapping)


@frozen
class PlanInput:
    source: str
    scope: ScopeConfig
    objects: tuple[SourceObject, ...]
    targets: tuple[TargetInput, ...]
    clock: datetime
    read: ReadEvidence = ReadEvidence()
    absent: frozenset[str] = frozenset()
    refs: References = References()
    group_scope: GroupScope | None = None
    safety: SafetyConfig = SafetyConfig()
    seed: str | int = ""
    carry: Carry = Carry()  # from the previous plan of this cycle (``Plan.carry``)


def make_context(inp: "PlanInput", resolve: Callable[[str], str | None]) -> ProjectionContext:
    """The mapping's ProjectionContext for this plan (clock, seed, reference resolver)."""
    return ProjectionContext(clock=inp.clock, seed=str(inp.seed), resolve_reference=resolve)


def dedupe(objects: Iterable[SourceObject]) -> tuple[SourceObject, ...]:
    best: dict[str, SourceObject] = {}
    for obj in objects:
        cur = best.get(obj.anchor)
        if cur is None or rank(obj) > rank(cur):
            best[obj.anchor] = obj
    return tuple(best[a] for a in sorted(best))


def rank(obj: SourceObject) -> tuple[Any, ...]:
    return (obj.usn if obj.usn is not None else -1, obj.deleted, obj.dn, sorted(obj.attributes.items()),
            sorted(obj.members or ()))


@functools.lru_cache(maxsize=32)
def compiled_scope(scope: ScopeConfig) -> CompiledScope:
    return CompiledScope(scope)

"""The pure planner: values in, a plan of frozen actions with reason chains out.

No I/O here: no LDAP, HTTP, SQLite, connectors or store. The engine gathers a ``PlanInput``,
calls ``plan()``, applies the actions in order, then records each outcome with
``lifecycle.outcome(action.to_state, action.kind, result)``.

What the engine must pass (``PlanInput``)
-----------------------------------------
- ``objects``: the objects to evaluate, as *full merged* ``SourceObject`` values (``merge()``
  output; tombstones with ``deleted=True``). Order does not matter; an anchor appearing twice is
  deduplicated deterministically (highest usn wins). Besides the read's objects, include:
  stored objects due for a time-based check (TargetStates in ``soft_deleted`` with
  ``since <= lifecycle.grace_cutoff(clock, soft_delete_days)``, escrow items whose
  ``next_retry_at <= clock``, approved held items) as ``ObjectState.as_source_object()``; objects
  found absent by a complete full read must be stored as deleted so they come back as tombstones.
  When a member's state changes (created, soft-deleted, restored), include the groups holding it
  (``Store.groups_with_member``) in a later plan so their member deltas follow.
- ``absent``: anchors absent from a *complete* full read (only in the last plan of that read).
- ``read``: ``ReadEvidence`` -- the mode, whether the full read completed, this read's object
  count and the last complete read's count. Deletes/disables from absence need a complete,
  not-suspicious full read; a full read whose final plan is incomplete or suspiciously small
  gets no deletes/disables at all.
- ``refs``: ``References`` resolving member/manager/group-scope references. Any ``Mapping``
  works (a lazy store-backed one too): the planner only calls ``.get(key)``.
- ``group_scope``: from ``scope.expand_group_scope(...)`` when the source scopes by groups,
  else None. Recompute it when the batch changes a group inside the closure.
- ``targets``: one ``TargetInput`` per target: config, compiled mapping, the ``TargetState`` of
  every involved anchor (the objects, their members, the absent ones; a lazy Mapping is fine),
  a ``TargetView`` answering the ``lookups()`` for anchors the target state doesn't know, the
  approved held anchors, and the number of disables/deletes already planned this cycle
  (``threshold_used``) so a full read planned page by page shares one threshold.
- ``safety``, ``clock`` (aware datetime) and ``seed`` (for mapping functions).

Paging: plan each page of a full read with ``final=False`` (absence is never evidence there),
then a last plan with ``final=True``, ``absent`` and the read counts. A delta is one plan; its
cost is proportional to the objects in it (and their members), not to the directory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from attrs import field, frozen

from hybridsync.engine.config import SafetyConfig, ScopeConfig, TargetConfig
from hybridsync.engine.values import (
    Action,
    ActionKind,
    ObjectKind,
    ReadMode,
    SourceObject,
    TargetObject,
    TargetState,
    frozen_mapping,
)


class Projector(Protocol):
    """What the planner needs of ``engine.mapping.TargetMapping``."""

    def project(self, obj: SourceObject, ctx: Any) -> Any: ...


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
    """Lookups the planner uses to resolve references (any Mapping; only ``.get`` is called).

    - ``anchor_by_guid``: objectGUID -> anchor, for every object that may be a member.
    - ``anchor_by_dn``: normalized DN (``scope.normalize_dn``) -> anchor (manager references).
    - ``kind_by_anchor``: anchor -> ObjectKind of stored objects (members not in this batch).
    - ``members_by_guid``: group objectGUID -> direct member objectGUIDs (flatten mode).
    """

    anchor_by_guid: Mapping[str, str] = field(factory=dict)
    anchor_by_dn: Mapping[str, str] = field(factory=dict)
    kind_by_anchor: Mapping[str, ObjectKind] = field(factory=dict)
    members_by_guid: Mapping[str, frozenset[str]] = field(factory=dict)


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
    paths, ``external_id`` set). ``holders``: target_id -> the stored TargetState (any anchor)
    that holds that target id, for each of those objects (``Store.target_state_by_target_id``).
    The view is assumed to contain every candidate for the lookups asked.
    """

    objects: tuple[TargetObject, ...] = ()
    holders: Mapping[str, TargetState] = field(factory=dict)


@frozen
class TargetInput:
    config: TargetConfig
    mapping: Projector
    states: Mapping[str, TargetState] = field(factory=dict)  # anchor -> stored state
    view: TargetView = TargetView()
    approved: frozenset[str] = frozenset()  # anchors whose held disable/delete was approved
    threshold_used: int = 0  # disables/deletes already planned at this target in this cycle


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
    group_scope: Any = None  # scope.GroupScope | None
    safety: SafetyConfig = SafetyConfig()
    seed: int = 0


@frozen
class PlanError:
    """A per-object problem (mapping error, unknown kind): the object is left alone."""

    target: str
    anchor: str
    dn: str | None
    stage: str  # "mapping", "scope", "match"
    message: str
    attribute: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "anchor": self.anchor, "dn": self.dn, "stage": self.stage,
                "attribute": self.attribute, "message": self.message}


@frozen
class Plan:
    """Frozen actions in apply order, per-object errors and a summary.

    Order: creates/adopts/restores/updates (groups after users), member additions, member
    removals, disables, deletes, then holds/reports/noops. ``Action.members`` holds member
    ANCHORS: the engine resolves them to target ids at apply time (after the creates above).
    ``summary``: counts by action kind, ``held``, and ``threshold_used`` per target (pass it back
    in the next page's ``TargetInput.threshold_used``).
    """

    actions: tuple[Action, ...] = ()
    errors: tuple[PlanError, ...] = ()
    summary: Mapping[str, Any] = field(factory=dict, converter=frozen_mapping)

    def to_jsonl(self) -> str:
        raise NotImplementedError

    @classmethod
    def from_jsonl(cls, text: str) -> "Plan":
        raise NotImplementedError


def lookups(inp: PlanInput) -> tuple[Lookup, ...]:
    """The target lookups ``plan(inp)`` needs answered in ``TargetView`` (pure, cheap).

    For every in-scope object whose anchor the target's state does not know (or knows only as
    deleted/disputed/out_of_scope/escrow-without-id): externalId = anchor, then each matching path
    with its projected value. The engine may instead pass a full listing of the target.
    """
    raise NotImplementedError


def plan(inp: PlanInput) -> Plan:
    """Decide, for every (object, target), what to do and why. Pure and deterministic."""
    raise NotImplementedError

"""Planning one page: the shell around the pure planner.

``PagePlanner`` answers the planner's questions (``plan.needs``) from the state store (this
page's writes first), its target lookups through ``runtime.targetview`` (a bulk listing per
kind and cycle, or per-object lookups), and runs ``planner.plan`` over those plain values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import partial

import attrs
from attrs import define

from hybridsync.connectors.base import Target
from hybridsync.engine.core.config import Config, ScopeConfig, SourceConfig
from hybridsync.engine.core.dn import normalize_dn
from hybridsync.engine.core.values import ObjectKind, ObjectState, SourceObject, TargetState
from hybridsync.engine.plan import needs, planner
from hybridsync.engine.plan.inputs import Lookup, Projector, References
from hybridsync.engine.plan.scope import GroupScope
from hybridsync.engine.runtime import holds, scopegroups
from hybridsync.engine.runtime.context import CycleState, PageWrites
from hybridsync.engine.runtime.health import TargetHealth
from hybridsync.engine.runtime.targetview import Listing, build_view
from hybridsync.statestore.protocol import StateStore

ANSWER_PART = 500  # stored objects loaded at once to answer the planner's questions
LISTING_ABOVE = 200  # lookups of one target in one plan above which its objects are listed instead


def _holder_of(store: StateStore, target: str, target_id: str, kind: ObjectKind) -> TargetState | None:
    """Who of ours holds the target object ``kind``/``target_id`` (ids may repeat across kinds)."""
    return store.target_state_by_target_id(target, target_id, kind=kind)


@define
class PagePlanner:
    store: StateStore
    config: Config
    source_name: str
    targets: Mapping[str, Target]
    mappings: Mapping[str, Projector]
    seed: int
    cycle: CycleState
    page: PageWrites
    health: TargetHealth
    listings: dict[str, Listing] = attrs.Factory(dict)  # target -> its listing (one per cycle)
    first_sync: dict[str, bool] = attrs.Factory(dict)  # target -> no stored state when the cycle began
    dry_run: bool = False
    report: Callable[[str, str | None, str, str], None] | None = None  # (anchor, dn, stage, message)
    problems_seen: set[str] = attrs.Factory(set)  # source-level problems reported once per cycle
    _scope_cfg: ScopeConfig | None = None
    # what the last plan met at the targets (``pipeline`` decides by it whether a plan made while
    # the page before was applied still holds): target -> the target ids its view found, and the
    # targets asked per object (not from a listing)
    found: dict[str, set[str]] = attrs.Factory(dict)
    asked: set[str] = attrs.Factory(set)
    # the source facts the last plan was answered (``Planned.refs``: a page planned again after
    # the page before committed starts from them and asks the store for target states only)
    refs: References = References()
    # anchor -> kind of the stored objects loaded while answering this plan's questions (a
    # member's anchor is asked by objectGUID first, then its kind: the object is loaded once)
    _kinds_seen: dict[str, ObjectKind] = attrs.Factory(dict)
    # the target states of the page's anchors, read with its objects (``StateStore.read_page``,
    # ``runtime.pages``): the next plan's questions about them are answered from here, then it
    # is dropped (a plan made again, or the next part of a page planned in parts, asks the store)
    prefetched: tuple[frozenset[str], Mapping[str, Mapping[str, TargetState]]] | None = None

    def plan(self, objects: tuple[SourceObject, ...], evidence: planner.ReadEvidence,
             absent: frozenset[str], *, refs: References | None = None) -> tuple[planner.Plan, dict[str, str]]:
        """The plan of ``objects``, and the targets whose lookups failed (their creates and
        adopts wait). ``refs``: the source facts an earlier plan of the same ``objects`` was
        answered, still true (``runtime.pipeline``: between a page's early plan and its plan
        after the page before committed, that commit wrote objects the early plan had read from
        the page writes already, and target states, which are asked again)."""
        src_cfg = self.config.source(self.source_name)
        approved = {name: holds.approvals(self.cycle.approved.get(name, ())) for name in self.targets}
        inputs = [planner.TargetInput(config=self.config.target(name), mapping=self.mappings[name],
                                      approved=approved[name][0], adoptions=approved[name][1])
                  for name in self.targets]
        inp = planner.PlanInput(source=self.source_name, scope=self._scope(src_cfg), objects=objects,
                                targets=tuple(inputs), clock=self.cycle.now, read=evidence, absent=absent,
                                group_scope=self._group_scope(), safety=self.config.safety, seed=self.seed,
                                carry=self.cycle.carry, refs=refs or References())
        dns = refs is None  # reference DNs come from the objects: asked in the first round only
        self._kinds_seen = {}
        try:
            while q := needs.questions(inp, dns=dns):
                inp = needs.answer(inp, self._answer(q))
                dns = False
        finally:
            self._kinds_seen, self.prefetched = {}, None
        self.refs = inp.refs
        self.page.known = {t.config.name: dict(t.states) for t in inp.targets}
        blocked: dict[str, str] = {}
        self.found, self.asked = {}, set()
        questions: dict[str, list[Lookup]] = {}
        for lk in planner.lookups(inp):
            questions.setdefault(lk.target, []).append(lk)
        views = []
        for ti in inp.targets:
            name = ti.config.name
            qs = questions.get(name, [])
            if not qs or name in self.health.paused:
                views.append(ti)
                continue
            target = self.targets[name]
            listing = self.listings.get(name)
            if listing is None and (len(qs) > LISTING_ABOVE or (callable(getattr(target, "list_objects", None))
                                                                and self._first_sync(name))):
                listing = self.listings[name] = Listing()
            if listing is not None:
                for kind in {lk.kind for lk in qs}:
                    listing.load(target, kind, ti.config.matching)
            if listing is None or any(lk.kind not in listing.kinds for lk in qs):
                self.asked.add(name)
            res = build_view(target, qs, partial(_holder_of, self.store, name), listing=listing)
            self.found[name] = {o.target_id for o in res.view.objects}
            if res.failures:
                blocked[name] = res.failures[0]  # the first reason, for the skipped outcomes
                if res.target_level:
                    self.health.quarantine(name, res.failures[0], auth=True)
            views.append(attrs.evolve(ti, view=res.view))
        return planner.plan(attrs.evolve(inp, targets=tuple(views))), blocked

    def _answer(self, q: needs.Questions) -> needs.Answers:
        """Answer the planner's questions from the store (objects written this page first)."""
        src, store, ov = self.source_name, self.store, self.page.objects
        states: dict[str, dict[str, TargetState | None]] = {}
        for name, anchors in q.states.items():
            if not anchors:
                continue
            written = self.page.states[name]
            wanted = sorted(a for a in anchors if a not in written)
            got: Mapping[str, TargetState] = {}
            if self.prefetched is not None and name in self.prefetched[1]:  # read with the page's objects
                read, got = self.prefetched[0], self.prefetched[1][name]
                wanted = [a for a in wanted if a not in read]
            if wanted:
                got = {**got, **store.get_target_states(name, wanted)}
            states[name] = {a: written[a] if a in written else got.get(a) for a in anchors}
        # only the answers are kept, never the member objects themselves: a page of groups asks
        # about every member of the directory (100k ObjectStates held at once were 400 MB)
        by_guid = {s.object_guid: s for s in ov.values()} if (q.anchor_by_guid or q.members_by_guid) else {}
        anchor_by_guid: dict[str, str | None] = {}
        members_by_guid: dict[str, frozenset[str] | None] = {}
        guids = sorted(q.anchor_by_guid | q.members_by_guid)
        for start in range(0, len(guids), ANSWER_PART):  # a part's objects at once, then only the answers
            part = guids[start:start + ANSWER_PART]
            stored = self._by_anchor_guid([g for g in part if g not in by_guid])
            for g in part:
                o = by_guid.get(g) or stored.get(g) or store.object_by_guid(src, g)
                if o is not None:
                    self._kinds_seen[o.anchor] = o.kind
                if g in q.anchor_by_guid:
                    anchor_by_guid[g] = o.anchor if o is not None else None
                if g in q.members_by_guid:
                    members_by_guid[g] = o.members if o is not None else None
        kinds: dict[str, ObjectKind | None] = {}
        seen = self._kinds_seen
        wanted = sorted(a for a in q.kind_by_anchor if a not in ov and a not in seen)
        for start in range(0, len(wanted), ANSWER_PART):
            stored = store.get_objects(src, wanted[start:start + ANSWER_PART])
            kinds.update((a, st.kind) for a, st in stored.items())
        for a in q.kind_by_anchor:
            st = ov.get(a)
            kinds[a] = st.kind if st is not None else seen[a] if a in seen else kinds.get(a)
        return needs.Answers(
            states=states,
            anchor_by_guid=anchor_by_guid,
            anchor_by_dn=self._anchors_by_dn(q.anchor_by_dn),
            kind_by_anchor=kinds,
            members_by_guid=members_by_guid)

    def _by_anchor_guid(self, guids: list[str]) -> dict[str, ObjectState]:
        """The live stored objects whose anchor is their objectGUID, for ``guids`` (the anchor is
        the objectGUID unless a consistency GUID is configured): one query for a part of the
        members instead of one per member. A GUID not answered here (another anchor, a tombstone, an anchor
        that is another object's GUID) is asked by objectGUID as before."""
        if not guids:
            return {}
        return {a: st for a, st in self.store.get_objects(self.source_name, guids).items()
                if st.object_guid == a and not st.deleted}

    def _anchors_by_dn(self, dns: Iterable[str], *, former: bool = True) -> dict[str, str | None]:
        """The live object of this source at each normalized DN (this page's objects first); with
        ``former``, else the live object that last had it (a manager renamed or moved: AD rewrote
        the reports' DN values without an event for them, so their stored copies hold the old one)."""
        wanted = sorted(dns)
        if not wanted:
            return {}
        written = {normalize_dn(s.dn): s.anchor for s in self.page.objects.values() if not s.deleted}
        out: dict[str, str | None] = {}
        for dn in wanted:
            out[dn] = written.get(dn)
            if out[dn] is None:
                out[dn] = next((st.anchor for st in self.store.live_at_dn(self.source_name, dn)
                                if normalize_dn(st.dn) == dn), None)
            if out[dn] is None and former:
                out[dn] = self._former_holder(dn)
        return out

    def _former_holder(self, dn: str) -> str | None:
        """The live object of this source whose DN history holds ``dn`` (latest first)."""
        for anchor in self.store.anchors_by_former_dn(self.source_name, dn):
            st = self.page.object(self.store, self.source_name, anchor)
            if st is not None and not st.deleted:
                return str(anchor)
        return None

    def _first_sync(self, name: str) -> bool:
        """The target has no stored state yet (asked once per cycle and target)."""
        if name not in self.first_sync:
            self.first_sync[name] = not self.store.has_target_states(name)
        return self.first_sync[name]

    def _scope(self, src_cfg: SourceConfig) -> ScopeConfig:
        """The source's scope, bounded by its ``base_dn`` when it names no OUs: a delta read on
        the naming-context root (DirSync) also carries objects outside ``base_dn``, and nothing
        outside it is ever provisioned. One value per cycle (the planner may cache by it)."""
        if self._scope_cfg is None:
            scope = src_cfg.scope
            if not scope.include_ous and src_cfg.base_dn:
                scope = attrs.evolve(scope, include_ous=(src_cfg.base_dn,))
            self._scope_cfg = scope
        return self._scope_cfg

    def _group_scope(self) -> GroupScope | None:
        """The scoping groups' closure, each group followed by objectGUID (``runtime.scopegroups``);
        a group missing or renamed is reported once per cycle and blocks the exits it would cause."""
        groups = self.config.source(self.source_name).scope.groups
        if not groups:
            return None
        gs = scopegroups.resolve(self.store, self.source_name, groups, self.page.objects,
                                 lambda dn: self._anchors_by_dn([dn], former=False)[dn], remember=not self.dry_run)
        for problem in gs.problems:
            if problem not in self.problems_seen:
                self.problems_seen.add(problem)
                if self.report is not None:
                    self.report(problem.split(" ", 1)[0], None, "scope", problem)
        return gs


__all__ = ["PagePlanner"]

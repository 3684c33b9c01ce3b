"""The working state of one cycle: planning with target views, applying, committing, counting.

``engine.cycle`` drives the read; this object holds what a cycle accumulates (overlays of
states written but not yet committed, per-target operation counts for quarantine, the outcomes
for the RunReport) and does the store writes in the shapes the crash-safety rules require.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs
import structlog

from hybridsync.engine.plan import needs, planner
from hybridsync.engine.runtime.apply import FAR, ApplyMixin
from hybridsync.engine.runtime.reconcile import Outcome, settle_pending
from hybridsync.engine.plan.scope import GroupScope, expand_group_scope, normalize_dn
from hybridsync.engine.runtime.targetview import Listing, build_view
from hybridsync.engine.runtime.verdict import failed_targets
from hybridsync.engine.core.values import ActionKind, ObjectState, SourceObject, TargetState

log = structlog.get_logger("hybridsync.cycle")
A = ActionKind


@attrs.define
class TargetCounters:
    ops: int = 0
    failures: int = 0
    auth_failure: str | None = None


@attrs.define
class CycleContext(ApplyMixin):
    store: Any
    config: Any
    source_name: str
    sources: Mapping[str, Any]
    targets: Mapping[str, Any]
    mappings: Mapping[str, Any]
    clock: Callable[[], datetime]
    dry_run: bool = False
    full_reason: str | None = None
    stop_event: Any = None
    seed: int = 0
    progress: Any = None  # called with a CycleProgress after each page
    recorder: Any = None  # engine.recording.Recorder: flushed inside each commit unit
    # accumulated
    cycle_id: int = 0
    mode: Any = None
    expected: Any = None
    started: float = 0.0
    status: str = "ok"
    source_error: str | None = None
    counts: dict = attrs.Factory(dict)
    outcomes: list = attrs.Factory(list)  # (anchor, target, action kind, result, detail, dn)
    problems: list = attrs.Factory(list)
    planned: list = attrs.Factory(list)  # dry-run / plan: the actions
    timings: dict = attrs.Factory(dict)
    objects_overlay: dict = attrs.Factory(dict)
    state_overlay: dict = attrs.Factory(dict)  # target -> anchor -> TargetState
    counters: dict = attrs.Factory(dict)
    paused: dict = attrs.Factory(dict)  # target -> (until, why)
    approved: dict = attrs.Factory(dict)  # target -> [HeldRecord]
    carry: planner.Carry = planner.Carry()  # from the last plan, into the next (threshold used)
    known_states: dict = attrs.Factory(dict)  # target -> anchor -> state answered for this page's plan
    followup_groups: set = attrs.Factory(set)
    planned_anchors_since_followup: set = attrs.Factory(set)
    listings: dict = attrs.Factory(dict)
    first_sync: dict = attrs.Factory(dict)  # target -> no stored state when the cycle began
    predecessors: dict = attrs.Factory(dict)  # (target, new anchor) -> old anchor (this plan's recreates)
    reanchored: dict = attrs.Factory(dict)  # (target, group anchor) -> TargetState re-anchored this page
    unused_intents: list = attrs.Factory(list)  # journaled, then not called (stop, quarantine)
    stopped_mid_page: bool = False
    quarantined_now: list = attrs.Factory(list)
    held_now: int = 0
    objects_planned: int = 0
    _now: Any = attrs.field(default=None, init=False)
    _scope_cfg: Any = attrs.field(default=None, init=False)

    def now(self) -> datetime:
        """The cycle's clock: read once, then the same instant for the whole cycle, so every
        decision of a cycle is made at one time and a replay at that time reproduces it."""
        if self._now is None:
            self._now = self.clock()
        return self._now

    def calls_made(self) -> int:
        return sum(c.ops for c in self.counters.values())

    def stop_requested(self) -> bool:
        return bool(self.stop_event is not None and self.stop_event.is_set())

    # ------------------------------------------------------------------ begin / end
    def settle(self) -> None:
        counts = settle_pending(self.store, self.targets, self.now)
        if counts["settled"] or counts["unreachable"]:
            log.info("journal_settled", source=self.source_name, **counts)

    def begin(self, mode: str) -> None:
        self.started = time.perf_counter()
        now = self.now()
        if not self.dry_run:
            self.cycle_id = self.store.begin_cycle(self.source_name, mode, at=now)
        for q in self.store.quarantined():
            if q.target in self.targets and (q.until is None or q.until > now):
                self.paused[q.target] = (q.until or now + FAR, f"target quarantined: {q.reason}")
        for name in self.targets:
            self.counters[name] = TargetCounters()
            self.approved[name] = list(self.store.approved_actions(name))
            self.state_overlay[name] = {}

    def source_failed(self, exc: Exception) -> None:
        from hybridsync.statestore import StaleWatermark, WatermarkRegression

        if isinstance(exc, (StaleWatermark, WatermarkRegression)):
            self.status = "unsafe_watermark"
        else:
            self.status = "source_failed"
        self.source_error = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("source_read_failed", cycle_id=self.cycle_id, source=self.source_name, error=self.source_error)

    def object_problem(self, anchor: str, dn: str | None, stage: str, message: str) -> None:
        self.problems.append({"anchor": anchor, "dn": dn, "stage": stage, "message": message})
        self.counts["errors"] = self.counts.get("errors", 0) + 1
        log.warning("object_problem", cycle_id=self.cycle_id, anchor=anchor, dn=dn, stage=stage, message=message)

    def finish(self) -> None:
        now = self.now()
        safety = self.config.safety
        for name, c in self.counters.items():
            if name in self.paused and not c.auth_failure:
                continue
            ratio_bad = c.ops >= safety.quarantine_min_operations and c.failures > safety.quarantine_failure_ratio * c.ops
            if c.auth_failure or ratio_bad:
                continue  # quarantined when it happened (see _count)
            if c.ops and not c.failures and not self.dry_run and any(q.target == name for q in self.store.quarantined()):
                self.store.clear_quarantine(name)
        if self.stopped_mid_page and self.status == "ok":
            self.status = "stopped"
        if self.quarantined_now and self.status == "ok":
            self.status = "quarantined"
        duration = time.perf_counter() - self.started
        self.timings["total"] = duration
        if not self.dry_run:
            self.store.end_cycle(self.cycle_id, status=self.status, counts=dict(self.counts), duration_s=duration, at=now)
        log.info("cycle", cycle_id=self.cycle_id, source=self.source_name, mode=str(self.mode), status=self.status,
                 duration_s=round(duration, 4), dry_run=self.dry_run, failed_targets=failed_targets(self.outcomes), **self.counts)

    # ------------------------------------------------------------------ planning
    def _state(self, name: str, anchor: str) -> TargetState | None:
        """The newest state of (target, anchor): written in this page, else the one answered for
        this page's plan, else the store's (the apply half asks this; the planner never does)."""
        overlay = self.state_overlay[name]
        if anchor in overlay:
            return overlay[anchor]
        known = self.known_states.get(name)
        if known is not None and anchor in known:
            return known[anchor]
        return self.store.get_target_state(name, anchor)

    def _answer(self, q: needs.Questions) -> needs.Answers:
        """Answer the planner's questions from the store (objects written this page first)."""
        src, store, ov = self.source_name, self.store, self.objects_overlay
        states: dict[str, dict[str, TargetState | None]] = {}
        for name, anchors in q.states.items():
            if not anchors:
                continue
            overlay = self.state_overlay[name]
            got = store.get_target_states(name, sorted(a for a in anchors if a not in overlay))
            states[name] = {a: overlay[a] if a in overlay else got.get(a) for a in anchors}
        by_guid = {s.object_guid: s for s in ov.values()} if (q.anchor_by_guid or q.members_by_guid) else {}
        objs = {g: by_guid.get(g) or store.object_by_guid(src, g) for g in sorted(q.anchor_by_guid | q.members_by_guid)}
        kinds: dict[str, Any] = {}
        if q.kind_by_anchor:
            stored = store.get_objects(src, sorted(a for a in q.kind_by_anchor if a not in ov))
            for a in q.kind_by_anchor:
                st = ov.get(a) or stored.get(a)
                kinds[a] = st.kind if st is not None else None
        return needs.Answers(
            states=states,
            anchor_by_guid={g: (o.anchor if (o := objs[g]) else None) for g in q.anchor_by_guid},
            anchor_by_dn=self._anchors_by_dn(q.anchor_by_dn),
            kind_by_anchor=kinds,
            members_by_guid={g: (o.members if (o := objs[g]) else None) for g in q.members_by_guid})

    def _anchors_by_dn(self, dns: Iterable[str]) -> dict[str, str | None]:
        """The live object of this source at each normalized DN (this page's objects first)."""
        dns = sorted(dns)
        if not dns:
            return {}
        written = {normalize_dn(s.dn): s.anchor for s in self.objects_overlay.values() if not s.deleted}
        out: dict[str, str | None] = {}
        for dn in dns:
            out[dn] = written.get(dn)
            if out[dn] is None:
                out[dn] = next((st.anchor for st in self.store.find_objects(dn) if st.source == self.source_name
                                and not st.deleted and normalize_dn(st.dn) == dn), None)
        return out

    def _first_sync(self, name: str) -> bool:
        """The target has no stored state yet (asked once per cycle and target)."""
        if name not in self.first_sync:
            self.first_sync[name] = not self.store.has_target_states(name)
        return self.first_sync[name]

    def _scope(self, src_cfg: Any) -> Any:
        """The source's scope, bounded by its ``base_dn`` when it names no OUs: a delta read on
        the naming-context root (DirSync) also carries objects outside ``base_dn``, and nothing
        outside it is ever provisioned. One value per cycle (the planner may cache by it)."""
        if self._scope_cfg is None:
            scope = src_cfg.scope
            if not scope.include_ous and getattr(src_cfg, "base_dn", ""):
                scope = attrs.evolve(scope, include_ous=(src_cfg.base_dn,))
            self._scope_cfg = scope
        return self._scope_cfg

    def _group_scope(self) -> GroupScope | None:
        """The closure of the source's scoping groups over stored members, read here, in bulk per
        level, and handed to the planner as a value."""
        groups = self.config.source(self.source_name).scope.groups
        if not groups:
            return None
        src, store, ov = self.source_name, self.store, self.objects_overlay
        guid_by_dn: dict[str, str] = {}
        for dn in groups:
            key = normalize_dn(dn)
            anchor = self._anchors_by_dn([key])[key]
            st = store.get_object(src, anchor) if anchor else None
            if st is not None:
                guid_by_dn[key] = st.object_guid
        by_guid = {s.object_guid: s for s in ov.values()}
        members: dict[str, frozenset[str]] = {}
        frontier = sorted(set(guid_by_dn.values()))
        while frontier:
            nxt: set[str] = set()
            for g in frontier:
                st = by_guid.get(g) or store.object_by_guid(src, g)
                members[g] = st.members if st is not None else frozenset()
                nxt.update(m for m in members[g] if m not in members)
            frontier = sorted(nxt)
        return expand_group_scope(groups, guid_by_dn, members)

    def plan_and_apply(self, objects: tuple[SourceObject, ...], evidence: planner.ReadEvidence,
                       absent: frozenset[str]) -> list[tuple[Outcome, int | None]]:
        now = self.now()
        self.objects_planned += len(objects)
        src_cfg = self.config.source(self.source_name)
        inputs = [planner.TargetInput(config=self.config.target(name), mapping=self.mappings[name],
                                      approved=frozenset(h.anchor for h in self.approved.get(name, ())))
                  for name in self.targets]
        inp = planner.PlanInput(source=self.source_name, scope=self._scope(src_cfg), objects=objects, targets=tuple(inputs),
                                clock=now, read=evidence, absent=absent, group_scope=self._group_scope(),
                                safety=self.config.safety, seed=self.seed, carry=self.carry)
        dns = True  # reference DNs come from the objects: asked in the first round only
        while q := needs.questions(inp, dns=dns):
            inp = needs.answer(inp, self._answer(q))
            dns = False
        self.known_states = {t.config.name: dict(t.states) for t in inp.targets}
        blocked: dict[str, str] = {}
        questions: dict[str, list] = {}
        for q in planner.lookups(inp):
            questions.setdefault(q.target, []).append(q)
        views = []
        for ti in inp.targets:
            name = ti.config.name
            qs = questions.get(name, [])
            if not qs or name in self.paused:
                views.append(ti)
                continue
            listing = self.listings.get(name)
            if listing is None and (len(qs) > 200 or (callable(getattr(self.targets[name], "list_objects", None))
                                                      and self._first_sync(name))):
                listing = self.listings[name] = Listing()
            if listing is not None:
                for kind in {q.kind for q in qs}:
                    listing.load(self.targets[name], kind, ti.config.matching)
            res = build_view(self.targets[name], qs, lambda tid, n=name: self.store.target_state_by_target_id(n, tid),
                             listing=listing)
            if res.failures:
                blocked[name] = res.failures[0]  # the first reason, for the skipped outcomes
                if res.target_level:
                    self._quarantine(name, res.failures[0], auth=True)
            views.append(attrs.evolve(ti, view=res.view))
        inp = attrs.evolve(inp, targets=tuple(views))
        plan = planner.plan(inp)
        for e in plan.errors:
            self.object_problem(e.anchor, e.dn, e.stage, f"target {e.target}: {e.message}")
        self.carry = plan.carry  # the threshold used so far, for the next plan of this cycle
        if len(self.planned_anchors_since_followup) < 50_000:  # only an optimisation: bounded
            self.planned_anchors_since_followup.update(o.anchor for o in objects)
        if self.dry_run:
            self.planned.extend(plan.actions)
            for a in plan.actions:
                self._bump(f"planned_{a.kind}")
            return []
        self.predecessors = {(a.target, a.anchor): old for a in plan.actions if a.kind == A.ADOPT
                             and (old := plan.predecessor(a.target, a.anchor)) is not None}
        return self._apply_all(plan.actions, now, blocked)

    # ------------------------------------------------------------------ commit
    def commit(self, *, batch: Any, objects: list[ObjectState], observations: list, outcomes: list,
               round_no: int, seen_anchors: list[str], trapped: list[str], complete_count: int | None) -> None:
        if self.dry_run:
            return
        store, src, now = self.store, self.source_name, self.now()
        with store.atomic():
            for st in objects:
                store.put_object(st, at=now)
            for guid in trapped:
                store.remove_member_everywhere(src, guid)
            for obj, change in observations:
                store.record_observation(self.cycle_id, src, obj.anchor, obj.dn, obj.kind, change, at=now)
            if round_no and seen_anchors:
                store.mark_seen(src, seen_anchors, round_no)
            approved_by_key = {(h.target, h.anchor): h for hs in self.approved.values() for h in hs}
            for outcome, intent_id in outcomes:
                a = outcome.action
                if outcome.state is not None:
                    store.put_target_state(outcome.state)
                if outcome.result != "noop" or outcome.state is not None:
                    store.record_decision(self.cycle_id, a, result=outcome.result, status=outcome.status,
                                          detail=outcome.detail, at=now)
                if a.kind == A.HOLD:
                    store.hold(a, "; ".join(r.detail or r.rule for r in a.reasons) or "held", at=now)
                h = approved_by_key.get((a.target, a.anchor))
                if h is not None and a.kind in (A.DISABLE, A.DELETE) and outcome.result == "ok":
                    store.release(h.id, at=now)
            # re-anchored groups last, as their newest state: an outcome above may predate the re-anchoring
            for t, a in self.reanchored:
                store.put_target_state(self.state_overlay[t].get(a) or self.reanchored[(t, a)])
            # the outcomes are recorded above: their intents are settled by deleting them
            store.journal_done([i for _, i in outcomes if i is not None] + self.unused_intents)
            if self.recorder is not None:
                self.recorder.flush(store, self.cycle_id, at=now)
            if batch is not None and not self.stopped_mid_page:
                store.advance_watermark(src, batch.dc.invocation_id, self.expected, batch.cursor)
                self.expected = batch.cursor
                if complete_count is not None:
                    store.complete_full_round(src, round_no, complete_count, at=now)
        self.objects_overlay.clear()
        self.known_states = {}  # answered for the page just committed: the store is newer now
        self.reanchored.clear()
        self.unused_intents.clear()
        for ov in self.state_overlay.values():
            ov.clear()

"""Hypothesis properties of the planner: deterministic, idempotent, convergent, safe."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from hybridsync.engine.core.config import SafetyConfig, ScopeConfig, TargetConfig
from hybridsync.engine.plan.planner import Carry, ReadEvidence, plan
from hybridsync.engine.core.values import ActionKind, ObjectKind, Ownership, ReadMode, SourceObject, evolve

from .model_target import Directory, ModelTarget, group, is_quiet, later, user

A = ActionKind
STAFF = "OU=Staff,DC=lab,DC=test"
SUB = f"OU=Sub,{STAFF}"
OTHER = "OU=Other,DC=lab,DC=test"
SCOPE = ScopeConfig(include_ous=(STAFF,))


@st.composite
def worlds(draw, managers: bool = True):
    """A directory of up to 8 users and 3 groups (nested, possibly cyclic)."""
    # no threshold and no read-size check here: both have their own properties below
    d = Directory(SCOPE, SafetyConfig(delete_threshold=10_000, min_full_read_fraction=0.0))
    n = draw(st.integers(0, 8))
    for i in range(n):
        extra = {}
        if draw(st.booleans()):
            extra["title"] = draw(st.sampled_from(["A", "B", "C"]))
        if managers and i and draw(st.booleans()):
            extra["manager"] = f"CN=User {draw(st.integers(0, i - 1))},{STAFF}"
        d.put(user(i, ou=draw(st.sampled_from([STAFF, SUB, OTHER])), disabled=draw(st.booleans()), **extra))
    users = sorted(d.objects)
    for g in range(draw(st.integers(0, 3))):
        pool = users + [f"g{k:05d}" for k in range(3)]
        d.put(group(g, draw(st.sets(st.sampled_from(pool), max_size=5)) if pool else (),
                    ou=draw(st.sampled_from([STAFF, OTHER]))))
    return d


edits = st.lists(st.tuples(st.sampled_from(["title", "move", "toggle", "delete", "recreate", "member", "new"]),
                           st.integers(0, 50)), max_size=8)


def apply_edit(d: Directory, op: str, k: int) -> list[str]:
    """One AD edit; returns the anchors it touched (a delta's batch)."""
    live = sorted(a for a, o in d.objects.items() if o.kind == ObjectKind.USER)
    groups = sorted(a for a, o in d.objects.items() if o.kind == ObjectKind.GROUP)
    if op == "new" or not live:
        # a fresh objectGUID (AD never reuses one) and a UPN no live object holds (AD refuses a
        # duplicate): user numbers already taken by an object, a tombstone or a re-created copy
        # are skipped
        taken = {int(o.dn.split(",")[0].split()[-1]) for o in [*d.objects.values(), *d.tombstones.values()]
                 if o.kind == ObjectKind.USER}
        n = 100 + k + len(d.objects)
        while n in taken:
            n += 1
        d.put(user(n, ou=STAFF if k % 2 else OTHER))
        return [f"u{n:05d}"]
    a = live[k % len(live)]
    o = d.objects[a]
    n = int(o.dn.split(",")[0].split()[-1])
    attrs = dict(o.attributes)
    if op == "title":
        attrs["title"] = f"T{k}"
        d.put(evolve(o, attributes=attrs))
    elif op == "move":
        d.put(evolve(o, dn=f"CN=User {n},{[STAFF, SUB, OTHER][k % 3]}"))
    elif op == "toggle":
        attrs["userAccountControl"] = "512" if o.disabled else "514"
        d.put(evolve(o, attributes=attrs))
    elif op == "delete":
        d.delete(a)
    elif op == "recreate":  # deleted and re-created in AD: new objectGUID, same UPN
        d.delete(a)
        new = f"r{k}{a}"
        d.put(evolve(o, anchor=new, object_guid=new))
        return [a, new]
    elif op == "member" and groups:
        g = d.objects[groups[k % len(groups)]]
        d.put(evolve(g, members=frozenset(g.members) ^ {a}))
        return [g.anchor]
    return [a]


def expected_view(d: Directory, t: ModelTarget) -> dict:
    """What the target must hold after a clean cycle: the projection of every in-scope object."""
    from hybridsync.engine.mapping.projection import ProjectionContext
    from hybridsync.engine.plan.scope import CompiledScope, normalize_dn

    scope = CompiledScope(d.scope)
    refs = d.refs()
    ids = {a: s.target_id for a, s in t.states.items()}
    inside = {a for a, o in d.objects.items() if scope.decide(o).in_scope and str(o.kind) in t.config.object_types}

    def resolve(dn):
        anchor = refs.anchor_by_dn.get(normalize_dn(dn))
        return ids.get(anchor) if anchor in inside else None

    out = {}
    for a in sorted(inside):
        o = d.objects[a]
        values = dict(t.mapping.project(o, ProjectionContext(clock=later(), resolve_reference=resolve)).values)
        values = {k: v for k, v in values.items() if v is not None}
        members = frozenset(refs.anchor_by_guid.get(g) for g in (o.members or ())) & inside - {a}
        out[a] = (values, members if o.kind == ObjectKind.GROUP else frozenset())
    return out


def held_view(t: ModelTarget) -> dict:
    snap = t.snapshot()
    live = {a for a, s in t.states.items() if s.state in ("provisioned", "disabled", "pending_create")}
    return {a: ({k: v for k, v in snap[a]["attrs"].items()}, snap[a]["members"]) for a in sorted(live)}


@given(worlds(), st.randoms(use_true_random=False))
def test_the_plan_is_deterministic_and_independent_of_input_order(d, rnd):
    t1, t2 = ModelTarget(TargetConfig(name="a")), ModelTarget(TargetConfig(name="b", nested_groups="flatten"))
    inp = d.full_input([t1, t2], later())
    objs = list(inp.objects)
    rnd.shuffle(objs)
    shuffled = evolve(inp, objects=tuple(objs + objs[:2]), targets=tuple(reversed(inp.targets)))
    assert plan(inp) == plan(shuffled) == plan(inp)
    assert plan(inp).to_jsonl() == plan(shuffled).to_jsonl()


@given(worlds(managers=False), st.sampled_from(["nested", "flatten", "omit"]))
def test_applying_a_plan_then_planning_again_yields_only_noops(d, mode):
    t = ModelTarget(TargetConfig(name="app", nested_groups=mode))
    t.apply(plan(d.full_input([t], later())), later())
    again = plan(d.full_input([t], later()))
    assert is_quiet(again), [a for a in again.actions if a.kind != A.NOOP or a.from_state != a.to_state]


@settings(max_examples=40)
@given(worlds(), edits, st.booleans())
def test_any_ad_edits_then_a_clean_cycle_make_the_target_equal_the_projection(d, changes, deltas):
    t = ModelTarget(TargetConfig(name="app"))
    d.cycle([t], later())
    for op, k in changes:
        touched = apply_edit(d, op, k)
        if deltas:  # plan each edit as a delta, as the engine would between full reads
            t.apply(plan(d.delta_input([t], later(), touched)), later())
    plans = d.cycle([t], later(), rounds=5)
    assert is_quiet(plans[-1])
    # one cycle does the work; a second one lets a re-created object take over the predecessor
    # the first soft-deleted, and sets managers created in the first; a third sets managers that
    # the second made provisioned; the last is quiet
    assert len(plans) <= 4, [[(a.kind, a.anchor) for a in p.actions if a.kind != A.NOOP] for p in plans]
    got, want = held_view(t), expected_view(d, t)
    assert got == want, {a: (got.get(a), want.get(a)) for a in set(got) | set(want) if got.get(a) != want.get(a)}
    externals = [o["externalId"] for o in t.objects.values() if o["externalId"]]
    assert len(externals) == len(set(externals)), "duplicate externalId at the target"


@given(worlds(), st.sampled_from(["incomplete", "small"]), st.data())
def test_no_disable_or_delete_without_evidence(d, flaw, data):
    d.safety = SafetyConfig(delete_threshold=10_000, min_full_read_fraction=0.5)
    t = ModelTarget(TargetConfig(name="app"))
    d.cycle([t], later())
    keep = data.draw(st.sets(st.sampled_from(sorted(d.objects)))) if d.objects else set()
    seen = [o for a, o in d.objects.items() if a in keep]
    inp = d.full_input([t], later(), objects=seen, complete=flaw == "small")
    if flaw == "small":
        inp = evolve(inp, read=ReadEvidence(ReadMode.FULL, True, True, len(seen), max(1, 3 * len(seen))))
    p = plan(inp)
    assert not [a for a in p.actions if a.kind in (A.DISABLE, A.DELETE) and a.to_state != "disabled"]
    # a delta without tombstones disables only what moved out of scope or was disabled in AD
    delta = plan(d.delta_input([t], later(), sorted(d.objects)))
    assert not [a for a in delta.actions if a.kind in (A.DISABLE, A.DELETE)]


@given(worlds(), st.integers(0, 5), st.data())
def test_the_delete_threshold_never_lets_more_than_n_disables_through(d, n, data):
    d.safety = SafetyConfig(delete_threshold=n, soft_delete_days=10_000)
    t = ModelTarget(TargetConfig(name="app"))
    d.cycle([t], later())
    for a in data.draw(st.sets(st.sampled_from(sorted(d.objects)))) if d.objects else ():
        if data.draw(st.booleans()):
            d.delete(a)
        else:
            d.put(evolve(d.objects[a], dn=f"CN=x{a},{OTHER}"))
    used = data.draw(st.integers(0, n))
    p = plan(evolve(d.full_input([t], later()), carry=Carry({"app": used})))
    evidence_disables = [a for a in p.actions if a.kind in (A.DISABLE, A.DELETE) and a.to_state != "disabled"]
    assert used + len(evidence_disables) <= n or not evidence_disables
    assert p.summary["threshold_used"]["app"] <= max(n, used)


@given(worlds(), st.data())
def test_foreign_objects_are_never_touched(d, data):
    t = ModelTarget(TargetConfig(name="app"))
    foreign = {}
    for i in range(data.draw(st.integers(0, 3))):
        attrs = {"userName": f"nobody{i}@else.test", "title": "keep"}
        foreign[t.add_foreign(ObjectKind.USER, attrs, external_id=data.draw(st.sampled_from([None, "zz"])))] = attrs
    d.cycle([t], later())
    for a in sorted(d.objects):
        d.delete(a)
    for s in list(t.states.values()):
        if data.draw(st.booleans()):
            t.states[s.anchor] = evolve(s, ownership=Ownership.FOREIGN)
    before = {tid: dict(o["attrs"]) for tid, o in t.objects.items()}
    p = plan(d.full_input([t], later()))
    for a in p.actions:
        if t.states.get(a.anchor) is not None and t.states[a.anchor].ownership == Ownership.FOREIGN:
            assert a.kind in (A.NOOP, A.REPORT), a
    t.apply(p, later())
    for tid, attrs in foreign.items():
        assert t.objects[tid]["attrs"] == attrs
    for s in t.states.values():
        if s.ownership == Ownership.FOREIGN and s.target_id:
            assert t.objects[s.target_id]["attrs"] == before[s.target_id]

"""The lifecycle table: consistent, drawn in the docs, and every edge reachable and used."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from transitions import MachineError

from hybridsync.engine.plan import lifecycle as lc
from hybridsync.engine.core.config import SafetyConfig, ScopeConfig, TargetConfig
from hybridsync.engine.plan.lifecycle import EDGES, IGNORED, State, Trigger
from hybridsync.engine.plan.planner import plan
from hybridsync.engine.core.values import ActionKind, ObjectKind

from .model_target import Directory, ModelTarget, later, user

DOC = Path(__file__).resolve().parents[2] / "docs" / "lifecycle.md"
STAFF = "OU=Staff,DC=lab,DC=test"
OTHER = "OU=Other,DC=lab,DC=test"


def test_the_committed_lifecycle_diagram_is_generated_from_the_current_table():
    assert DOC.read_text(encoding="utf-8") == lc.render_doc(), (
        "docs/lifecycle.md is stale: run `python -m hybridsync.engine.plan.lifecycle > docs/lifecycle.md`")


def test_the_transitions_machine_and_the_planner_lookup_agree_on_every_state_and_trigger():
    for state in State:
        for trigger in Trigger:
            pair = lc.Pair(str(state))
            lc.build_machine(pair, str(state))
            expected = EDGES.get((state, trigger))
            if expected is None and (state, trigger) not in IGNORED:
                with pytest.raises(MachineError):
                    getattr(pair, str(trigger))()
                with pytest.raises(lc.LifecycleError):
                    lc.edge(state, trigger)
                continue
            getattr(pair, str(trigger))()
            assert pair.state == str(expected.dest if expected else state), (state, trigger)


def test_one_shared_machine_rebuilds_each_model_from_its_persisted_state_name():
    machine = lc.build_machine(None)
    pairs = [lc.Pair("x") for _ in range(3)]
    for pair, name in zip(pairs, ("provisioned", "held", "soft_deleted")):
        machine.add_model(pair, initial=name)
    pairs[0].left_scope(), pairs[1].approved(), pairs[2].grace_expired()
    assert [p.state for p in pairs] == ["soft_deleted", "soft_deleted", "deleted"]


def test_outcome_follows_apply_ok_and_apply_failed_edges():
    assert lc.outcome("pending_create", ActionKind.CREATE, "ok") == "provisioned"
    assert lc.outcome("soft_deleted", ActionKind.DISABLE, "ok") == "soft_deleted"
    assert lc.outcome("soft_deleted", ActionKind.DISABLE, "failed") == "escrow"
    assert lc.outcome("pending_create", ActionKind.CREATE, "failed") == "escrow"
    assert lc.outcome("held", ActionKind.HOLD, "failed") == "held"


def test_retry_delay_doubles_up_to_the_cap_and_honours_retry_after_exactly():
    delays = [lc.next_retry_delay(n) for n in range(15)]
    assert delays[:3] == [5.0, 10.0, 20.0]
    assert all(b >= a for a, b in zip(delays, delays[1:])) and max(delays) == 3600.0
    assert lc.next_retry_delay(7, retry_after=2.5) == 2.5
    assert lc.next_retry_delay(10**6) == 3600.0


def test_every_state_is_reachable_from_new():
    reach, frontier = {State.NEW}, [State.NEW]
    while frontier:
        s = frontier.pop()
        for (src, _t), e in EDGES.items():
            if src == s and e.dest not in reach:
                reach.add(e.dest)
                frontier.append(e.dest)
    assert reach == set(State)


def _walk(seed: int, steps: int) -> set[tuple[str, str]]:
    """A random walk of AD edits, target faults, foreign objects, approvals and time: the
    lifecycle edges (state, trigger) the planner and the engine's outcomes took."""
    rng = random.Random(seed)
    d = Directory(ScopeConfig(include_ous=(STAFF,)), SafetyConfig(delete_threshold=2, soft_delete_days=10))
    t = ModelTarget(TargetConfig(name="app"))
    t.keep_out_of_scope = True
    used: set[tuple[str, str]] = set()
    clock = later()
    guids = [f"u{i}" for i in range(5)]
    for _ in range(steps):
        op = rng.randrange(12)
        if rng.random() < 0.05:
            guids.append(f"u{len(guids)}")
        g = rng.choice(guids)
        upn = f"p{rng.randrange(3)}@lab.test"
        complete = True
        if op <= 2:
            d.put(user(int(g[1:]), guid=g, upn=upn, ou=rng.choice((STAFF, STAFF, OTHER)),
                       disabled=rng.random() < 0.3))
        elif op == 3 and g in d.objects:
            d.delete(g)
        elif op == 4:
            t.add_foreign(ObjectKind.USER, {"userName": upn})
        elif op == 5:
            held = {s.target_id for s in t.states.values()}
            foreign = [k for k in t.objects if k.startswith("f") and k not in held]
            if foreign:
                t.objects.pop(rng.choice(sorted(foreign)))
        elif op == 6:
            t.fail = t.fail | {g} if rng.random() < 0.7 else set()
        elif op == 7:
            t.approved |= {a for a, s in t.states.items() if s.state == "held"}
        elif op == 8:
            clock = clock + rng.choice((lc.timedelta(seconds=30), lc.timedelta(days=11), lc.timedelta(hours=2)))
        elif op == 9:
            complete = rng.random() < 0.5
        elif op == 10:  # a mass move out of scope (or back), or a mass delete
            for a, o in sorted(d.objects.items()):
                if rng.random() < 0.3:
                    d.delete(a)
                else:
                    d.put(user(int(a[1:]), guid=a, upn=o.first("userPrincipalName"),
                               ou=rng.choice((STAFF, OTHER)), disabled=o.disabled))
        if rng.random() < 0.5:
            inp = d.full_input([t], clock, complete=complete)
        else:
            anchors = sorted(set(d.objects) | set(d.tombstones))
            inp = d.delta_input([t], clock, rng.sample(anchors, min(len(anchors), 3)))
        p = plan(inp)
        for a in p.actions:
            for r in a.reasons:
                if r.rule.startswith("lifecycle.") and "->" in r.rule:
                    used.add((r.rule.split(".", 1)[1].split("->")[0], r.detail))
        t.apply(p, clock)
        d.last_complete = len(d.objects) if complete else d.last_complete
    return used | t.edges


def test_every_table_edge_is_taken_by_some_planner_scenario():
    used: set[tuple[str, str]] = set()
    for seed in range(40):  # stops as soon as every edge was taken
        used |= _walk(seed, 400)
        if {(str(s), str(t)) for s, t in EDGES} <= used:
            break
    missing = sorted({(str(s), str(t)) for s, t in EDGES} - used)
    assert not missing, f"edges never taken: {missing}"

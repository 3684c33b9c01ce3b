"""The planner's first phase (plan/needs.py) and its carry (Plan.carry), over plain values.

A plan over an input whose stored facts were answered only as ``needs.questions`` asked them
equals the plan over an input that holds every fact of the model directory: the questions name
everything ``plan()`` reads (managers, members stored elsewhere, flattened nested groups, absent
anchors).
"""

from __future__ import annotations

import pytest

from hybridsync.engine.core.config import SafetyConfig, ScopeConfig, TargetConfig
from hybridsync.engine.core.values import ActionKind, evolve
from hybridsync.engine.plan import needs
from hybridsync.engine.plan.planner import Carry, PlanInput, References, plan

from .model_target import Directory, ModelTarget, group, later, user

A = ActionKind
STAFF = "OU=Staff,DC=lab,DC=test"
OTHER = "OU=Other,DC=lab,DC=test"


def answered(full: PlanInput) -> tuple[PlanInput, int]:
    """``full`` with its refs and states emptied, then answered question by question from it."""
    states = {t.config.name: t.states for t in full.targets}
    r = full.refs
    inp = evolve(full, refs=References(), targets=tuple(evolve(t, states={}) for t in full.targets))
    rounds = 0
    dns = True
    while q := needs.questions(inp, dns=dns):
        dns = False
        rounds += 1
        assert rounds < 20, q
        inp = needs.answer(inp, needs.Answers(
            states={name: {a: states[name].get(a) for a in anchors} for name, anchors in q.states.items()},
            anchor_by_guid={g: r.anchor_by_guid.get(g) for g in q.anchor_by_guid},
            anchor_by_dn={dn: r.anchor_by_dn.get(dn) for dn in q.anchor_by_dn},
            kind_by_anchor={a: r.kind_by_anchor.get(a) for a in q.kind_by_anchor},
            members_by_guid={g: r.members_by_guid.get(g) for g in q.members_by_guid}))
    return inp, rounds


def directory(nested: str = "nested") -> tuple[Directory, ModelTarget]:
    d = Directory(ScopeConfig(include_ous=(STAFF,)), SafetyConfig(delete_threshold=100))
    for i in range(1, 9):
        d.put(user(i, manager=f"CN=User {i + 1},{STAFF}") if i < 5 else user(i))
    d.put(group(1, ["u00001", "u00002"]))
    d.put(group(2, ["g00001", "u00003"]))
    d.put(group(3, ["g00002", "u00004"]))
    t = ModelTarget(TargetConfig(name="app", nested_groups=nested))
    d.cycle([t], later())
    return d, t


@pytest.mark.parametrize("nested", ["nested", "flatten", "omit"])
def test_a_delta_answered_by_the_questions_plans_as_with_every_fact(nested):
    d, t = directory(nested)
    d.put(user(1, manager=f"CN=User 6,{STAFF}"))  # a new manager, stored only
    d.put(group(3, ["g00002", "u00004", "u00005"]))  # nested groups and members not in the delta
    d.put(user(7, ou=OTHER))
    d.put(user(2, ou=OTHER, manager=f"CN=User 3,{STAFF}"))  # out of scope: its manager is not asked
    d.delete("u00008")
    full = d.delta_input([t], later(), ["u00001", "u00002", "g00003", "u00007", "u00008"])
    inp, rounds = answered(full)
    assert rounds >= 2  # a member's anchor first, then its kind and state
    assert plan(inp).actions == plan(full).actions
    kinds = {(a.anchor, a.kind) for a in plan(full).actions}
    assert ("u00001", A.UPDATE) in kinds and ("u00008", A.DISABLE) in kinds and ("u00002", A.DISABLE) in kinds


def test_a_full_read_with_absent_anchors_answered_by_the_questions_plans_as_with_every_fact():
    d, t = directory("flatten")
    gone = d.objects.pop("u00002")  # absent from the read (no tombstone)
    full = d.full_input([t], later())
    assert "u00002" in full.absent
    inp, _ = answered(full)
    assert plan(inp).actions == plan(full).actions
    assert any(a.anchor == gone.anchor and a.kind == A.DISABLE for a in plan(full).actions)


def test_the_carry_holds_every_later_page_once_the_threshold_tripped():
    d = Directory(ScopeConfig(include_ous=(STAFF,)), SafetyConfig(delete_threshold=2))
    for i in range(6):
        d.put(user(i))
    t = ModelTarget(TargetConfig(name="app"))
    d.cycle([t], later())
    for i in range(6):
        d.put(user(i, ou=OTHER))
    p1 = plan(d.delta_input([t], later(), ["u00000", "u00001", "u00002"]))
    assert {a.kind for a in p1.actions} == {A.HOLD}
    assert p1.carry == Carry({"app": 3})  # more than the threshold: tripped
    p2 = plan(evolve(d.delta_input([t], later(), ["u00003"]), carry=p1.carry))
    assert [a.kind for a in p2.actions] == [A.HOLD]  # one disable alone would pass; the cycle tripped
    fresh = plan(d.delta_input([t], later(), ["u00003"]))
    assert [a.kind for a in fresh.actions] == [A.DISABLE] and fresh.carry == Carry({"app": 1})

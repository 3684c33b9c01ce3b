"""Issue 14, what was left: AD-originated disables are held beyond the threshold like scope and
absence disables; the threshold's optional percentage of owned objects; ``[matching] adopt =
"approve"`` holds every adoption until ``approve-adoptions``."""

from __future__ import annotations

import attrs

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.config import SafetyConfig
from hybridsync.engine.core.values import ObjectKind
from hybridsync.engine.plan.holds import effective_limit
from hybridsync.engine.runtime.explain import explain

from .enginekit import OTHER, Clock, guid, make_engine, user, users_at


def population(n: int, page_size: int = 7) -> MemorySource:
    src = MemorySource(page_size=page_size)
    for i in range(1, n + 1):
        src.put(user(i))
    return src


def disabled(tgt: MemoryTarget) -> set[str]:
    return {name for name, r in users_at(tgt).items() if not r["active"]}


def disable_in_ad(src: MemorySource, i: int, **extra) -> None:
    src.modify(guid(i), userAccountControl="514", **extra)


# ---------------------------------------------------------------- AD-originated disables
def test_twenty_ad_disables_with_threshold_five_are_held_and_approve_deletes_releases_them():
    src, tgt, clock = population(30), MemoryTarget(), Clock()
    engine = make_engine(src, {"app": tgt}, clock=clock, safety=SafetyConfig(delete_threshold=5))
    engine.run_once()
    for i in range(1, 21):
        disable_in_ad(src, i)
    src.put(user(100))  # creates go on
    report = engine.run_once()
    assert len(disabled(tgt)) <= 5
    held = engine.store.held("app")
    assert len(held) == 20 - len(disabled(tgt)) and report.held == len(held)
    assert "u100@lab.test" in users_at(tgt)
    status = engine.status()
    assert status.targets[0].held_deletes == len(held) and len(status.held) == len(held)
    engine.run_once(full=True)  # a later read does not let them through either
    clock.advance(days=2)  # nor does the window rolling on
    engine.run_once(full=True)
    assert len(disabled(tgt)) <= 5 and len(engine.store.held("app")) == len(held)
    assert engine.approve_deletes("app").count == len(held)
    engine.run_once()
    assert disabled(tgt) == {f"u{i}@lab.test" for i in range(1, 21)}
    assert engine.store.held("app", include_approved=True) == []


def test_ad_disables_within_the_threshold_apply_and_count_in_the_window():
    src, tgt, clock = population(10), MemoryTarget(), Clock()
    engine = make_engine(src, {"app": tgt}, clock=clock, safety=SafetyConfig(delete_threshold=5))
    engine.run_once()
    for i in range(1, 4):
        disable_in_ad(src, i)
    engine.run_once()
    assert len(disabled(tgt)) == 3 and engine.store.held("app") == []
    for i in range(4, 7):  # 3 + 3 > 5 within the window: held
        disable_in_ad(src, i)
    engine.run_once()
    assert len(disabled(tgt)) == 3 and len(engine.store.held("app")) == 3


def test_a_held_ad_disable_holds_the_whole_update_and_says_so():
    src, tgt, clock = population(10), MemoryTarget(), Clock()
    engine = make_engine(src, {"app": tgt}, clock=clock, safety=SafetyConfig(delete_threshold=1))
    engine.run_once()
    disable_in_ad(src, 1, displayName="Renamed 1")
    disable_in_ad(src, 2)
    engine.run_once()
    rec = users_at(tgt)["u1@lab.test"]
    assert rec["active"] and rec["attributes"]["displayName"] == "User 1"  # nothing of it applied
    [h] = [h for h in engine.store.held("app") if h.anchor == guid(1)]
    assert "the whole update waits" in h.reason and "displayName" in h.reason
    engine.approve_deletes()
    engine.run_once()
    rec = users_at(tgt)["u1@lab.test"]
    assert not rec["active"] and rec["attributes"]["displayName"] == "Renamed 1"


def test_a_held_ad_disable_enabled_again_in_ad_is_released_without_approval():
    src, tgt, clock = population(10), MemoryTarget(), Clock()
    engine = make_engine(src, {"app": tgt}, clock=clock, safety=SafetyConfig(delete_threshold=1))
    engine.run_once()
    disable_in_ad(src, 1)
    disable_in_ad(src, 2)
    engine.run_once()
    assert len(engine.store.held("app")) == 2
    src.modify(guid(1), userAccountControl="512")
    engine.run_once()
    assert [h.anchor for h in engine.store.held("app")] == [guid(2)]
    assert users_at(tgt)["u1@lab.test"]["active"]
    assert engine.store.get_target_state("app", guid(1)).state == "provisioned"


# ---------------------------------------------------------------- the percentage
def test_the_effective_limit_is_the_smaller_of_count_and_percentage():
    assert effective_limit(SafetyConfig(delete_threshold=500, delete_threshold_percent=5), 1000) == 50
    assert effective_limit(SafetyConfig(delete_threshold=20, delete_threshold_percent=5), 1000) == 20
    assert effective_limit(SafetyConfig(delete_threshold=20), 1000) == 20
    assert effective_limit(SafetyConfig(delete_threshold=20, delete_threshold_percent=10), 9) == 0


def test_a_percentage_of_owned_objects_limits_the_window():
    src, tgt, clock = population(40), MemoryTarget(), Clock()
    engine = make_engine(src, {"app": tgt}, clock=clock,
                         safety=SafetyConfig(delete_threshold=500, delete_threshold_percent=10))
    engine.run_once()
    assert engine.status().targets[0].window_threshold == 4  # 10% of 40 owned
    for i in range(1, 6):  # 5 > 4
        src.move(guid(i), f"CN=u{i},{OTHER}")
    engine.run_once()
    assert disabled(tgt) == set() and len(engine.store.held("app")) == 5
    engine.approve_deletes()
    engine.run_once()
    assert len(disabled(tgt)) == 5
    clock.advance(days=2)
    for i in range(6, 10):  # 4 <= 10% of 40 (the soft-deleted are owned still)
        src.move(guid(i), f"CN=u{i},{OTHER}")
    engine.run_once()
    assert len(disabled(tgt)) == 9 and engine.store.held("app") == []


# ---------------------------------------------------------------- adoption approval
WORK = 'emails[type eq "work"].value'


def adopting(adopt: str):
    src, tgt, clock = population(3), MemoryTarget(), Clock()
    foreign = tgt.seed(ObjectKind.USER, {"userName": "u2@lab.test", "displayName": "Cloud u2"})
    before = dict(tgt.store[foreign]["attributes"])
    engine = make_engine(src, {"app": tgt}, clock=clock, safety=SafetyConfig(adopt=adopt))
    return src, tgt, engine, foreign, before


def test_with_adopt_approve_a_soft_match_waits_and_nothing_is_created_or_modified():
    src, tgt, engine, foreign, before = adopting("approve")
    engine.run_once()
    rec = tgt.store[foreign]
    assert rec["attributes"] == before and rec["external_id"] is None
    assert sorted(users_at(tgt)) == ["u1@lab.test", "u2@lab.test", "u3@lab.test"]  # no duplicate
    [pending] = engine.pending_adoptions()
    assert pending.anchor == guid(2) and pending.target_id == foreign and pending.action == "adopt"
    status = engine.status()
    assert [h.id for h in status.adoptions] == [pending.id] and status.targets[0].pending_adoptions == 1
    assert status.held == ()  # not a held delete
    assert engine.approve_deletes().count == 0  # approve-deletes does not approve adoptions
    [exp] = explain(engine.store, "u2@lab.test")
    assert any(e.kind == "held" and "approve-adoptions" in e.summary for e in exp.timeline)
    engine.run_once(full=True)
    assert tgt.store[foreign]["attributes"] == before and len(engine.pending_adoptions()) == 1
    approval = engine.approve_adoptions(ids=[pending.id])
    assert approval.count == 1 and [h.id for h in approval.approved] == [pending.id]
    engine.run_once()  # the next cycle adopts (a delta with no change in AD)
    rec = tgt.store[foreign]
    assert rec["external_id"] == guid(2) and rec["attributes"]["displayName"] == "User 2"
    assert engine.store.get_target_state("app", guid(2)).ownership == "adopted"
    assert engine.pending_adoptions() == () and engine.store.held("app", include_approved=True, adoptions=None) == []


def test_with_adopt_auto_the_soft_match_is_adopted_at_once():
    src, tgt, engine, foreign, before = adopting("auto")
    engine.run_once()
    assert tgt.store[foreign]["external_id"] == guid(2) and engine.pending_adoptions() == ()


def test_an_approval_is_for_the_target_object_it_named():
    src, tgt, engine, foreign, before = adopting("approve")
    engine.run_once()
    [pending] = engine.pending_adoptions()
    del tgt.store[foreign]  # the foreign object goes away, another one appears
    other = tgt.seed(ObjectKind.USER, {"userName": "u2@lab.test", "displayName": "Another u2"})
    engine.approve_adoptions(ids=[pending.id])
    engine.run_once(full=True)
    assert tgt.store[other]["external_id"] is None  # not adopted on the strength of the other approval
    [again] = engine.pending_adoptions()
    assert again.target_id == other and again.id != pending.id


def test_a_pending_adoption_whose_object_leaves_scope_is_closed():
    src, tgt, engine, foreign, before = adopting("approve")
    engine.run_once()
    assert len(engine.pending_adoptions()) == 1
    src.move(guid(2), f"CN=u2,{OTHER}")
    engine.run_once()
    assert engine.pending_adoptions() == () and tgt.store[foreign]["attributes"] == before


def test_a_pending_adoption_whose_object_is_deleted_in_ad_is_closed():
    src, tgt, engine, foreign, before = adopting("approve")
    engine.run_once()
    [pending] = engine.pending_adoptions()
    engine.approve_adoptions(ids=[pending.id])  # approved, but the AD object goes before the next cycle
    src.delete(guid(2))
    engine.run_once()
    assert engine.pending_adoptions() == () and tgt.store[foreign]["attributes"] == before
    assert engine.store.held("app", include_approved=True, adoptions=None) == []
    assert tgt.store[foreign]["external_id"] is None  # the foreign object was never adopted

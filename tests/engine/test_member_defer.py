"""A group's members go to the target in ONE member change per full sync (``target.plan_members``).

A page of a full read that is not its last leaves a group's member change to the cycle's due pass
when the group names members no plan and no stored object knows yet (a later page may bring
them): the due pass then adds every member at once, instead of the page adding those read so far
and the due pass the rest (two PATCHes per group; measured in bench/README "P2 with the target on
a core of its own"). The deferred group is a follow-up of its page (``Plan.followup``), stored
with that page's commit, so a kill -9 before the due pass loses nothing.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.config import ScopeConfig, TargetConfig
from hybridsync.engine.core.values import ActionKind, ObjectKind, ReadMode, SourceObject, TargetState
from hybridsync.engine.mapping.projection import compile_mapping
from hybridsync.engine.plan import needs, planner
from hybridsync.engine.runtime import cycle as cycle_module
from hybridsync.statestore import Store

from .enginekit import group, guid, make_engine, user
from .test_followups import due_commit_crash, members_at_target, stored_followups
from .test_pipeline import Crash

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
STAFF = "OU=Staff,DC=lab,DC=test"
CFG = TargetConfig(name="app")
A = ActionKind


def _user(n: str) -> SourceObject:
    return SourceObject(anchor=n, object_guid=n, kind=ObjectKind.USER, dn=f"CN={n},{STAFF}",
                        attributes={"userPrincipalName": f"{n}@lab.test", "displayName": n,
                                    "userAccountControl": "512"})


def _plan(read: planner.ReadEvidence, *, stored_members: frozenset[str] = frozenset(),
          members: frozenset[str] = frozenset({"u1", "u9"})) -> planner.Plan:
    """u1 and a group g1 naming u1 and u9 in one page; u9 is neither in the page nor stored."""
    grp = SourceObject(anchor="g1", object_guid="g1", kind=ObjectKind.GROUP, dn=f"CN=G1,{STAFF}",
                       attributes={"cn": "G1"}, members=members)
    states = {}
    if stored_members:
        states["g1"] = TargetState(anchor="g1", target="app", kind=ObjectKind.GROUP, state="provisioned",
                                   target_id="tg", projection={"displayName": "G1"}, members_sent=stored_members)
    target = planner.TargetInput(config=CFG, mapping=compile_mapping(CFG), states=states)
    return planner.plan(planner.PlanInput(
        source="corp", scope=ScopeConfig(include_ous=(STAFF,)), objects=(_user("u1"), grp), targets=(target,),
        clock=NOW, read=read, refs=planner.References(anchor_by_guid={"u9": None})))


def _members(plan: planner.Plan) -> list[tuple[str, tuple[str, ...]]]:
    return [(str(a.kind), a.members) for a in plan.actions if a.kind in (A.ADD_MEMBERS, A.REMOVE_MEMBERS)]


PAGE = planner.ReadEvidence(mode=ReadMode.FULL, final=False)


def test_a_page_with_more_to_come_leaves_the_member_change_to_the_due_pass():
    plan = _plan(PAGE)
    assert _members(plan) == []
    assert "g1" in plan.followup()  # planned again in the due pass (and stored with the page)
    assert plan.summary["members_deferred"] == 1
    assert any(a.kind == A.CREATE and a.anchor == "g1" for a in plan.actions)  # the group itself is not held back


@pytest.mark.parametrize("read", [planner.ReadEvidence(mode=ReadMode.FULL, final=True, complete=True),
                                  planner.ReadEvidence(mode=ReadMode.DELTA)], ids=["last page", "delta"])
def test_the_last_page_and_a_delta_add_the_members_they_know(read):
    plan = _plan(read)
    assert _members(plan) == [("add_members", ("u1",))]
    assert plan.summary["members_deferred"] == 0 and "g1" not in plan.followup()


def test_a_group_whose_members_are_all_known_is_not_deferred():
    plan = _plan(PAGE, members=frozenset({"u1"}))
    assert _members(plan) == [("add_members", ("u1",))]
    assert plan.summary["members_deferred"] == 0


def test_a_group_naming_a_member_never_read_waits_for_the_due_pass_even_when_right():
    """Whether its members changed is not worked out in the page (their states are not read
    there: see the next test); the due pass plans it, and changes nothing."""
    plan = _plan(PAGE, stored_members=frozenset({"u1"}))
    assert _members(plan) == [] and "g1" in plan.followup()
    assert _members(_plan(planner.ReadEvidence(mode=ReadMode.DELTA), stored_members=frozenset({"u1"}))) == []


def _asked(read: planner.ReadEvidence) -> frozenset[str]:
    """The target states ``needs.questions`` asks for a page holding g1 (members u1, u2, u9) alone:
    u1 and u2 are stored, u9 is not."""
    grp = SourceObject(anchor="g1", object_guid="g1", kind=ObjectKind.GROUP, dn=f"CN=G1,{STAFF}",
                       attributes={"cn": "G1"}, members=frozenset({"u1", "u2", "u9"}))
    target = planner.TargetInput(config=CFG, mapping=compile_mapping(CFG), states={})
    inp = planner.PlanInput(source="corp", scope=ScopeConfig(include_ous=(STAFF,)), objects=(grp,), targets=(target,),
                            clock=NOW, read=read, refs=planner.References(
                                anchor_by_guid={"u1": "u1", "u2": "u2", "u9": None},
                                kind_by_anchor={"u1": ObjectKind.USER, "u2": ObjectKind.USER}))
    return needs.questions(inp).states["app"]


def test_a_page_with_more_to_come_does_not_read_the_states_of_a_deferred_groups_members():
    """So the page's plan reads nothing of members the page before is still creating: the
    pipeline plans it while they are in flight (``pipeline._plan_ahead``)."""
    assert _asked(PAGE) == {"g1"}
    assert _asked(planner.ReadEvidence(mode=ReadMode.FULL, final=True, complete=True)) == {"g1", "u1", "u2"}
    assert _asked(planner.ReadEvidence(mode=ReadMode.DELTA)) == {"g1", "u1", "u2"}


# -- the engine: pages of a memory source ---------------------------------------------------------

# page size 5: users 1-4 and g5 on page 1; g6 (members on pages 1, 2 and 4) on page 2; g11 on page 3
GROUPS = {5: [1, 2, 3], 6: [1, 7, 16, 19], 11: [4, 12, 17, 99]}  # 99: never read (another domain, say)


def source() -> MemorySource:
    src = MemorySource(page_size=5)
    for i in range(1, 21):
        src.put(group(i, members=GROUPS[i]) if i in GROUPS else user(i))
    return src


WANTED = {f"g{g}": {f"u{i}@lab.test" for i in users if i != 99} for g, users in GROUPS.items()}


def member_calls(tgt: MemoryTarget) -> list[str]:
    return [key for op, key in tgt.calls if op in ("add_members", "remove_members")]


def test_a_full_sync_changes_each_groups_members_once(tmp_path):
    src, tgt = source(), MemoryTarget("app")
    engine = make_engine(src, {"app": tgt}, store=Store.open(str(tmp_path / "s.db")))
    report = engine.run_once()
    assert report.failed == 0 and report.members_deferred == 2  # g6 and g11
    assert members_at_target(tgt) == WANTED  # g11's read members too, though u99 never comes
    calls = member_calls(tgt)
    assert sorted(calls) == sorted(set(calls)) and len(calls) == 3  # one member change per group
    assert stored_followups(engine.store) == set()
    tgt.calls.clear()
    engine = make_engine(src, {"app": tgt}, store=Store.open(str(tmp_path / "s.db")))
    engine.run_once(full=True)  # a full read again: nothing to change, nothing left for a follow-up
    assert member_calls(tgt) == []
    assert stored_followups(engine.store) == set()


def test_the_deferred_groups_are_stored_with_their_page():
    src, tgt = source(), MemoryTarget("app")
    store = Store.open(":memory:")
    engine = make_engine(src, {"app": tgt}, store=store)
    seen: list[set[str]] = []
    real = cycle_module.commit_page

    def spy(setup, state, page, unit, outcomes):
        real(setup, state, page, unit, outcomes)
        if unit.batch is not None:
            seen.append(set(store.meta_get("engine.followup_groups.corp", None) or ()))
    mp = pytest.MonkeyPatch()
    mp.setattr(cycle_module, "commit_page", spy)
    try:
        engine.run_once()
    finally:
        mp.undo()
    assert guid(6) in seen[1]  # page 2's unit stores g6, whose u16 and u19 come on page 4
    assert guid(11) in seen[2]
    engine.close()


def test_a_kill_before_the_due_pass_ends_then_a_delta_adds_every_member(tmp_path):
    src, tgt = source(), MemoryTarget("app")
    mp = pytest.MonkeyPatch()
    mp.setattr(cycle_module, "DUE_PART", 1)
    due_commit_crash(mp, 1)  # the first due part's commit: the pages are committed, their watermark moved
    try:
        engine = make_engine(src, {"app": tgt}, store=Store.open(str(tmp_path / "s.db")))
        with pytest.raises(Crash):
            engine.run_once()
        engine.store.close()
    finally:
        mp.undo()
    assert members_at_target(tgt) != WANTED
    assert stored_followups(Store.open(str(tmp_path / "s.db"))) == {guid(6), guid(11)}
    engine = make_engine(src, {"app": tgt}, store=Store.open(str(tmp_path / "s.db")))  # a new process: a delta
    report = engine.run_once()
    engine.close()
    assert report.failed == 0
    assert members_at_target(tgt) == WANTED
    assert stored_followups(Store.open(str(tmp_path / "s.db"))) == set()


def test_a_dry_run_says_how_many_groups_member_changes_it_does_not_show(capsys, monkeypatch):
    """``hybridsync plan --full`` previews the pages; the due pass's member changes are not in it,
    and the plan says so instead of showing groups without members."""
    import argparse
    import contextlib

    from hybridsync.engine.cli import plan as plan_cli
    from hybridsync.engine.cli import sync as sync_cli

    engine = make_engine(source(), {"app": MemoryTarget("app")})
    report = engine.run_once(dry_run=True, full=True)
    assert report.members_deferred == 2  # g6 and g11; g5's members were all read before it
    assert "members_deferred" not in report.counts  # the counts are of actions
    assert [a.anchor for a in report.planned if a.kind == A.ADD_MEMBERS] == [guid(5)]

    monkeypatch.setattr(sync_cli, "open_engine", lambda *a, **k: contextlib.nullcontext(engine))
    assert plan_cli.run(argparse.Namespace(config="x", json=False, full=True, all=False)) == 0
    out = capsys.readouterr().out
    assert "note: 2 groups' member changes wait for members a later page reads" in out
    engine.close()

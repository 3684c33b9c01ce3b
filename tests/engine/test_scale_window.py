"""Issue 17: the delete threshold's window is read incrementally across cycles
(``runtime.window.RemovalWindow``): always the count the store's full query gives, without
visiting every decision of the window on each cycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from hybridsync.engine.core.config import SafetyConfig
from hybridsync.engine.core.states import State
from hybridsync.engine.core.values import Action, ActionKind, ObjectKind
from hybridsync.engine.runtime.window import RemovalWindow
from hybridsync.statestore import Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)
KINDS = [ActionKind.DISABLE, ActionKind.DELETE, ActionKind.UPDATE, ActionKind.CREATE, ActionKind.REMOVE_MEMBERS]

step = st.tuples(st.sampled_from(KINDS), st.sampled_from(["a", "b"]), st.sampled_from(["ok", "failed"]),
                 st.integers(0, 40))  # kind, target, result, minutes forward


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(step, max_size=6), min_size=1, max_size=8))
def test_the_incremental_window_counts_what_the_full_query_counts(cycles):
    store = Store.open(":memory:")
    safety = SafetyConfig(delete_threshold_window=3600.0)
    window = RemovalWindow()
    now = T0
    for decisions in cycles:
        for n, (kind, target, result, minutes) in enumerate(decisions):
            now += timedelta(minutes=minutes)
            attrs_ = {"active": False} if n % 2 else {"title": "x"}
            a = Action(kind=kind, target=target, anchor=f"x{n}", object_kind=ObjectKind.USER, dn="CN=x",
                       attributes=attrs_ if kind == ActionKind.UPDATE else {},
                       to_state=State.SOFT_DELETED if kind == ActionKind.REMOVE_MEMBERS and n % 2 else None)
            store.record_decision(1, a, result=result, at=now)
        got = window.counts(store, safety, ["a", "b"], now)
        since = now - timedelta(hours=1)
        assert got == {t: store.access_removals(t, since) for t in ("a", "b")}


def test_a_prune_or_an_earlier_clock_makes_it_read_the_window_again():
    store = Store.open(":memory:")
    safety = SafetyConfig(delete_threshold_window=3600.0)
    window = RemovalWindow()
    a = Action(kind=ActionKind.DISABLE, target="a", anchor="x", object_kind=ObjectKind.USER, dn="CN=x")
    store.record_decision(1, a, result="ok", at=T0)
    assert window.counts(store, safety, ["a"], T0) == {"a": 1}
    assert window.counts(store, safety, ["a"], T0 + timedelta(hours=2)) == {"a": 0}
    assert window.counts(store, safety, ["a"], T0 + timedelta(minutes=5)) == {"a": 1}  # clock went back


class _LateCommits:
    """A store whose history rows become visible out of id order, as on PostgreSQL with several
    writers: the row with id 1 (another process's commit unit) shows only after id 2 was read."""

    history_ids_in_commit_order = False

    def __init__(self) -> None:
        self.rows: list[tuple[int, datetime]] = [(2, T0)]

    def last_history_id(self) -> int:
        return max(i for i, _ in self.rows)

    def access_removal_times(self, target, since, *, after_id=0, upto_id=None):
        return [(i, at) for i, at in sorted(self.rows) if after_id < i <= (upto_id or 2 ** 62) and at >= since]

    def access_removals(self, target, since) -> int:
        return sum(1 for _, at in self.rows if at >= since)


def test_a_store_without_ids_in_commit_order_is_counted_whole_so_a_late_commit_is_never_missed():
    store, window = _LateCommits(), RemovalWindow()
    safety = SafetyConfig(delete_threshold_window=3600.0)
    assert window.counts(store, safety, ["a"], T0) == {"a": 1}
    store.rows.append((1, T0))  # committed by another writer after id 2 was read
    assert window.counts(store, safety, ["a"], T0 + timedelta(minutes=1)) == {"a": 2}
    assert Store.history_ids_in_commit_order is True


def test_the_report_counts_every_outcome_and_keeps_a_bounded_sample(monkeypatch):
    from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
    from hybridsync.engine.runtime import context

    from .enginekit import make_engine, user

    monkeypatch.setattr(context, "SAMPLE", 5)
    src = MemorySource(page_size=7)
    for i in range(1, 31):
        src.put(user(i))
    report = make_engine(src, {"app": MemoryTarget()}).run_once()
    assert len(report.outcomes) == 5
    assert report.tallied[("app", "create", "ok")] == 30 == report.counts["create"]
    assert report.failed == 0 and report.exit_code() == 0 and report.failed_targets == {}


def test_a_page_of_large_groups_is_planned_in_parts_with_the_same_result(monkeypatch):
    from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
    from hybridsync.engine.core.values import ObjectKind
    from hybridsync.engine.plan import planner
    from hybridsync.engine.runtime import parts

    from .enginekit import group, make_engine, user

    def world() -> MemorySource:
        src = MemorySource(page_size=100)  # one page: 30 users, then 4 groups of 10 members
        for i in range(1, 31):
            src.put(user(i))
        for g in range(4):
            src.put(group(100 + g, members=range(1 + g * 5, 11 + g * 5)))
        return src

    def members(tgt: MemoryTarget) -> dict[str, set[str]]:
        names = {tid: r["attributes"].get("userName") for tid, r in tgt.store.items()}
        return {r["attributes"].get("displayName"): {names[m] for m in r["members"]}
                for r in tgt.store.values() if r["kind"] == ObjectKind.GROUP}

    whole = MemoryTarget("app")
    make_engine(world(), {"app": whole}).run_once()
    sizes: list[int] = []
    real_plan = planner.plan
    monkeypatch.setattr(parts, "PLAN_WEIGHT", 12)
    monkeypatch.setattr(planner, "plan", lambda inp: (sizes.append(len(inp.objects)), real_plan(inp))[1])
    parts = MemoryTarget("app")
    report = make_engine(world(), {"app": parts}).run_once()
    assert report.failed == 0 and max(sizes) < 34 and len(sizes) > 2  # planned in parts
    assert members(parts) == members(whole) and len(members(whole)) == 4
    assert all(len(m) == 10 for m in members(whole).values())

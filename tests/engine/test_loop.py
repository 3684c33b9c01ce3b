"""The reconcile loop against the in-memory source/target, the real store and the real planner."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from structlog.testing import capture_logs

from hybridsync.connectors.base import RetryAfter, Terminal
from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.config import SafetyConfig
from hybridsync.engine.core.values import ObjectKind
from hybridsync.statestore import Store

from .enginekit import OTHER, STAFF, Clock, group, guid, make_engine, user, users_at


def directory(n_users: int = 5) -> MemorySource:
    src = MemorySource(page_size=3)
    for i in range(1, n_users + 1):
        src.put(user(i))
    src.put(user(90, OTHER))
    src.put(group(100, [1, 2, 3]))
    src.put(group(101, [100, 4]))
    return src


def groups_at(target: MemoryTarget) -> dict[str, set[str]]:
    names = {tid: r["attributes"].get("userName") or r["attributes"].get("displayName") for tid, r in target.store.items()}
    return {r["attributes"]["displayName"]: {names[m] for m in r["members"]}
            for r in target.store.values() if r["kind"] == ObjectKind.GROUP}


def expected_projection(src: MemorySource) -> tuple[dict, dict]:
    """The active in-scope users and the groups with their in-scope members, from the source."""
    live = {o.anchor: o for o in src.objects()}
    inscope = {a: o for a, o in live.items() if o.dn.endswith(STAFF)}
    users = {o.first("userPrincipalName"): not o.disabled for o in inscope.values() if o.kind == ObjectKind.USER}
    name = {a: (o.first("userPrincipalName") or o.first("cn")) for a, o in inscope.items()}
    groups = {o.first("cn"): {name[m] for m in o.members if m in inscope}  # disabled users stay members
              for o in inscope.values() if o.kind == ObjectKind.GROUP}
    return users, groups


def assert_converged(src: MemorySource, target: MemoryTarget) -> None:
    users, groups = expected_projection(src)
    active = {k: r["active"] for k, r in users_at(target).items() if r["active"]}
    assert active == {k: v for k, v in users.items() if v}
    assert groups_at(target) == groups
    dupes = [x for x, c in Counter(r["external_id"] for r in target.store.values()).items() if c > 1]
    assert dupes == []


def test_a_full_sync_then_edits_converge_to_the_projection_of_the_source():
    src, tgt = directory(), MemoryTarget()
    engine = make_engine(src, {"app": tgt})
    report = engine.run_once()
    assert report.exit_code() == 0 and report.counts["create"] == 7
    assert_converged(src, tgt)
    src.modify(guid(1), sn="Changed", displayName="Renamed")
    src.delete(guid(2))
    src.move(guid(3), f"CN=u3,{OTHER}")
    src.modify(guid(4), userAccountControl="514")
    src.put(user(6))
    src.add_member(guid(100), guid(6))
    engine.run_once()
    assert_converged(src, tgt)
    assert users_at(tgt)["u1@lab.test"]["attributes"]["name.familyName"] == "Changed"
    assert users_at(tgt)["u2@lab.test"]["active"] is False  # soft delete first
    src.modify(guid(4), userAccountControl="512")
    src.move(guid(3), f"CN=u3,{STAFF}")
    engine.run_once()
    assert_converged(src, tgt)
    assert len(users_at(tgt)) == 6  # u3 came back re-enabled, not duplicated


def test_a_second_cycle_without_changes_calls_the_target_for_nothing():
    src, tgt = directory(), MemoryTarget()
    engine = make_engine(src, {"app": tgt})
    engine.run_once()
    calls = len(tgt.calls)
    report = engine.run_once()
    assert len(tgt.calls) == calls and report.outcomes == ()
    report = engine.run_once(full=True)  # a full read of an unchanged directory: no writes either
    assert [op for op, _ in tgt.calls[calls:] if op not in ("lookup_by_anchor", "lookup_by_attribute")] == []


def test_a_failing_object_waits_in_escrow_while_the_rest_proceed_and_the_cursor_advances():
    src, tgt, clock = directory(), MemoryTarget(), Clock()
    engine = make_engine(src, {"app": tgt}, clock=clock)
    engine.run_once()
    tgt.inject(RetryAfter(120, "429 slow down"), op="update", times=5)
    src.modify(guid(1), title="Boss")
    src.modify(guid(5), title="Clerk")
    before = engine.store.get_cursor("corp")
    report = engine.run_once()
    assert report.exit_code() == 1 and report.counts["retry"] == 2
    assert engine.store.get_cursor("corp") != before
    ts = engine.store.get_target_state("app", guid(1))
    assert ts.state == "escrow" and ts.next_retry_at == clock.t.replace() + (ts.next_retry_at - clock.t)
    assert (ts.next_retry_at - clock.t).total_seconds() == 120
    tgt._faults.clear()
    clock.advance(seconds=119)
    engine.run_once()
    assert "title" not in users_at(tgt)["u1@lab.test"]["attributes"]  # not due yet: RetryAfter honoured
    clock.advance(seconds=2)
    engine.run_once()
    assert users_at(tgt)["u1@lab.test"]["attributes"]["title"] == "Boss"
    assert users_at(tgt)["u5@lab.test"]["attributes"]["title"] == "Clerk"
    assert engine.store.get_target_state("app", guid(1)).state == "provisioned"


def test_an_auth_failure_quarantines_one_target_while_the_other_keeps_syncing():
    src, good, bad, clock = directory(), MemoryTarget("good"), MemoryTarget("bad"), Clock()
    bad.inject(Terminal("401 unauthorized", status=401), times=1000)
    engine = make_engine(src, {"good": good, "bad": bad}, clock=clock)
    report = engine.run_once()
    assert report.quarantined == ("bad",) and report.exit_code() == 3
    assert [q.target for q in engine.store.quarantined()] == ["bad"]
    assert_converged(src, good)
    assert bad.store == {}
    calls = len(bad.calls)
    src.put(user(7))
    engine.run_once()
    assert len(bad.calls) == calls and "u7@lab.test" in users_at(good)  # paused, not hammered
    bad._faults.clear()
    clock.advance(hours=2)
    engine.run_once()
    assert engine.store.quarantined() == []
    assert_converged(src, bad)


def test_a_target_failing_most_operations_is_quarantined():
    src = MemorySource()
    for i in range(1, 101):
        src.put(user(i))
    tgt = MemoryTarget()
    tgt.inject(RetryAfter(1, "503"), op="create", times=25)
    engine = make_engine(src, {"app": tgt}, safety=SafetyConfig(quarantine_min_operations=10))
    report = engine.run_once()
    assert report.quarantined == ("app",)
    assert report.counts.get("skipped", 0) > 0  # the rest waits for the quarantine to end


class Crash(BaseException):
    pass


def test_a_crash_mid_apply_then_a_clean_run_creates_nothing_twice_and_loses_nothing(tmp_path):
    src, tgt = directory(8), MemoryTarget()
    path = tmp_path / "state.db"
    calls = {"n": 0}

    def crash_after_four(op):
        calls["n"] += 1
        if calls["n"] == 4:
            raise Crash()

    tgt.after_call = crash_after_four
    engine = make_engine(src, {"app": tgt}, store=Store.open(path))
    with pytest.raises(Crash):
        engine.run_once()
    engine.store.close()
    tgt.after_call = None
    assert 4 <= len(tgt.store) < 10  # the crash came mid-apply (calls in flight may have landed too)
    engine = make_engine(src, {"app": tgt}, store=Store.open(path))
    engine.run_once()
    assert engine.store.pending_intents() == []
    assert_converged(src, tgt)
    assert [op for op, _ in tgt.calls].count("create") == 10  # 8 users + 2 groups, each exactly once


def test_dry_run_plans_without_writing_the_store_or_the_target(tmp_path):
    src, tgt = directory(), MemoryTarget()
    engine = make_engine(src, {"app": tgt}, store=Store.open(tmp_path / "s.db"))
    engine.run_once()
    src.modify(guid(1), sn="Dry")
    src.delete(guid(2))
    import io

    before = io.StringIO()
    engine.store.dump(before)
    target_before = repr(sorted(tgt.store.items(), key=lambda kv: kv[0]))
    report = engine.run_once(dry_run=True)
    after = io.StringIO()
    engine.store.dump(after)
    assert before.getvalue() == after.getvalue()
    assert repr(sorted(tgt.store.items(), key=lambda kv: kv[0])) == target_before
    kinds = Counter(str(a.kind) for a in report.planned)
    assert kinds["update"] == 1 and kinds["disable"] == 1


def test_run_forever_picks_up_a_change_and_returns_promptly_leaving_no_threads():
    src, tgt = directory(), MemoryTarget()
    engine = make_engine(src, {"app": tgt})
    threads_before = set(threading.enumerate())
    stop = threading.Event()
    worker = threading.Thread(target=engine.run_forever, args=(stop,))
    worker.start()
    deadline = time.monotonic() + 60  # a bound for a hung engine, not a speed target (a loaded CI machine)
    while "u1@lab.test" not in users_at(tgt) and time.monotonic() < deadline:
        time.sleep(0.01)
    src.modify(guid(1), title="Live")
    while users_at(tgt)["u1@lab.test"]["attributes"].get("title") != "Live" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert users_at(tgt)["u1@lab.test"]["attributes"]["title"] == "Live"
    stop.set()
    worker.join(30)  # an event wait: run_forever must return once stop is set (it never would otherwise)
    assert not worker.is_alive()
    assert set(threading.enumerate()) <= threads_before  # nothing it started is left (an earlier test's thread may end meanwhile)


def test_logs_have_one_line_per_cycle_and_per_object_outcome_with_the_cycle_id():
    src, tgt = directory(), MemoryTarget()
    engine = make_engine(src, {"app": tgt})
    with capture_logs() as logs:
        report = engine.run_once()
    cycles = [e for e in logs if e["event"] == "cycle"]
    outcomes = [e for e in logs if e["event"] == "object_outcome"]
    assert len(cycles) == 1 and cycles[0]["cycle_id"] == report.cycle_id
    assert len(outcomes) == len(report.outcomes) and all(e["cycle_id"] == report.cycle_id and e["anchor"] for e in outcomes)

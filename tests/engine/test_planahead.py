"""Wave 9: page N+1 planned again while page N's later runs are in flight (``pipeline._plan_ahead``).

Page 2 holds users 6-8 and two groups of its own users: its runs are the user creates, the group
creates, then the groups' member adds (its last run, in flight when the cycle gets control back:
``CycleState.last_run_sent``). Page 3's group holds users 6 and 8, created by page 2's first run:
its early plan is dropped, and it is planned again at the yield of page 2's last run, not after
page 2's last answer. It must end as the sequential
loop ends, with N's commit unit N's, and resume to that end after a kill at any point around it.
"""

from __future__ import annotations

import pytest

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.runtime import pipeline

from .enginekit import group, guid, user
from .test_pipeline import crash_in_commit, decisions, end_state, recorded, rerun_settles, run, spied_run


def later_runs(holds: tuple[int, int] = (6, 8)) -> MemorySource:
    """Pages of 5 in anchor order: 1-5 users; 6-8 users + groups 9 and 10 (of 6, 7 and of 7, 8);
    11, 12 users + group 13 (of ``holds``) + 14, 15 users; 16-20 users."""
    src = MemorySource(page_size=5)
    for i in range(1, 21):
        if i == 9:
            src.put(group(9, members=[6, 7]))
        elif i == 10:
            src.put(group(10, members=[7, 8]))
        elif i == 13:
            src.put(group(13, members=list(holds)))
        else:
            src.put(user(i))
    return src


def members(tgt: MemoryTarget, n: int) -> set[str]:
    rec = next(r for r in tgt.store.values() if r["external_id"] == guid(n))
    names = {tid: r["attributes"].get("userName") or r["attributes"].get("displayName") or r["external_id"]
             for tid, r in tgt.store.items()}
    return {names[m] for m in rec["members"]}


@pytest.mark.parametrize("ahead", [True, False])
def test_a_page_planned_again_while_the_page_before_has_runs_in_flight_ends_like_the_sequential_loop(
        tmp_path, monkeypatch, ahead):
    monkeypatch.setattr(pipeline, "PLAN_AHEAD", ahead)
    tgt, path, stats, seen = spied_run(later_runs(), tmp_path)
    assert stats[0].replanned >= 1 and stats[0].behind == stats[0].replanned
    assert stats[0].ahead == (1 if ahead else 0)  # page 3, at the yield of page 2's member adds
    pages = [anchors for anchors, _, _ in seen]
    started = [pending - anchors for anchors, pending, _ in seen]
    assert started[1] and started[1] <= pages[2]  # page 3's first run journaled before page 2 commits
    assert members(tgt, 13) == {"u6@lab.test", "u8@lab.test"}
    seq_tgt, seq_path, _, _ = run(later_runs(), False, tmp_path)
    assert end_state(tgt, path) == end_state(seq_tgt, seq_path)
    assert decisions(path) == decisions(seq_path) and recorded(path) == recorded(seq_path)
    assert [op for op, _ in tgt.calls].count("add_members") == [op for op, _ in seq_tgt.calls].count("add_members")


def test_a_page_that_reads_what_the_page_before_still_writes_is_planned_after_its_last_answer(tmp_path):
    """Page 3's group holds group 9, which page 2 creates in its later run: no plan ahead."""
    tgt, path, stats, _ = run(later_runs(holds=(6, 9)), True, tmp_path)
    assert stats[0].ahead == 0 and stats[0].replanned >= 1
    seq_tgt, seq_path, _, _ = run(later_runs(holds=(6, 9)), False, tmp_path)
    assert end_state(tgt, path) == end_state(seq_tgt, seq_path)
    assert decisions(path) == decisions(seq_path)


@pytest.mark.parametrize("crash_after", [2, 4, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16])
def test_a_kill_while_the_page_planned_ahead_waits_resumes_to_the_sequential_end(tmp_path, crash_after):
    """kill -9 at a target call around page 2's later runs (after page 3 was planned ahead, before
    or after its calls start): what was committed is what the sequential loop had committed at the
    same call, and a fresh run ends at the sequential end, every object created once."""
    seq = run(later_runs(), False, tmp_path, crash_after=crash_after)
    pipe = run(later_runs(), True, tmp_path, crash_after=crash_after)
    assert end_state(pipe[0], pipe[1]) == end_state(seq[0], seq[1])
    for tgt in (seq[0], pipe[0]):
        assert len({r["external_id"] for r in tgt.store.values()}) == len(tgt.store) == 20  # no duplicate
    assert members(pipe[0], 13) == {"u6@lab.test", "u8@lab.test"}


@pytest.mark.parametrize("crash_at", [1, 2, 3])
def test_a_kill_in_the_commit_of_the_page_before_resumes_to_one_end(tmp_path, crash_at):
    """kill -9 in page N's commit while page N+1, planned ahead, has its first run in flight:
    nothing of N is committed, both pages' intents are pending; the rerun settles them and ends as
    an uncrashed sequential run, every object once, group 13 with both members."""
    seq_tgt, seq_path, _, _ = run(later_runs(), False, tmp_path)
    src = later_runs()
    tgt, path, seen = crash_in_commit(src, tmp_path / f"state-ahead-{crash_at}.db", crash_at)
    anchors, pending, _ = seen[-1]
    if crash_at == 2:
        assert pending - anchors  # page 3's intents journaled (its calls in flight) when page 2's commit died
    rerun_settles(src, tgt, path)
    assert end_state(tgt, path) == end_state(seq_tgt, seq_path)
    assert len({r["external_id"] for r in tgt.store.values()}) == len(tgt.store) == 20

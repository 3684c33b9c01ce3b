"""The pipelined full sync (``runtime.pipeline``): page N+1 is merged and planned while page N's
calls are in flight. It must end where the page-by-page loop ends -- the same target objects,
the same stored states and the same committed decisions -- also when the run dies between pages,
and it holds at most ``PAGES_HELD`` merged pages (plus the read-ahead queue), however large the
directory."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.runtime import cycle as cycle_module
from hybridsync.engine.runtime import pipeline, readahead
from hybridsync.statestore import Store

from .enginekit import STAFF, group, guid, make_engine, user


class Crash(BaseException):
    """The process dies (kill -9): nothing after it runs, nothing is committed."""


def world(seed: int, n_users: int, n_groups: int, page_size: int) -> MemorySource:
    """Users with managers and groups with members spread over every page of the read."""
    rng = random.Random(seed)
    src = MemorySource(page_size=page_size)
    for i in range(1, n_users + 1):
        extra = {"manager": f"CN=u{rng.randint(1, n_users)},{STAFF}"} if i > 1 and rng.random() < 0.4 else {}
        src.put(user(i, **extra))
    for g in range(n_groups):
        src.put(group(500 + g, members=rng.sample(range(1, n_users + 1), k=min(n_users, rng.randint(1, 6)))))
    return src


def run(src: MemorySource, overlap: bool, tmp_path, *, crash_after: int | None = None):
    """(target, store path, pipeline stats of each cycle) after a run_once; with ``crash_after``
    the process dies at that target call, and a fresh engine on the same store runs again."""
    path = str(tmp_path / f"state-{overlap}-{crash_after}.db")
    tgt = MemoryTarget("app")
    stats: list[pipeline.Stats] = []
    real = pipeline.run_pages

    def counting(*a, **k):
        stats.append(real(*a, **k))
        return stats[-1]

    calls = {"n": 0}
    lock = threading.Lock()

    def die(op: str) -> None:
        with lock:
            calls["n"] += 1
            if calls["n"] == crash_after:
                raise Crash()

    mp = pytest.MonkeyPatch()
    mp.setattr(pipeline, "OVERLAP", overlap)
    mp.setattr(cycle_module, "run_pages", counting)
    try:
        committed = None
        if crash_after is not None:
            tgt.after_call = die
            engine = make_engine(src, {"app": tgt}, store=Store.open(path))
            with pytest.raises(Crash):
                engine.run_once()
            engine.store.close()
            tgt.after_call = None
            committed = (decisions(path), recorded(path))
        engine = make_engine(src, {"app": tgt}, store=Store.open(path))
        report = engine.run_once()
        assert report.failed == 0
        assert engine.store.pending_intents() == []
        engine.close()
    finally:
        mp.undo()
    return tgt, path, stats, committed


def decisions(path: str) -> list[tuple[str, str, str, str]]:
    store = Store.open(path)
    try:
        return sorted((r.anchor or "", r.target or "", str(r.action.kind) if r.action else "", str(r.result))
                      for r in store.decisions())
    finally:
        store.close()


def recorded(path: str) -> list[str]:
    """The batches recorded for replay: each in its page's commit unit (a page taken early is
    recorded after the page before commits, so a crash leaves it unrecorded, as it is uncommitted)."""
    store = Store.open(path)
    try:
        return sorted(b.batch_json for b in store.iter_batches())
    finally:
        store.close()


def end_state(tgt: MemoryTarget, path: str) -> tuple:
    """What the target holds and what the store says, by anchor (target ids differ per run)."""
    by_id = {tid: r["external_id"] for tid, r in tgt.store.items()}

    def plain(value):  # a reference (the manager) holds a target id: named by its externalId
        return by_id.get(value, value) if isinstance(value, str) else repr(value)
    objects = sorted((r["external_id"], str(r["kind"]), r["active"],
                      repr(sorted((k, plain(v)) for k, v in r["attributes"].items())),
                      tuple(sorted(by_id[m] for m in r["members"]))) for r in tgt.store.values())
    store = Store.open(path)
    try:
        states = sorted((ts.anchor, str(ts.state), tuple(sorted(by_id.get(m, m) for m in ts.members_sent)))
                        for ts in store.iter_target_states("app"))
    finally:
        store.close()
    return objects, states


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), n_users=st.integers(6, 30), n_groups=st.integers(0, 4),
       page_size=st.integers(2, 7))
def test_the_pipelined_sync_ends_like_the_sequential_one(tmp_path_factory, seed, n_users, n_groups, page_size):
    tmp = tmp_path_factory.mktemp("pipe")
    seq_tgt, seq_path, seq_stats, _ = run(world(seed, n_users, n_groups, page_size), False, tmp)
    pipe_tgt, pipe_path, pipe_stats, _ = run(world(seed, n_users, n_groups, page_size), True, tmp)
    assert seq_stats[0].early == seq_stats[0].replanned == 0
    pages = -(-(n_users + n_groups) // page_size)
    assert pipe_stats[0].early + pipe_stats[0].replanned == max(0, pages - 2)  # every page but the first and last
    assert end_state(pipe_tgt, pipe_path) == end_state(seq_tgt, seq_path)
    assert decisions(pipe_path) == decisions(seq_path)
    creates = [op for op, _ in pipe_tgt.calls].count("create")
    assert creates == n_users + n_groups  # each object created exactly once


def dependent_pages() -> MemorySource:
    src = MemorySource(page_size=5)  # pages (in anchor order): 1-5, 6-10, 11-15 (group 13), 16-20
    for i in range(1, 21):
        src.put(group(13, members=[8, 9]) if i == 13 else user(i))
    return src


@pytest.mark.parametrize("behind", [True, False])
def test_early_plans_are_kept_and_a_dependent_page_is_planned_again(tmp_path, monkeypatch, behind):
    """Pages of independent users keep the plan made while the page before was applied; a page
    whose group holds a member created by the page before is planned again once that page's
    calls have answered: before its commit (``PLAN_BEHIND``, wave 8), or after it."""
    monkeypatch.setattr(pipeline, "PLAN_BEHIND", behind)
    tgt, path, stats, _ = run(dependent_pages(), True, tmp_path)
    assert (stats[0].early, stats[0].replanned) == (1, 1)  # page 2 kept its early plan, page 3 did not
    assert stats[0].behind == (1 if behind else 0)
    group_rec = next(r for r in tgt.store.values() if r["external_id"] == guid(13))
    names = {tid: r["attributes"].get("userName") for tid, r in tgt.store.items()}
    assert {names[m] for m in group_rec["members"]} == {"u8@lab.test", "u9@lab.test"}
    assert [op for op, _ in tgt.calls].count("add_members") == 1  # in the group's own plan: no follow-up


@pytest.mark.parametrize("crash_after", [3, 9, 14, 22])
def test_a_crash_between_pages_commits_the_same_pages_and_resumes_to_the_same_end(tmp_path, crash_after):
    """The run dies at a target call (kill -9: no commit, no settle): the pipelined run has
    committed exactly what the sequential one had, and a fresh run of each converges to one end
    state with every object created once."""
    seq = run(world(7, 24, 3, 4), False, tmp_path, crash_after=crash_after)
    pipe = run(world(7, 24, 3, 4), True, tmp_path, crash_after=crash_after)
    assert pipe[3] == seq[3]  # the decisions committed before the crash, and the batches recorded
    assert len(pipe[3][1]) < 7  # 27 objects in pages of 4: the crash came before the last commit
    # (the decisions of the resumed run are not compared: which of the crashed page's calls in
    # flight landed before the kill is up to the threads, in either loop)
    assert end_state(pipe[0], pipe[1]) == end_state(seq[0], seq[1])
    for tgt in (seq[0], pipe[0]):
        assert len({r["external_id"] for r in tgt.store.values()}) == len(tgt.store) == 27  # no duplicate


def test_pages_held_are_bounded_by_the_pipeline_depth_not_the_directory(tmp_path):
    """However many pages the read has, the pages read and not committed stay under the
    read-ahead depth + the pages the pipeline holds (+ the one the reader has in hand)."""
    src = MemorySource(page_size=3)
    for i in range(1, 91):  # 30 pages
        src.put(user(i))
    produced = {"n": 0, "max_open": 0}
    committed = {"n": 0}
    real_read = src.read

    def read(cursor):
        for batch in real_read(cursor):
            produced["n"] += 1
            produced["max_open"] = max(produced["max_open"], produced["n"] - committed["n"])
            yield batch
    src.read = read
    real_commit = cycle_module.commit_page

    def commit_page(setup, state, page, unit, outcomes):
        real_commit(setup, state, page, unit, outcomes)
        if unit.batch is not None:
            committed["n"] += 1
    mp = pytest.MonkeyPatch()
    mp.setattr(cycle_module, "commit_page", commit_page)
    try:
        tgt, _, stats, _ = run(src, True, tmp_path)
    finally:
        mp.undo()
    assert committed["n"] == produced["n"] == 30
    assert stats[0].max_held == pipeline.PAGES_HELD and stats[0].early == 28
    assert produced["max_open"] <= readahead.DEPTH + pipeline.PAGES_HELD + 1
    assert len(tgt.store) == 90


def commit_spy(mp: pytest.MonkeyPatch, tgt: MemoryTarget, seen: list[tuple[frozenset[str], frozenset[str], int]],
               crash_at: int | None = None) -> None:
    """Wrap ``commit_page``: before each page's commit, note the page's anchors, the anchors of the
    intents pending in the journal and the target calls made so far; ``crash_at``: the process
    dies (kill -9) at that page's commit, before anything of it is written."""
    real = cycle_module.commit_page

    def spy(setup, state, page, unit, outcomes):
        if unit.batch is not None:
            pending = frozenset(i.action.anchor for i in setup.store.pending_intents())
            seen.append((frozenset(o.anchor for o in unit.batch.objects), pending, len(tgt.calls)))
            if crash_at is not None and len(seen) == crash_at:
                raise Crash()
        real(setup, state, page, unit, outcomes)
    mp.setattr(cycle_module, "commit_page", spy)


def spied_run(src: MemorySource, tmp_path) -> tuple[Any, Any, Any, list[tuple[frozenset[str], frozenset[str], int]]]:
    """``run`` (pipelined) with ``commit_spy`` noting each page commit: (target, store path, stats, seen)."""
    seen: list[tuple[frozenset[str], frozenset[str], int]] = []
    mp = pytest.MonkeyPatch()
    commit_spy(mp, MemoryTarget("unused"), seen)
    try:
        tgt, path, stats, _ = run(src, True, tmp_path)
    finally:
        mp.undo()
    return tgt, path, stats, seen


def test_a_kept_early_plan_starts_its_calls_before_the_page_before_commits(tmp_path):
    """Lever 2 of issue 17: page N's commit is off the critical path. When N+1's early plan is
    kept, N+1's first run is journaled and in flight when N commits (the sequential loop, and
    the pipeline before, journaled N+1 only after N's commit). N's commit unit stays N's: the
    decisions, the recorded batches and the recorded calls come out as in the sequential loop."""
    src = MemorySource(page_size=5)
    for i in range(1, 21):  # four pages of independent users: pages 2 and 3 keep their early plans
        src.put(user(i))
    tgt, path, stats, seen = spied_run(src, tmp_path)
    assert (stats[0].early, stats[0].replanned) == (2, 0)
    pages = [anchors for anchors, _, _ in seen]
    ahead = [pending - anchors for anchors, pending, _ in seen]
    assert ahead[0] == pages[1] and ahead[1] == pages[2]  # N+1's intents journaled before N commits
    assert ahead[2] == ahead[3] == frozenset()  # page 4 is the last: never started early
    seq_tgt, seq_path, _, _ = run(src, False, tmp_path)
    assert end_state(tgt, path) == end_state(seq_tgt, seq_path)
    assert decisions(path) == decisions(seq_path) and recorded(path) == recorded(seq_path)
    store = Store.open(path)
    try:  # every call recorded once: N+1's calls went to N+1's commit unit, none lost, none twice
        creates = [c for c in store.iter_calls() if '"op": "create"' in c.call_json]
    finally:
        store.close()
    assert len(creates) == 20


def crash_in_commit(src, path, crash_at: int):
    """Run ``src`` into a fresh target until page commit number ``crash_at`` dies (``commit_spy``).
    Returns the target, the store's path and what each commit saw."""
    path, tgt = str(path), MemoryTarget("app")
    seen: list[tuple[frozenset[str], frozenset[str], int]] = []
    mp = pytest.MonkeyPatch()
    commit_spy(mp, tgt, seen, crash_at=crash_at)
    try:
        engine = make_engine(src, {"app": tgt}, store=Store.open(path))
        with pytest.raises(Crash):
            engine.run_once()
        engine.store.close()
    finally:
        mp.undo()
    return tgt, path, seen


def rerun_settles(src, tgt, path: str) -> None:
    """A fresh run after the crash: no failure, every intent settled."""
    engine = make_engine(src, {"app": tgt}, store=Store.open(path))
    report = engine.run_once()
    assert report.failed == 0 and engine.store.pending_intents() == []
    engine.close()


@pytest.mark.parametrize("crash_at", [1, 2, 3])
def test_a_crash_while_the_page_before_commits_and_the_next_is_in_flight_resumes_to_one_end(tmp_path, crash_at):
    """The process dies in page N's commit while N+1's first calls are in flight (the window
    lever 2 opens): nothing of N is committed, the watermark has not moved past N-1, N's and
    N+1's intents are pending; a fresh run settles them and ends where an uncrashed sequential
    run ends, every object created once."""
    seq_tgt, seq_path, _, _ = run(world(3, 24, 0, 4), False, tmp_path)
    src = world(3, 24, 0, 4)
    tgt, path, seen = crash_in_commit(src, tmp_path / f"state-crash-commit-{crash_at}.db", crash_at)
    anchors, pending, _ = seen[-1]
    assert pending - anchors  # N+1's intents were journaled (its calls in flight) when N's commit died
    assert len({r for r in decisions(path) if r[3] == "ok"}) == 4 * (crash_at - 1)  # pages before N only
    rerun_settles(src, tgt, path)
    assert end_state(tgt, path) == end_state(seq_tgt, seq_path)
    assert len({r["external_id"] for r in tgt.store.values()}) == len(tgt.store) == 24  # no duplicate


def test_a_page_planned_again_starts_its_calls_before_the_page_before_commits(tmp_path):
    """Wave 8: page 3 (its group holds members page 2 created) is planned again from page 2's
    outcomes in the page writes, its first run journaled and in flight, THEN page 2 commits. It
    ends as the sequential loop ends: same target, states, decisions, batches, calls recorded once."""
    tgt, path, stats, seen = spied_run(dependent_pages(), tmp_path)
    assert (stats[0].early, stats[0].replanned, stats[0].behind) == (1, 1, 1)
    pages = [anchors for anchors, _, _ in seen]
    ahead = [pending - anchors for anchors, pending, _ in seen]
    assert ahead[1] == pages[2]  # page 3's creates, its users and its group, journaled before page 2 commits
    group_rec = next(r for r in tgt.store.values() if r["external_id"] == guid(13))
    names = {tid: r["attributes"].get("userName") for tid, r in tgt.store.items()}
    assert {names[m] for m in group_rec["members"]} == {"u8@lab.test", "u9@lab.test"}
    assert [op for op, _ in tgt.calls].count("add_members") == 1  # in the group's own plan: no follow-up
    seq_tgt, seq_path, _, _ = run(dependent_pages(), False, tmp_path)
    assert end_state(tgt, path) == end_state(seq_tgt, seq_path)
    assert decisions(path) == decisions(seq_path) and recorded(path) == recorded(seq_path)
    store = Store.open(path)
    try:
        creates = [c for c in store.iter_calls() if '"op": "create"' in c.call_json]
    finally:
        store.close()
    assert len(creates) == 20


@pytest.mark.parametrize("crash_at", [1, 2, 3])
def test_a_crash_while_a_page_planned_again_is_in_flight_resumes_to_one_end(tmp_path, crash_at):
    """The process dies in page N's commit while N+1, planned again before that commit, has its
    first calls in flight: a fresh run settles the intents and ends as an uncrashed sequential
    run ends, every object created once (no duplicate, member lists complete)."""
    seq_tgt, seq_path, _, _ = run(dependent_pages(), False, tmp_path)
    src = dependent_pages()
    tgt, path, seen = crash_in_commit(src, tmp_path / f"state-crash-behind-{crash_at}.db", crash_at)
    anchors, pending, _ = seen[-1]
    if crash_at < 3:
        assert pending - anchors  # the next page's intents were journaled when N's commit died
    rerun_settles(src, tgt, path)
    assert end_state(tgt, path) == end_state(seq_tgt, seq_path)
    assert len({r["external_id"] for r in tgt.store.values()}) == len(tgt.store) == 20  # no duplicate


def test_the_recorder_flushes_only_the_calls_of_the_unit_it_commits():
    from hybridsync.connectors.base import Done
    from hybridsync.engine.runtime.recording import Recorder

    class Sink:
        def __init__(self):
            self.calls: list[list] = []

        def record_batch(self, *a, **k):
            pass

        def record_calls(self, rows, at=None):
            self.calls.append([doc for _, _, doc in rows])
    rec, sink = Recorder(), Sink()
    rec.call("app", "create", "a", Done("t1"))
    upto = rec.mark()
    rec.call("app", "create", "b", Done("t2"))  # the next page's call, in flight meanwhile
    rec.flush(sink, 1, upto=upto)
    rec.flush(sink, 1)
    assert [[('"key": "a"' in d, '"key": "b"' in d) for d in docs] for docs in sink.calls] == \
        [[(True, False)], [(False, True)]]


def test_a_page_planned_again_reads_target_states_only(tmp_path, monkeypatch):
    """Issue 17 (P2 CPU): the plan made again after the page before committed starts from the
    source facts its early plan was answered -- members' anchors and kinds, a manager's DN --
    and asks the store for target states only (the second plan of every page of a 20k full sync
    loaded each member's stored object again). It ends as the page-by-page loop ends."""
    from hybridsync.engine.runtime.planning import PagePlanner

    def directory() -> MemorySource:
        src = MemorySource(page_size=5)  # pages: 1-5, 6-10, 11-15 (group 13, user 12), 16-20
        for i in range(1, 21):
            src.put(group(13, members=[2, 8, 9, 18]) if i == 13
                    else user(i, manager=f"CN=u3,{STAFF}") if i == 12 else user(i))
        return src

    current: list[int | None] = [None]
    plans: list[tuple[str, ...]] = []
    reads: list[tuple[int, str]] = []
    real_plan = PagePlanner.plan

    def plan(self, objects, *a, **k):
        plans.append(tuple(o.anchor for o in objects))
        current[0] = len(plans) - 1
        try:
            return real_plan(self, objects, *a, **k)
        finally:
            current[0] = None

    monkeypatch.setattr(PagePlanner, "plan", plan)
    for name in ("get_objects", "object_by_guid", "live_at_dn", "anchors_by_former_dn", "get_target_states"):
        real = getattr(Store, name)

        def counted(self, *a, _real=real, _name=name, **k):
            if current[0] is not None:
                reads.append((current[0], _name))
            return _real(self, *a, **k)
        monkeypatch.setattr(Store, name, counted)

    tgt, path, stats, _ = run(directory(), True, tmp_path)
    assert stats[0].replanned >= 1
    page3 = [i for i, anchors in enumerate(plans) if guid(13) in anchors and len(anchors) > 1]
    assert len(page3) == 2  # the early plan, and the plan made again after page 2 committed
    early, again = ([name for i, name in reads if i == n] for n in page3)
    # member 2 (committed with page 1) in one query for the members by anchor, member 18 (not read
    # yet) by objectGUID; a member's kind comes with the object its anchor was loaded with
    assert early.count("get_objects") == 1 and early.count("object_by_guid") == 1
    assert set(again) == {"get_target_states"}
    monkeypatch.undo()
    seq_tgt, seq_path, _, _ = run(directory(), False, tmp_path)
    assert end_state(tgt, path) == end_state(seq_tgt, seq_path)
    assert decisions(path) == decisions(seq_path)


def test_the_objects_frozen_for_the_read_are_unfrozen_after_it(tmp_path):
    """``pipeline.FREEZE_GC``: the objects alive before a read are left out of its collections
    (``gc.freeze``) and given back to the collector when the read ends, also when it fails."""
    import gc

    src = MemorySource(page_size=3)
    for i in range(1, 10):
        src.put(user(i))
    seen: list[int] = []
    tgt = MemoryTarget("app")
    tgt.after_call = lambda op: seen.append(gc.get_freeze_count())
    engine = make_engine(src, {"app": tgt}, store=Store.open(str(tmp_path / "s.db")))
    assert engine.run_once().failed == 0
    assert seen and min(seen) > 0  # frozen while the pages ran
    assert gc.get_freeze_count() == 0

    def die(op: str) -> None:
        raise Crash()
    src.put(user(11))
    tgt.after_call = die
    with pytest.raises(Crash):
        engine.run_once()
    assert gc.get_freeze_count() == 0
    engine.close()


def test_a_host_that_froze_objects_itself_keeps_them_frozen(tmp_path):
    """A host process may ``gc.freeze()`` before forking workers (copy-on-write): the engine's
    read must not unfreeze what the host froze."""
    import gc

    src = MemorySource(page_size=3)
    for i in range(1, 10):
        src.put(user(i))
    engine = make_engine(src, {"app": MemoryTarget("app")}, store=Store.open(str(tmp_path / "s.db")))
    gc.freeze()
    try:
        host_frozen = gc.get_freeze_count()
        assert engine.run_once().failed == 0
        assert gc.get_freeze_count() > host_frozen // 2  # (objects freed meanwhile leave the count)
    finally:
        gc.unfreeze()
        engine.close()

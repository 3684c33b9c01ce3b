"""The due pass's parts, pipelined (``runtime.dueparts``, wave 8): after a full sync the groups
whose members were created by later pages are due, planned in parts. Part K+1 is loaded and
planned while K's calls are in flight, and its first run is journaled and in flight before K
commits. It must end where the part-by-part loop ends (target, stored states, decisions, calls
recorded once), also when the process dies while K commits and K+1 is in flight."""

from __future__ import annotations

import pytest
from attrs import evolve

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.runtime import cycle as cycle_module
from hybridsync.engine.runtime import dueparts
from hybridsync.statestore import Store

from .enginekit import group, guid, make_engine, user
from .test_pipeline import Crash, decisions, end_state

GROUPS = (1, 2, 3, 4, 5)


def groups_first(nested: bool = False) -> MemorySource:
    """Five groups on the first page, their members (users 10-39) on later pages: every group is
    created before its members and is due after the read; ``nested``: group 3 also holds group 2,
    so part {3} reads a state part {2} writes."""
    src = MemorySource(page_size=5)
    for g in GROUPS:
        obj = group(g, members=[10 + (g * 7 + k) % 30 for k in range(4)])
        src.put(evolve(obj, members=obj.members | {guid(2)}) if nested and g == 3 else obj)
    for i in range(10, 40):
        src.put(user(i))
    return src


def due_spy(mp: pytest.MonkeyPatch, seen: list[tuple[frozenset[str], frozenset[str]]],
            crash_at: int | None = None) -> None:
    """Wrap ``commit_page``: at each due part's commit (no batch) note the anchors its outcomes
    settle and the anchors of every intent pending in the journal; ``crash_at``: the process dies
    (kill -9) at that due part's commit, before anything of it is written."""
    real = cycle_module.commit_page

    def spy(setup, state, page, unit, outcomes):
        if unit.batch is None and outcomes:
            pending = frozenset(i.action.anchor for i in setup.store.pending_intents())
            seen.append((frozenset(o.action.anchor for o, _ in outcomes), pending))
            if crash_at is not None and len(seen) == crash_at:
                raise Crash()
        real(setup, state, page, unit, outcomes)
    mp.setattr(cycle_module, "commit_page", spy)


def sync(src: MemorySource, overlap: bool, path: str, *, crash_at: int | None = None,
         seen: list | None = None, after_crash: list | None = None) -> MemoryTarget:
    """One run_once (parts of one group: ``DUE_PART`` 1); with ``crash_at`` the process dies at that
    due part's commit, a fresh engine on the same store runs again (``after_crash``: each group's
    member count then), then a full read (see the crash test)."""
    tgt = MemoryTarget("app")
    seen = [] if seen is None else seen
    mp = pytest.MonkeyPatch()
    mp.setattr(cycle_module, "DUE_PART", 1)
    mp.setattr(dueparts, "OVERLAP", overlap)
    due_spy(mp, seen, crash_at)
    try:
        if crash_at is not None:
            engine = make_engine(src, {"app": tgt}, store=Store.open(path))
            with pytest.raises(Crash):
                engine.run_once()
            engine.store.close()  # the spy stays: it dies once, at the crash_at-th due commit
            engine = make_engine(src, {"app": tgt}, store=Store.open(path))
            report = engine.run_once()
            assert report.failed == 0 and engine.store.pending_intents() == []
            engine.close()
            if after_crash is not None:
                after_crash.extend(len(members_of(tgt, g)) for g in GROUPS)
        engine = make_engine(src, {"app": tgt}, store=Store.open(path))
        report = engine.run_once(full=bool(crash_at))
        assert report.failed == 0
        assert engine.store.pending_intents() == []
        engine.close()
    finally:
        mp.undo()
    return tgt


def calls_recorded(path: str, op: str) -> int:
    store = Store.open(path)
    try:
        return sum(1 for c in store.iter_calls() if f'"op": "{op}"' in c.call_json)
    finally:
        store.close()


def members_of(tgt: MemoryTarget, g: int) -> set[str]:
    rec = next(r for r in tgt.store.values() if r["external_id"] == guid(g))
    names = {tid: r["attributes"].get("userName") or r["attributes"].get("displayName") for tid, r in tgt.store.items()}
    return {names[m] for m in rec["members"]}


def test_the_next_due_part_is_in_flight_before_the_part_before_commits(tmp_path):
    """Each due part but the last commits while the next part's intents are journaled (its calls
    in flight); the part-by-part loop (``OVERLAP`` off, and main before wave 8) journals the next
    part only after the commit. Both end alike: target, states, decisions, calls recorded once."""
    seen: list[tuple[frozenset[str], frozenset[str]]] = []
    path = str(tmp_path / "pipe.db")
    tgt = sync(groups_first(), True, path, seen=seen)
    assert [p for p, _ in seen] == [frozenset({guid(g)}) for g in GROUPS]  # one due part per group
    ahead = [pending - part for part, pending in seen]
    assert ahead[:-1] == [frozenset({guid(g)}) for g in GROUPS[1:]]  # K+1 journaled before K commits
    assert ahead[-1] == frozenset()
    seq_seen: list[tuple[frozenset[str], frozenset[str]]] = []
    seq_path = str(tmp_path / "seq.db")
    seq_tgt = sync(groups_first(), False, seq_path, seen=seq_seen)
    assert all(pending == part for part, pending in seq_seen)  # nothing ahead in the sequential loop
    assert end_state(tgt, path) == end_state(seq_tgt, seq_path)
    assert decisions(path) == decisions(seq_path)
    assert calls_recorded(path, "add_members") == calls_recorded(seq_path, "add_members") == len(GROUPS)
    for g in GROUPS:
        assert members_of(tgt, g) == {f"u{10 + (g * 7 + k) % 30}@lab.test" for k in range(4)}


def test_a_due_part_reading_what_the_part_before_wrote_is_planned_again(tmp_path):
    """Group 3 holds group 2: part {3}'s early plan read group 2's state, which part {2} writes,
    so it is planned again from {2}'s outcomes (before {2} commits); the end is the sequential one."""
    path, seq_path = str(tmp_path / "pipe.db"), str(tmp_path / "seq.db")
    stats: list = []
    real = dueparts.run_due_parts

    def counting(*a, **k):
        stats.append(real(*a, **k))
        return stats[-1]
    mp = pytest.MonkeyPatch()
    mp.setattr(cycle_module, "run_due_parts", counting)
    try:
        tgt = sync(groups_first(nested=True), True, path)
    finally:
        mp.undo()
    assert stats[0].replanned >= 1 and stats[0].early + stats[0].replanned == len(GROUPS) - 1
    seq_tgt = sync(groups_first(nested=True), False, seq_path)
    assert end_state(tgt, path) == end_state(seq_tgt, seq_path)
    assert decisions(path) == decisions(seq_path)
    assert len(next(r for r in tgt.store.values() if r["external_id"] == guid(3))["members"]) == 5


@pytest.mark.parametrize("crash_at", [1, 2, 3, 5])
def test_a_crash_while_a_due_part_commits_and_the_next_is_in_flight_resumes_to_one_end(tmp_path, crash_at):
    """The process dies in due part K's commit while K+1's first calls are in flight: nothing of K
    is committed, K's and K+1's intents are pending; a fresh run settles them (no create sent twice,
    no object twice), and after that delta every group holds its members, as after the same crash
    in the part-by-part loop: the groups of the parts after K come back from the store
    (engine/runtime/followups.py; when the follow-ups were held in memory only, they waited for
    the next full read). The full read after it ends as an uncrashed run ends."""
    seq_path = str(tmp_path / "seq.db")
    seq_tgt = sync(groups_first(), False, seq_path)
    path = str(tmp_path / f"crash-{crash_at}.db")
    seen: list[tuple[frozenset[str], frozenset[str]]] = []
    after, seq_after = [], []
    tgt = sync(groups_first(), True, path, crash_at=crash_at, seen=seen, after_crash=after)
    part, pending = seen[crash_at - 1]
    if crash_at < len(GROUPS):
        assert pending - part  # K+1's intents were journaled (its calls in flight) when K's commit died
    sync(groups_first(), False, str(tmp_path / f"seq-crash-{crash_at}.db"), crash_at=crash_at, after_crash=seq_after)
    assert after == seq_after == [4] * len(GROUPS)  # every group's members, before any full read
    assert end_state(tgt, path) == end_state(seq_tgt, seq_path)
    assert len({r["external_id"] for r in tgt.store.values()}) == len(tgt.store) == len(GROUPS) + 30
    assert [op for op, _ in tgt.calls].count("create") == len(GROUPS) + 30  # no create sent twice
    for g in GROUPS:
        assert members_of(tgt, g) == {f"u{10 + (g * 7 + k) % 30}@lab.test" for k in range(4)}

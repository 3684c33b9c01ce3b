"""A group's member adds that wait for the due pass survive a kill -9 (engine/runtime/followups.py).

A full sync plans a group before its members exist (they come on later pages) and adds them in
the due pass after the last page. The watermark has moved with every page by then, so the next
delta reads none of these objects again: the pending groups must come back from the store, not
from the dead process's memory. (Found by the wave-8 due-pass work: before this, a kill -9 in the
due pass left groups without members until the next full read.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.runtime import cycle as cycle_module
from hybridsync.engine.runtime import followups
from hybridsync.statestore import Store

from .enginekit import group, guid, make_engine, user
from .test_pipeline import Crash

MEMBERS = {1: [5, 9, 14, 18], 2: [6, 11, 19], 3: [7, 12, 16, 20]}


def source() -> MemorySource:
    """Groups 1-3 on the first page, their members (users 4-20) on the pages after it."""
    src = MemorySource(page_size=5)
    for i in range(1, 21):
        src.put(group(i, members=MEMBERS[i]) if i in MEMBERS else user(i))
    return src


def members_at_target(tgt: MemoryTarget) -> dict[str, set[str]]:
    """Each group's members at the target, by the group's and the users' names."""
    names = {tid: r["attributes"].get("userName") for tid, r in tgt.store.items()}
    return {r["attributes"]["displayName"]: {names[m] for m in r["members"]}
            for r in tgt.store.values() if str(r["kind"]) == "group"}


def stored_followups(store: Any) -> set[str]:
    """What ``store`` (closed after) holds as the source's pending follow-ups."""
    try:
        return set(store.meta_get(followups.opening_key("corp"), None) or ())
    finally:
        store.close()


WANTED = {f"g{g}": {f"u{i}@lab.test" for i in users} for g, users in MEMBERS.items()}


def due_commit_crash(mp: pytest.MonkeyPatch, crash_at: int) -> list[int]:
    """The process dies in the due pass's ``crash_at``-th commit (a due part: no batch), before
    anything of it is written. Returns the list the spy counts due commits in."""
    real, seen = cycle_module.commit_page, []

    def spy(setup, state, page, unit, outcomes):
        if unit.batch is None:
            seen.append(1)
            if len(seen) == crash_at:
                raise Crash()
        real(setup, state, page, unit, outcomes)
    mp.setattr(cycle_module, "commit_page", spy)
    return seen


def kill_in_due_pass_then_delta(open_store: Callable[[], Any], crash_at: int) -> None:
    src, tgt = source(), MemoryTarget("app")
    mp = pytest.MonkeyPatch()
    mp.setattr(cycle_module, "DUE_PART", 1)  # one group per due part: the kill lands between parts
    due_commit_crash(mp, crash_at)
    try:
        engine = make_engine(src, {"app": tgt}, store=open_store())
        with pytest.raises(Crash):
            engine.run_once()
        engine.store.close()
    finally:
        mp.undo()
    # the parts before the kill are committed; the part it hit made its call (its intent pending)
    assert members_at_target(tgt) == {g: (WANTED[g] if int(g[1:]) <= crash_at else set()) for g in WANTED}
    assert stored_followups(open_store()) == {guid(g) for g in MEMBERS}  # the due pass did not end
    engine = make_engine(src, {"app": tgt}, store=open_store())  # a new process: a delta reads nothing
    report = engine.run_once()
    engine.close()
    assert report.failed == 0
    assert members_at_target(tgt) == WANTED  # on main: the groups after the kill stayed empty
    assert stored_followups(open_store()) == set()


@pytest.mark.parametrize("crash_at", [1, 2, 3])
def test_a_kill_in_the_due_pass_then_a_delta_adds_every_member(tmp_path, crash_at):
    kill_in_due_pass_then_delta(lambda: Store.open(str(tmp_path / "state.db")), crash_at)


@pytest.mark.postgres
def test_a_kill_in_the_due_pass_then_a_delta_adds_every_member_on_postgresql(pg_server, pg_schema):
    from hybridsync.statestore.postgres.store import PostgresStore

    password = pg_server.connect_kwargs()["password"]
    kill_in_due_pass_then_delta(lambda: PostgresStore.open(pg_server.url, schema=pg_schema, password=password), 2)


def test_a_sync_without_follow_ups_writes_none(tmp_path):
    src = MemorySource(page_size=5)
    for i in range(1, 11):
        src.put(user(i))
    engine = make_engine(src, {"app": MemoryTarget("app")}, store=Store.open(str(tmp_path / "s.db")))
    engine.run_once()
    assert not [k for k in engine.store.meta_items() if k.startswith(followups.KEY)]
    engine.close()

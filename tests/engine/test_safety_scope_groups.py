"""Issue 14, finding 2: scoping groups are resolved by objectGUID (from the current read and the
store); a scoping group missing or renamed out of its configured DN blocks the scope-exit
disables it would cause, and says so."""

from __future__ import annotations

import attrs

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.config import ScopeConfig
from hybridsync.engine.runtime.engine import Engine
from hybridsync.statestore import Store

from .enginekit import STAFF, Clock, config, group, guid, user, users_at

GROUP_DN = f"CN=g100,{STAFF}"


def scoped_engine(src: MemorySource, tgt: MemoryTarget) -> Engine:
    cfg = config()
    source = attrs.evolve(cfg.sources[0], scope=ScopeConfig(include_ous=(STAFF,), groups=(GROUP_DN,)))
    cfg = attrs.evolve(cfg, sources=(source,))
    return Engine(cfg, store=Store.open(":memory:"), sources={"corp": src}, targets={"app": tgt}, clock=Clock())


def directory(n: int = 30, page_size: int = 1000) -> MemorySource:
    src = MemorySource(page_size=page_size)
    for i in range(1, n + 1):
        src.put(user(i))
    src.put(group(100, members=range(1, n + 1)))
    return src


def active(tgt: MemoryTarget) -> set[str]:
    return {name for name, r in users_at(tgt).items() if r["active"]}


def test_a_first_sync_with_the_scoping_group_only_in_the_current_page_provisions_its_members():
    src, tgt = directory(30, page_size=1000), MemoryTarget()
    engine = scoped_engine(src, tgt)
    report = engine.run_once()
    assert not report.source_errors
    assert len(active(tgt)) == 30


def test_renaming_the_scoping_group_disables_nobody_and_is_reported():
    src, tgt = directory(30), MemoryTarget()
    engine = scoped_engine(src, tgt)
    engine.run_once()
    assert len(active(tgt)) == 30
    src.move(guid(100), f"CN=g100-renamed,{STAFF}")
    report = engine.run_once()
    assert len(active(tgt)) == 30 and report.counts.get("disable", 0) == 0
    assert any(p["stage"] == "scope" and "renamed" in p["message"] for p in report.problems)
    report = engine.run_once(full=True)
    assert len(active(tgt)) == 30


def test_deleting_the_scoping_group_disables_nobody_and_is_reported():
    src, tgt = directory(30), MemoryTarget()
    engine = scoped_engine(src, tgt)
    engine.run_once()
    src.delete(guid(100))
    report = engine.run_once()
    assert len(active(tgt)) == 30 and report.counts.get("disable", 0) == 0
    assert any(p["stage"] == "scope" and "missing" in p["message"] for p in report.problems)
    report = engine.run_once(full=True)
    assert len(active(tgt)) == 30
    assert "safety.scope_groups" in repr(engine.explain("u7@lab.test"))
    app_status = engine.status()
    assert any("missing" in p for p in repr(app_status).split("'")), app_status


def test_leaving_an_intact_scoping_group_still_disables_the_member():
    src, tgt = directory(30), MemoryTarget()
    engine = scoped_engine(src, tgt)
    engine.run_once()
    src.remove_member(guid(100), guid(5))
    engine.run_once(full=True)
    assert "u5@lab.test" not in active(tgt) and len(active(tgt)) == 29

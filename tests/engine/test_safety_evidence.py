"""Issue 14, finding 1: no disable without evidence, confirmed by a direct lookup by objectGUID."""

from __future__ import annotations

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget

from .enginekit import guid, make_engine, user, users_at


def population(n: int = 20) -> MemorySource:
    src = MemorySource(page_size=7)
    for i in range(1, n + 1):
        src.put(user(i))
    return src


def disabled(tgt: MemoryTarget) -> set[str]:
    return {name for name, r in users_at(tgt).items() if not r["active"]}


def test_an_object_with_a_read_error_in_a_complete_full_read_is_seen_not_absent():
    src, tgt = population(20), MemoryTarget()
    engine = make_engine(src, {"app": tgt})
    engine.run_once()
    src.broken = {guid(4), guid(11)}  # one undecodable value each: a per-object error, with the GUID
    report = engine.run_once(full=True)
    assert disabled(tgt) == set()
    assert report.counts.get("disable", 0) == 0
    assert {p["anchor"] for p in report.problems if p["stage"] == "source"} >= {guid(4), guid(11)}


def test_an_object_missed_by_the_paged_read_but_found_by_guid_is_left_alone_and_reported():
    src, tgt = population(20), MemoryTarget()
    engine = make_engine(src, {"app": tgt})
    engine.run_once()
    src.hidden = {guid(3)}  # moved between pages: the paged search missed it, AD still has it
    report = engine.run_once(full=True)
    assert disabled(tgt) == set()
    assert any(p["anchor"] == guid(3) and p["stage"] == "absence" for p in report.problems)


def test_an_absent_object_that_cannot_be_confirmed_is_left_alone_and_reported():
    src, tgt = population(20), MemoryTarget()
    engine = make_engine(src, {"app": tgt})
    engine.run_once()
    src.delete(guid(5))
    src.lookup_fails = {guid(5)}  # the base search by GUID fails (busy DC, no right to read it)
    report = engine.run_once(full=True)
    assert disabled(tgt) == set()
    assert any(p["anchor"] == guid(5) and p["stage"] == "absence" for p in report.problems)
    src.lookup_fails = set()
    engine.run_once(full=True)
    assert disabled(tgt) == {"u5@lab.test"}


def test_an_absent_object_confirmed_gone_by_guid_is_disabled():
    src, tgt = population(20), MemoryTarget()
    engine = make_engine(src, {"app": tgt})
    engine.run_once()
    src.vanish(guid(6))  # gone without a tombstone the account can see
    engine.run_once(full=True)
    assert disabled(tgt) == {"u6@lab.test"}

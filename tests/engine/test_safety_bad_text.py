"""Issue 14, finding 8 (second half): bad text from a source plugin (a lone surrogate) is a
per-object error, never a failed page."""

from __future__ import annotations

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget

from .enginekit import guid, make_engine, user, users_at


def test_a_lone_surrogate_in_one_object_fails_that_object_only_and_it_is_not_taken_as_absent():
    src, tgt = MemorySource(page_size=7), MemoryTarget()
    for i in range(1, 11):
        src.put(user(i))
    engine = make_engine(src, {"app": tgt})
    engine.run_once()
    src.modify(guid(3), displayName="bad \ud800 text")
    src.put(user(11))
    report = engine.run_once()
    assert not report.source_errors
    assert "u11@lab.test" in users_at(tgt)
    assert any(p["anchor"] == guid(3) for p in report.problems)
    report = engine.run_once(full=True)
    assert not report.source_errors
    assert all(r["active"] for r in users_at(tgt).values()) and len(users_at(tgt)) == 11

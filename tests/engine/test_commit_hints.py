"""A page's read-time member hints (``PageCommit.had_members`` / ``had_sent``, wave 9) reach the
store only while nothing written since the read can contradict them: none once more than one
unit committed after the read, and not for a key the one unit committed since then wrote."""

from __future__ import annotations

from datetime import datetime, timezone

from hybridsync.engine.runtime.commit import PageCommit, _hints
from hybridsync.engine.runtime.context import CycleState


def _cycle(commits: int, written: frozenset = frozenset()) -> CycleState:
    return CycleState(now=datetime(2026, 12, 4, tzinfo=timezone.utc), commits=commits, last_written=written)


UNIT = PageCommit(had_members={"a": False, "b": True}, had_sent={("app", "a"): False, ("app", "c"): False}, read_at=3)


def test_hints_hold_when_no_unit_committed_since_the_read():
    assert _hints(_cycle(3), UNIT) == ({"a": False, "b": True}, {("app", "a"): False, ("app", "c"): False})


def test_a_key_the_unit_committed_since_the_read_wrote_is_unknown():
    objects, sent = _hints(_cycle(4, frozenset({"a", ("app", "c")})), UNIT)
    assert objects == {"b": True} and sent == {("app", "a"): False}


def test_no_hints_after_two_units_or_without_a_read():
    assert _hints(_cycle(5), UNIT) == ({}, {})
    assert _hints(_cycle(0), PageCommit(had_members={"a": False})) == ({}, {})

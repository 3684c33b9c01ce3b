"""A run's bulk creates are cut into whole rounds of equal chunks over the target's
``max_in_flight`` (wave 8): 1,000 creates at 4 in flight x 100 go as 12 chunks of <= 84, so no
round of the run ends with half the connections idle (10 of 100 left the last round 2 of 4)."""

from __future__ import annotations

import pytest

from hybridsync.engine.runtime.apply import Applier


@pytest.mark.parametrize(("n", "width", "bulk", "sizes"), [
    (1000, 4, 100, [84] * 11 + [76]),
    (800, 4, 100, [100] * 8),  # already whole rounds
    (300, 4, 100, [75] * 4),  # fewer than a round of full chunks: spread over the width
    (5, 4, 100, [2, 2, 1]),  # a chunk holds at least 2 (one create alone goes singly anyway)
    (1000, 1, 100, [100] * 10),
    (7, 4, 0, [1] * 7),  # no bulk: one call per create
])
def test_chunks_fill_whole_rounds(n, width, bulk, sizes):
    todo = list(range(n))
    groups = Applier._groups(None, todo, width, bulk)  # type: ignore[arg-type]
    assert [len(g) for g in groups] == sizes
    assert [x for g in groups for x in g] == todo  # every create once, in plan order

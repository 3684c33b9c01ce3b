"""An uncertain create (the target may have applied it, its answer was lost) is settled by a
lookup by externalId before it is sent again -- also after a restart, when the connector's own
memory of the lost answer is gone (issue 15: no duplicate on a target without uniqueness checks)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hybridsync.connectors.base import Result, RetryAfter
from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.values import ObjectKind
from hybridsync.statestore import Store

from .enginekit import Clock, make_engine, user


class LostAnswerTarget(MemoryTarget):
    """Applies the first create of each anchor, then loses the answer; no uniqueness checks
    (a real server without them duplicates a blind re-send)."""

    def __init__(self) -> None:
        super().__init__("app")
        self.lost: set[str] = set()

    def _unique_conflict(self, kind: ObjectKind, attrs: Mapping[str, Any], skip: str | None) -> str | None:
        return None

    def create(self, kind: ObjectKind, anchor: str, attributes: Mapping[str, Any]) -> Result:
        result = super().create(kind, anchor, attributes)
        if anchor not in self.lost:
            self.lost.add(anchor)
            return RetryAfter(0.0, "read timed out after the request was sent")
        return result


def test_a_retried_create_after_a_restart_finds_the_object_instead_of_duplicating_it(tmp_path):
    src = MemorySource()
    src.put(user(1))
    clock = Clock()
    path = tmp_path / "state.db"
    target = LostAnswerTarget()
    first = make_engine(src, {"app": target}, store=Store.open(path), clock=clock)
    first.run_once()
    first.close()
    assert len(target.store) == 1  # applied, but the engine was told it may not have been
    clock.advance(hours=1)
    restarted = make_engine(src, {"app": target}, store=Store.open(path), clock=clock)  # a new process
    restarted.run_once()
    restarted.run_once()
    assert len(target.by_external_id()) == 1 and len(target.store) == 1, target.store
    creates = [c for c in target.calls if c[0] == "create"]
    assert len(creates) == 1, target.calls  # never sent again: found by its externalId
    state = restarted.store.get_target_state("app", next(iter(target.by_external_id())))
    assert state is not None and state.target_id == next(iter(target.store)) and str(state.state) == "provisioned"
    restarted.close()

"""A cycle whose creates went to the target in bulk (``create_many``, e.g. SCIM Bulk) replays
offline with every decision reproduced: each create is recorded as the single create it answers for."""

from __future__ import annotations

from pathlib import Path

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.audit.replay import replay_store
from hybridsync.engine.config.loader import load_config_text
from hybridsync.engine.runtime.engine import Engine
from hybridsync.statestore import Store

from .enginekit import Clock, group, guid, user
from .test_replay import CONFIG


class BulkMemoryTarget(MemoryTarget):
    """A memory target that takes creates in bulk, as the SCIM target does where /Bulk is offered."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.bulk_calls: list[int] = []

    def bulk_size(self) -> int:
        return 4

    def create_many(self, items):  # type: ignore[no-untyped-def]
        self.bulk_calls.append(len(items))
        return [self.create(kind, anchor, attributes) for kind, anchor, attributes in items]


def test_a_bulk_created_cycle_replays_with_every_decision_reproduced():
    store = Store.open(":memory:")
    config = load_config_text(CONFIG, base_dir=Path("/tmp"), check_secrets=False)
    src, tgt, clock = MemorySource(page_size=20), BulkMemoryTarget("app"), Clock()
    for i in range(1, 13):
        src.put(user(i))
    src.put(group(50, [1, 2, 3]))
    engine = Engine(config, store=store, sources={"corp": src}, targets={"app": tgt}, clock=clock)
    engine.run_once()
    assert sum(tgt.bulk_calls) >= 10 and max(tgt.bulk_calls) <= 4  # the creates went in bulk
    clock.advance(minutes=1)
    src.modify(guid(1), displayName="One")
    engine.run_once()
    decisions = sum(1 for _ in store.decisions())
    report = replay_store(store, CONFIG)
    assert report.reproduced, report.divergence and report.divergence.lines()
    assert report.cycles == 2 and report.decisions == decisions > 12

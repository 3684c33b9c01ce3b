"""Replay: re-run recorded cycles offline, without AD or any target, and check the decisions.

A snapshot holds, per cycle, the batches the engine read (``RecordingSource``) and every target
call with its result (``RecordingTarget``), plus the config and each cycle's start time. Replay
builds a fresh in-memory store and, cycle by cycle, runs the *same engine code* with a source
that yields the recorded batches, targets that answer with the recorded results, and a clock
frozen at the recorded cycle start. Each replayed cycle's decisions are compared with the
recorded ones: all equal means the recorded behaviour reproduces; otherwise the first
divergence is reported. Run it after changing the planner to see what the change would have
done differently in a real incident.
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections import defaultdict, deque
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from attrs import frozen

from hybridsync.connectors.base import Done, Result, Terminal
from hybridsync.engine.mapping.writeonly import ALWAYS, SALT_KEY, salt_for_cycle
from hybridsync.engine.runtime.recording import batch_from_json, call_key, result_from_dict
from hybridsync.engine.core.values import Cursor, ObjectKind, SourceBatch, SourceObject, TargetObject
from hybridsync.engine.runtime.provision import IGNORE_SCOPE, PROVISION


class ReplaySource:
    """Yields the recorded batches of one cycle, whatever the cursor."""

    def __init__(self, name: str, batches: list[SourceBatch]):
        self.name, self.batches = name, batches

    def read(self, cursor: Cursor) -> Iterator[SourceBatch]:
        yield from self.batches

    def read_object(self, ref: str) -> SourceObject | None:
        """A recorded ``provision`` read: the object as it was read then."""
        for batch in self.batches:
            for obj in batch.objects:
                if ref in (obj.anchor, obj.object_guid):
                    return obj
        return None

    def wait_for_change(self, timeout: float, stop: threading.Event) -> bool:
        return False

    def describe(self) -> Mapping[str, Any]:
        return {"mode": "replay"}

    def close(self) -> None:
        pass


class ReplayTarget:
    """Answers each call with the result recorded for the same call in the same cycle."""

    def __init__(self, name: str, calls: list[tuple[str, str, Result]], write_only: Sequence[str] = ()):
        self.name = name
        self.write_only = ALWAYS | frozenset(write_only)  # keyed as RecordingTarget keyed them
        self._answers: dict[str, deque[Result]] = defaultdict(deque)
        for _op, key, result in calls:
            self._answers[key].append(result)
        self.missing: list[str] = []

    def _answer(self, op: str, *args: Any, **kwargs: Any) -> Result:
        key = call_key(op, args, kwargs, self.write_only)
        queue = self._answers.get(key)
        if not queue:
            self.missing.append(key)
            return Terminal(why=f"replay: this call was not recorded: {key}")
        return queue.popleft()

    def unused(self) -> int:
        return sum(len(q) for q in self._answers.values())

    def list_owned(self, kind: ObjectKind) -> Iterator[TargetObject]:
        r = self._answer("list_owned", kind)
        return iter(r.found if isinstance(r, Done) else ())

    def describe(self) -> Mapping[str, Any]:
        return {"mode": "replay"}

    def close(self) -> None:
        pass

    def __getattr__(self, op: str) -> Any:
        if op.startswith("_"):
            raise AttributeError(op)
        return lambda *a, **k: self._answer(op, *a, **k)


@frozen
class Divergence:
    cycle: int  # the recorded cycle id
    index: int  # position among that cycle's decisions (sorted)
    expected: Mapping[str, Any] | None
    actual: Mapping[str, Any] | None
    why: str

    def lines(self) -> list[str]:
        out = [f"first divergence in recorded cycle {self.cycle}, decision #{self.index}: {self.why}"]
        out.append(f"  recorded: {json.dumps(self.expected, sort_keys=True, default=str) if self.expected else '-'}")
        out.append(f"  replayed: {json.dumps(self.actual, sort_keys=True, default=str) if self.actual else '-'}")
        return out


@frozen
class ReplayReport:
    cycles: int
    decisions: int
    divergence: Divergence | None
    store: Any  # the replayed store (explain can read it)

    @property
    def reproduced(self) -> bool:
        return self.divergence is None


def _decision_key(rec: Any) -> dict[str, Any]:
    a = rec.action.to_dict() if rec.action is not None else {}
    return {"target": rec.target, "anchor": rec.anchor, "action": a, "result": rec.result, "status": rec.status}


def _sorted(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(decisions, key=lambda d: json.dumps(d, sort_keys=True, default=str))


def replay_store(recorded: Any, config_toml: str, *, until: datetime | None = None) -> ReplayReport:
    """Replay every recorded cycle of ``recorded`` (a Store) under the config text."""
    from hybridsync.engine.config.loader import load_config_text
    from hybridsync.engine.runtime.engine import Engine
    from hybridsync.statestore.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        config = load_config_text(config_toml, base_dir=Path(tmp), check_secrets=False)
    batches: dict[int | None, list[SourceBatch]] = defaultdict(list)
    for b in recorded.iter_batches():
        batches[b.cycle_id].append(batch_from_json(b.batch_json))
    calls: dict[int | None, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for c in recorded.iter_calls():
        doc = json.loads(c.call_json)
        calls[c.cycle_id][c.target].append((doc["op"], doc["key"], result_from_dict(doc["result"])))
    cycles = sorted(recorded.last_cycles(10**9), key=lambda c: c.id)
    fresh = Store.open(":memory:")
    salt = recorded.meta_get(SALT_KEY)  # placeholders are keyed by the recorded store's salt
    n_cycles = n_decisions = 0
    for cyc in cycles:
        if until is not None and cyc.started_at is not None and cyc.started_at > until:
            break
        at = cyc.started_at
        targets = {t.name: ReplayTarget(t.name, calls[cyc.id][t.name], t.write_only) for t in config.targets}
        sources = {cyc.source: ReplaySource(cyc.source, batches[cyc.id])}
        fresh.meta_set(SALT_KEY, {"salt": salt_for_cycle(salt, cyc.id), "from_cycle": 0})  # as it was then
        engine = Engine(config, store=fresh, sources=sources, targets=targets, clock=lambda at=at: at)
        if str(cyc.mode) == PROVISION and batches[cyc.id]:
            replayed_id = _replay_provision(engine, batches[cyc.id][0])
        else:
            replayed_id = engine.run_once(full=str(cyc.mode) == "full").cycle_id
        n_cycles += 1
        expected = _sorted([_decision_key(r) for r in recorded.decisions(cycle_id=cyc.id)])
        actual = _sorted([_decision_key(r) for r in fresh.decisions(cycle_id=replayed_id)])
        n_decisions += len(expected)
        missing = [k for t in targets.values() for k in t.missing]
        for i in range(max(len(expected), len(actual))):
            e = expected[i] if i < len(expected) else None
            a = actual[i] if i < len(actual) else None
            if e != a:
                why = "the replayed engine decided differently"
                if missing:
                    why += f"; it made {len(missing)} target call(s) that were never recorded, e.g. {missing[0]}"
                return ReplayReport(n_cycles, n_decisions, Divergence(cyc.id, i, e, a, why), fresh)
    return ReplayReport(n_cycles, n_decisions, None, fresh)


def _replay_provision(engine: Any, batch: SourceBatch) -> int | None:
    """Re-run a recorded ``provision`` of one object (its read is the cycle's only batch)."""
    [obj] = batch.objects
    ignore_scope = getattr(batch.cursor, "reason", "") == IGNORE_SCOPE
    return engine.provision(obj.anchor, ignore_scope=ignore_scope).cycle_id


def replay_snapshot(path: str | Path, *, until: datetime | None = None) -> ReplayReport:
    from hybridsync.engine.runtime.snapshot import read_snapshot

    snap = read_snapshot(path)
    return replay_store(snap.store, snap.config_toml, until=until)

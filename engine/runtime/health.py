"""Quarantine: a target that refuses us (auth) or fails too many of a cycle's operations is
paused until a backoff delay has passed; one that answered without a failure is released.

``TargetHealth`` holds the per-target operation counts of one cycle and the targets paused
(quarantined before the cycle, or during it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import attrs
import structlog
from attrs import define

from hybridsync.engine.core.redact import redact
from hybridsync.engine.core.config import SafetyConfig
from hybridsync.engine.core.states import OutcomeResult
from hybridsync.engine.plan import lifecycle
from hybridsync.engine.runtime.context import CycleState
from hybridsync.engine.runtime.reconcile import Outcome
from hybridsync.statestore.protocol import StateStore
from hybridsync.statestore.records import QuarantineRecord

log = structlog.get_logger("hybridsync.cycle")
FAR = timedelta(days=3650)


@define
class TargetCounters:
    ops: int = 0
    failures: int = 0
    auth_failure: str | None = None


@define
class TargetHealth:
    store: StateStore
    safety: SafetyConfig
    cycle: CycleState
    dry_run: bool = False
    counters: dict[str, TargetCounters] = attrs.Factory(dict)
    paused: dict[str, tuple[datetime, str]] = attrs.Factory(dict)  # target -> (until, why)
    quarantined_now: list[str] = attrs.Factory(list)
    listed: set[str] = attrs.Factory(set)  # targets with a quarantine row when the cycle began

    def begin(self, targets: Iterable[str], quarantined: Iterable[QuarantineRecord] | None = None) -> None:
        """Count from zero; pause the targets still quarantined (``quarantined``: the store's
        quarantines as the cycle's opening read them; None: read now)."""
        now = self.cycle.now
        names = list(targets)
        listed = list(self.store.quarantined() if quarantined is None else quarantined)
        self.listed = {q.target for q in listed}
        for q in listed:
            if q.target in names and (q.until is None or q.until > now):
                self.paused[q.target] = (q.until or now + FAR, f"target quarantined: {q.reason}")
        for name in names:
            self.counters[name] = TargetCounters()

    def calls_made(self) -> int:
        return sum(c.ops for c in self.counters.values())

    def quarantine(self, name: str, why: str, *, auth: bool) -> None:
        if name in self.paused and name in self.quarantined_now:
            return
        why = redact(why)  # a connector's refusal may quote its credential: the reason is a record
        now = self.cycle.now
        prior = next((q for q in self.store.quarantined() if q.target == name), None)
        delay = lifecycle.next_retry_delay(prior.count if prior else 0, base=60.0, cap=3600.0)
        until = now + timedelta(seconds=delay)
        if not self.dry_run:
            self.store.quarantine(name, why[:300], until, at=now)
        self.paused[name] = (until, f"target quarantined: {why[:200]}")
        self.quarantined_now.append(name)
        if auth:
            self.counters[name].auth_failure = why
        log.warning("target_quarantined", cycle_id=self.cycle.cycle_id, target=name, until=until.isoformat(),
                    why=why[:200])

    def count(self, name: str, outcome: Outcome) -> None:
        """One target call made: quarantine on an auth refusal or on too many failures."""
        c = self.counters[name]
        c.ops += 1
        if outcome.result != OutcomeResult.OK:
            c.failures += 1
        safety = self.safety
        if outcome.target_level:
            self.quarantine(name, outcome.detail or "authentication refused", auth=True)
        elif (c.ops >= safety.quarantine_min_operations and c.failures > safety.quarantine_failure_ratio * c.ops
              and name not in self.paused):
            self.quarantine(name, f"{c.failures} of {c.ops} operations failed in this cycle", auth=False)

    def release_recovered(self) -> None:
        """At the cycle's end: a quarantined target that answered every call of it is released."""
        safety = self.safety
        for name, c in self.counters.items():
            if name in self.paused and not c.auth_failure:
                continue
            ratio_bad = c.ops >= safety.quarantine_min_operations and c.failures > safety.quarantine_failure_ratio * c.ops
            if c.auth_failure or ratio_bad:
                continue  # quarantined when it happened (see count)
            # a target without a quarantine when the cycle began, and none by this cycle: nothing
            # to clear (another process's quarantine of it since stays until its next clean cycle)
            if name not in self.listed and name not in self.quarantined_now:
                continue
            if c.ops and not c.failures and not self.dry_run and any(q.target == name for q in self.store.quarantined()):
                self.store.clear_quarantine(name)

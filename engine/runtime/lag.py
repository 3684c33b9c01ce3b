"""The lag from an AD edit to its change applied at a target (``hybridsync_lag_seconds``, issue 17).

Which outcomes are observed: every ``ok`` outcome at a target (create, update, disable,
restore, delete, adopt, member changes...) of an object whose change a *delta* read (DirSync or
USN) carried in the page that planned it -- the seconds from that read's ``whenChanged`` of the
object to the moment the outcome was handled (the wall clock). A full read observes nothing
(its objects changed days ago, not just now), nor does the due pass (retries, grace periods,
follow-ups: no new AD change), nor an object whose delta carried no readable ``whenChanged``.
A stored ``whenChanged`` is never used: only the one the delta itself read. ``whenChanged`` is
the DC's own (not replicated): for an edit made on another DC the lag starts when the change
reached the DC hybridsync reads; it has a resolution of one second, so a lag under a second
reads as up to a second more or less.

``Lag`` is a histogram by value (bucket counts and a sum): a cycle's tally and the run report
carry one, so memory does not grow with the number of changes; ``metrics.Metrics`` exposes
the sum of the reports it was given.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from attrs import field, frozen

BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
_GENERALIZED = re.compile(r"^(\d{14})(?:[.,](\d+))?(Z|[+-]\d{4})?$")


def generalized_time(text: str | None) -> float | None:
    """A POSIX timestamp from LDAP generalized time (``20261203123456.0Z``), None when unreadable."""
    m = _GENERALIZED.match((text or "").strip())
    if m is None:
        return None
    whole, frac, zone = m.groups()
    try:
        at = datetime.strptime(whole, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    seconds = at.timestamp() + (float(f"0.{frac}") if frac else 0.0)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[3:5]) * 60)
    return seconds


@frozen
class Lag:
    """Observations counted per bucket of ``BUCKETS`` (the last count: above the last bound)."""

    counts: tuple[int, ...] = field(factory=lambda: (0,) * (len(BUCKETS) + 1))
    total: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.counts)

    def observe(self, seconds: float) -> Lag:
        """With one more observation (a negative one -- clocks apart -- counts as 0)."""
        seconds = max(0.0, seconds)
        i = next((n for n, bound in enumerate(BUCKETS) if seconds <= bound), len(BUCKETS))
        counts = list(self.counts)
        counts[i] += 1
        return Lag(tuple(counts), self.total + seconds)

    def since(self, changed_at: float, now: float | None = None) -> Lag:
        """With the lag from ``changed_at`` (a POSIX timestamp) to ``now`` (default: the wall clock)."""
        return self.observe((time.time() if now is None else now) - changed_at)

    def __add__(self, other: Lag) -> Lag:
        return Lag(tuple(a + b for a, b in zip(self.counts, other.counts)), self.total + other.total)

    def cumulative(self) -> list[tuple[float, int]]:
        """Prometheus' ``le`` buckets: (bound, observations at or under it), ``inf`` last."""
        out, running = [], 0
        for bound, n in zip((*BUCKETS, float("inf")), self.counts):
            running += n
            out.append((float(bound), running))
        return out


__all__ = ["BUCKETS", "Lag", "generalized_time"]

"""Prometheus metrics for ``hybridsync sync`` (optional: ``[metrics] listen = "127.0.0.1:9464"``).

A private ``CollectorRegistry`` (the library never touches prometheus_client's global one);
the HTTP server is started and stopped by the CLI layer, never by the library.

Metrics: cycles (by source, mode, status), object outcomes (by target, action, result), cycle
duration, held deletes, pending adoptions and quarantined targets (from the store), and the lag
from an object's AD ``whenChanged`` to the moment its change was applied (``runtime.lag``: the
changes delta reads carried, each ``ok`` outcome; a run report carries its cycles' lag as bucket
counts, exposed here as the histogram ``hybridsync_lag_seconds``).
The list with the names: docs/interface.md, "Metrics".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.exposition import start_http_server
from prometheus_client.registry import Collector

from hybridsync.engine.runtime.lag import Lag

LAG_NAME, LAG_HELP = "hybridsync_lag_seconds", "AD whenChanged to applied at the target (changes read by a delta)"


def _le(bound: float) -> str:
    """A bucket bound as prometheus_client writes its own (``0.05``, ``1.0``, ``+Inf``)."""
    return "+Inf" if bound == float("inf") else repr(float(bound))


class _LagCollector(Collector):
    """``hybridsync_lag_seconds`` from the ``Lag`` the reports carried (bucket counts and sum)."""

    def __init__(self) -> None:
        self.lag = Lag()

    def describe(self) -> Iterator[Metric]:
        yield HistogramMetricFamily(LAG_NAME, LAG_HELP)

    def collect(self) -> Iterator[Metric]:
        lag = self.lag
        yield HistogramMetricFamily(LAG_NAME, LAG_HELP, sum_value=lag.total,
                                    buckets=[(_le(b), n) for b, n in lag.cumulative()])


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.cycles = Counter("hybridsync_cycles", "Reconcile cycles run", ["source", "mode", "status"], registry=r)
        self.outcomes = Counter("hybridsync_outcomes", "Per-object outcomes", ["target", "action", "result"],
                                registry=r)
        self.duration = Histogram("hybridsync_cycle_duration_seconds", "Cycle duration", ["source"], registry=r,
                                  buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800))
        self._lag = _LagCollector()
        r.register(self._lag)
        self.held = Gauge("hybridsync_held_deletes", "Deletes/disables held by the threshold", ["target"],
                          registry=r)
        self.adoptions = Gauge("hybridsync_pending_adoptions",
                               'Adoptions waiting for approve-adoptions ([matching] adopt = "approve")', ["target"],
                               registry=r)
        self.quarantined = Gauge("hybridsync_target_quarantined", "1 while a target is quarantined", ["target"],
                                 registry=r)
        self.last_cycle = Gauge("hybridsync_last_cycle_timestamp_seconds", "End of the last cycle", ["source"],
                                registry=r)
        self._server: Any = None

    def observe(self, report: Any, *, store: Any = None, targets: tuple[str, ...] = ()) -> None:
        """Record one ``RunReport`` (and refresh the store-derived gauges when given a store)."""
        now = datetime.now(UTC)
        for source, status in dict(report.status).items():
            mode = "full" if report.counts.get("full_read") else "cycle"
            self.cycles.labels(source, mode, status).inc()
            self.duration.labels(source).observe(float(report.durations.get(source, 0.0)))
            self.last_cycle.labels(source).set(now.timestamp())
        for (target, action, result), n in report.tallied.items():
            self.outcomes.labels(target, action, result).inc(n)
        self._lag.lag += getattr(report, "lag", Lag())
        if store is not None:
            held: dict[str, int] = {t: 0 for t in targets}
            for h in store.held():
                held[h.target] = held.get(h.target, 0) + 1
            for t, n in held.items():
                self.held.labels(t).set(n)
            adoptions: dict[str, int] = {t: 0 for t in targets}
            for h in store.held(adoptions=True):
                adoptions[h.target] = adoptions.get(h.target, 0) + 1
            for t, n in adoptions.items():
                self.adoptions.labels(t).set(n)
            q = {rec.target for rec in store.quarantined()}
            for t in set(targets) | q:
                self.quarantined.labels(t).set(1 if t in q else 0)

    @property
    def lag(self) -> Lag:
        """What ``hybridsync_lag_seconds`` shows: every report's lag observed so far."""
        return self._lag.lag

    def observe_lag(self, seconds: float) -> None:
        """One lag observation besides the reports' (a negative one, clocks apart, counts as 0)."""
        self._lag.lag = self._lag.lag.observe(seconds)

    def text(self) -> str:
        return generate_latest(self.registry).decode()

    def serve(self, listen: str) -> tuple[str, int]:
        host, _, port = listen.rpartition(":")
        server = start_http_server(int(port), addr=host or "127.0.0.1", registry=self.registry)
        self._server = server
        srv = server[0] if isinstance(server, tuple) else None
        bound = srv.server_address[1] if srv is not None else int(port)
        return host or "127.0.0.1", bound

    def close(self) -> None:
        if isinstance(self._server, tuple):
            server, thread = self._server
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
        self._server = None

"""Prometheus metrics: outcomes and cycles counted from a real run; the server stops cleanly."""

from __future__ import annotations

import threading

import httpx

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.config import SafetyConfig
from hybridsync.engine.runtime.metrics import Metrics

from .enginekit import OTHER, guid, make_engine, user


def test_metrics_count_outcomes_held_deletes_and_serve_over_http_then_leave_no_thread():
    src = MemorySource()
    for i in range(1, 6):
        src.put(user(i))
    eng = make_engine(src, {"app": MemoryTarget("app")}, safety=SafetyConfig(delete_threshold=1))
    m = Metrics()
    m.observe(eng.run_once(), store=eng.store, targets=("app",))
    for n in (1, 2, 3):
        src.move(guid(n), f"CN=u{n},{OTHER}")
    m.observe(eng.run_once(), store=eng.store, targets=("app",))
    text = m.text()
    assert 'hybridsync_outcomes_total{action="create",result="ok",target="app"} 5.0' in text
    assert 'hybridsync_held_deletes{target="app"} 3.0' in text
    assert 'hybridsync_cycles_total{mode="cycle",source="corp",status="ok"} 2.0' in text
    before = set(threading.enumerate())
    host, port = m.serve("127.0.0.1:0")
    assert "hybridsync_held_deletes" in httpx.get(f"http://{host}:{port}/metrics").text
    m.close()
    assert set(threading.enumerate()) <= before


def test_the_pending_adoptions_gauge_counts_what_waits_for_approve_adoptions_and_falls_when_approved():
    from hybridsync.engine.core.values import ObjectKind

    src, tgt = MemorySource(), MemoryTarget("app")
    for i in (1, 2, 3):
        src.put(user(i))
    tgt.seed(ObjectKind.USER, {"userName": "u2@lab.test", "displayName": "Cloud u2"})
    tgt.seed(ObjectKind.USER, {"userName": "u3@lab.test", "displayName": "Cloud u3"})
    eng = make_engine(src, {"app": tgt}, safety=SafetyConfig(adopt="approve"))
    m = Metrics()
    m.observe(eng.run_once(), store=eng.store, targets=("app",))
    assert 'hybridsync_pending_adoptions{target="app"} 2.0' in m.text()
    assert 'hybridsync_held_deletes{target="app"} 0.0' in m.text()  # adoptions are not held deletes
    assert eng.status().targets[0].pending_adoptions == 2  # the gauge says what status says
    eng.approve_adoptions(ids=[eng.pending_adoptions()[0].id])
    m.observe(eng.run_once(), store=eng.store, targets=("app",))
    assert 'hybridsync_pending_adoptions{target="app"} 1.0' in m.text()

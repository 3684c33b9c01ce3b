"""Many domains in one deployment: two sources share one target (one ownership ledger), a process
runs only the sources it leads (``Engine.leads``), another source's journal is left to its
leader, and ``explain`` names the process and epoch behind each decision."""

from __future__ import annotations

import os
import socket

import pytest

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.config import Config, ScopeConfig, SourceConfig, TargetConfig
from hybridsync.engine.core.values import ActionKind
from hybridsync.engine.runtime.engine import Engine
from hybridsync.engine.runtime.explain import explain
from hybridsync.engine.runtime.reconcile import settle_pending
from hybridsync.statestore import Store
from tests.engine.enginekit import BASE, STAFF, Clock, guid, user, users_at
from tests.engine.test_loop_reconcile import NOW, create_action


def two_domains() -> Config:
    return Config(
        sources=tuple(SourceConfig(name=n, kind="memory", base_dn=BASE, poll_interval=0.05,
                                   scope=ScopeConfig(include_ous=(STAFF,))) for n in ("corp", "emea")),
        targets=(TargetConfig(name="app", kind="memory", object_types=("user", "group")),),
    )


def engine_for(store, corp: MemorySource, emea: MemorySource, target: MemoryTarget) -> Engine:
    return Engine(two_domains(), store=store, sources={"corp": corp, "emea": emea}, targets={"app": target},
                  clock=Clock())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = Store.open(tmp_path / "state.db")
        yield s
        s.close()
        return
    from hybridsync.statestore.postgres.store import PostgresStore

    pg_server, schema = request.getfixturevalue("pg_server"), request.getfixturevalue("pg_schema")
    s = PostgresStore.open(pg_server.url, schema=schema, password=pg_server.connect_kwargs()["password"])
    yield s
    s.close()


def test_a_complete_read_of_one_domain_never_removes_the_other_domains_objects(store):
    corp, emea, target = MemorySource("corp"), MemorySource("emea", invocation_id="emea-dc-1"), MemoryTarget("app")
    for n in (1, 2):
        corp.put(user(n))
    for n in (11, 12):
        emea.put(user(n))
    eng = engine_for(store, corp, emea, target)
    assert eng.run_once().exit_code() == 0
    assert {u: r["active"] for u, r in users_at(target).items()} == {
        "u1@lab.test": True, "u2@lab.test": True, "u11@lab.test": True, "u12@lab.test": True}
    # the emea process alone reads its domain completely: u12 is gone from emea (and only there);
    # corp's objects are not in emea's read, and must not count as absent
    emea.vanish(guid(12))
    eng.leads = lambda source: source == "emea"
    report = eng.run_once(full=True)
    assert list(report.status) == ["emea"]
    active = {u: r["active"] for u, r in users_at(target).items() if u in users_at(target)}
    assert active.get("u1@lab.test") is True and active.get("u2@lab.test") is True
    assert active.get("u11@lab.test") is True and active.get("u12@lab.test") is not True  # removed on evidence
    # even a domain read empty leaves the other domain alone
    emea.vanish(guid(11))
    eng.run_once(full=True)
    assert users_at(target)["u1@lab.test"]["active"] is True and users_at(target)["u2@lab.test"]["active"] is True
    assert store.get_target_state("app", guid(1)).state == "provisioned"
    eng.leads = None


def test_a_cycle_leaves_another_sources_journal_to_that_sources_leader():
    store, target = Store.open(":memory:"), MemoryTarget("app")
    emea_cycle = store.begin_cycle("emea", "delta")
    store.journal_intent(emea_cycle, create_action())  # emea's leader is making this call right now
    counts = settle_pending(store, {"app": target}, lambda: NOW, "corp")
    assert counts["settled"] == 0 and len(store.pending_intents()) == 1  # not corp's to settle
    assert target.calls == []  # not even looked up
    assert settle_pending(store, {"app": target}, lambda: NOW, "emea")["settled"] == 1
    assert store.pending_intents() == []


def test_a_process_leading_one_source_does_not_settle_the_other_sources_calls_in_flight():
    store = Store.open(":memory:")
    corp, emea, target = MemorySource("corp"), MemorySource("emea", invocation_id="emea-dc-1"), MemoryTarget("app")
    corp.put(user(1))
    eng = engine_for(store, corp, emea, target)
    emea_cycle = store.begin_cycle("emea", "full")
    store.journal_intent(emea_cycle, create_action(guid(50)))  # emea's leader, mid-call in another process
    eng.leads = lambda source: source == "corp"
    assert eng.run_once().exit_code() == 0
    assert [i.action.anchor for i in store.pending_intents()] == [guid(50)]
    assert ("lookup_by_anchor", guid(50)) not in target.calls


def test_explain_names_the_process_and_epoch_behind_each_decision(tmp_path):
    store = Store.open(tmp_path / "state.db")
    corp, emea, target = MemorySource("corp"), MemorySource("emea", invocation_id="emea-dc-1"), MemoryTarget("app")
    corp.put(user(1))
    eng = engine_for(store, corp, emea, target)
    store.record_leader("corp", host="host-a", pid=101, epoch=1)
    eng.run_once()
    store.record_leader("emea", host="host-b", pid=202, epoch=9)  # another source's leader: not corp's
    store.record_leader("corp", host="host-c", pid=303, epoch=2)  # a takeover
    corp.modify(guid(1), title="Boss")
    eng.run_once()
    [exp] = explain(store, "u1@lab.test")
    decisions = [e for e in exp.timeline if e.kind == "decision" and str(e.action.kind) != "noop"]
    assert [str(e.action.kind) for e in decisions] == [ActionKind.CREATE, ActionKind.UPDATE]
    assert [e.made_by for e in decisions] == [{"host": "host-a", "pid": 101, "epoch": 1},
                                              {"host": "host-c", "pid": 303, "epoch": 2}]
    assert "(by pid 303 on host-c, epoch 2)" in "\n".join(exp.lines())
    assert exp.to_dict()["timeline"][-1]["made_by"] is not None
    store.close()


def test_sync_on_sqlite_records_the_file_locks_holder_as_every_sources_leader(tmp_path):
    from hybridsync.engine.runtime.leadership import Leadership

    store = Store.open(tmp_path / "state.db")
    with Leadership(store, two_domains()) as lead:
        lead.record()
    assert [(r.source, r.change) for r in store.history(kinds=["leader"])] == [
        (s, {"host": socket.gethostname(), "pid": os.getpid(), "epoch": 1}) for s in ("corp", "emea")]
    store.close()


def test_a_source_led_by_another_process_never_forces_extra_full_reads_here(monkeypatch):
    """The periodic full read of a source another process leads is that process's: here it must
    not count as a failed full read (retried every few seconds), each retry forcing a full read of
    the sources this process leads."""
    import threading
    import time

    import attrs

    from hybridsync.engine.runtime import engine as engine_mod

    monkeypatch.setattr(engine_mod, "FULL_READ_RETRY_BASE", 0.05)
    cfg = two_domains()
    cfg = attrs.evolve(cfg, sources=tuple(attrs.evolve(s, full_read_interval=0.8) for s in cfg.sources))
    corp, emea, target = MemorySource("corp"), MemorySource("emea", invocation_id="emea-dc-1"), MemoryTarget("app")
    corp.put(user(1))
    store = Store.open(":memory:")
    eng = Engine(cfg, store=store, sources={"corp": corp, "emea": emea}, targets={"app": target}, clock=Clock())
    eng.leads = lambda source: source == "corp"
    stop = threading.Event()
    runner = threading.Thread(target=eng.run_forever, args=(stop,))
    runner.start()
    time.sleep(2.2)
    stop.set()
    runner.join(10)
    modes = [c.mode for c in store.last_cycles(1000, source="corp")]
    assert store.last_cycles(10, source="emea") == []
    assert modes.count("full") <= 4, modes  # the first sync + one per 0.8 s, not one per retry

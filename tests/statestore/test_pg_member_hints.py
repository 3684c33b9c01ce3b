"""Wave 9 (issue 19): the engine tells the store what the page's read found of each anchor's stored
members (``had_members``), so a 10-change delta cycle of users sends no member DELETE, and its
page unit's writes (objects, observations and decisions in one history insert, target states,
journal settlements, batch, recorded calls) go out as ONE statement. Groups whose members come,
go and come back stay equal to the source on both the object and the target state side, with the
hint, on PostgreSQL and SQLite."""

from __future__ import annotations

import base64

import pytest

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.config import Config, ScopeConfig, SourceConfig, StateConfig, TargetConfig
from hybridsync.engine.core.values import ObjectKind, SourceObject
from hybridsync.engine.runtime.engine import Engine
from hybridsync.statestore import Store
from tests.statestore.pgkit import sent, store  # noqa: F401 - fixtures

STAFF = "OU=Staff,DC=lab,DC=test"


def guid(i: int) -> str:
    return base64.b64encode(i.to_bytes(16, "big")).decode()


def _engine(store) -> tuple[Engine, MemorySource]:  # type: ignore[no-untyped-def]
    src = MemorySource("corp")
    for i in range(1, 13):
        src.put(SourceObject(anchor=guid(i), object_guid=guid(i), kind=ObjectKind.USER, dn=f"CN=u{i},{STAFF}",
                             attributes={"userprincipalname": f"u{i}@lab.test", "displayname": f"U{i}"}))
    for g, members in ((100, {1, 2}), (101, set())):
        src.put(SourceObject(anchor=guid(g), object_guid=guid(g), kind=ObjectKind.GROUP, dn=f"CN=g{g},{STAFF}",
                             attributes={"cn": f"g{g}"}, members=frozenset(guid(m) for m in members)))
    config = Config(sources=(SourceConfig(name="corp", kind="memory", base_dn="DC=lab,DC=test",
                                          scope=ScopeConfig(include_ous=(STAFF,))),),
                    targets=(TargetConfig(name="app", kind="memory"),), state=StateConfig(path=":memory:"))
    return Engine(config, store=store, sources={"corp": src}, targets={"app": MemoryTarget("app")}), src


def _check_groups(store, src: MemorySource) -> None:  # type: ignore[no-untyped-def]
    for g in (guid(100), guid(101)):
        want = src._objects[g].members or frozenset()
        assert store.get_object("corp", g).members == want
        assert store.get_target_state("app", g).members_sent == want  # anchors are the objectGUIDs here


def _members_come_and_go(store) -> None:  # type: ignore[no-untyped-def]
    engine, src = _engine(store)
    try:
        assert engine.run_once().exit_code() == 0
        _check_groups(store, src)
        for change in ({100: {3}}, {100: set(), 101: {2, 4}}, {100: {1, 5}, 101: set()}, {101: {6}}):
            for g, members in change.items():
                src.set_members(guid(g), [guid(m) for m in members])
            src.modify(guid(7), displayname=f"x{len(change)}")
            assert engine.run_once().exit_code() == 0
            _check_groups(store, src)
    finally:
        engine.close()


@pytest.mark.postgres
def test_group_members_follow_the_source_with_the_hint_on_postgresql(store):  # noqa: F811
    _members_come_and_go(store)


def test_group_members_follow_the_source_with_the_hint_on_sqlite(tmp_path):
    _members_come_and_go(Store.open(str(tmp_path / "s.db")))


@pytest.mark.postgres
def test_a_delta_of_users_sends_no_member_delete_and_one_write_statement(store, sent):  # noqa: F811
    engine, src = _engine(store)
    try:
        engine.run_once()
        engine.run_once()
        for i in range(1, 11):
            src.modify(guid(i), displayname=f"t{i}")
        sent.clear()
        report = engine.run_once()
        assert report.counts.get("update") == 10, report.counts
        texts = list(sent)
    finally:
        engine.close()
    for table in ("object_members", "target_members"):
        assert not [t for t in texts if f"DELETE FROM {table}" in t or f"INSERT INTO {table}" in t], texts
    # opening + cycle row, read_page, journal, BEGIN, the page's writes, the CAS, COMMIT, end_cycle
    # (10 until wave 9: the member DELETEs and the history kinds split the writes in 2, the
    # recorded calls were a third)
    assert len(texts) == 8, texts
    writes = [t for t in texts if "INSERT INTO objects" in t]
    assert len(writes) == 1 and all(s in writes[0] for s in ("INSERT INTO history", "INSERT INTO target_states",
                                                             "DELETE FROM journal", "INSERT INTO batches")), writes

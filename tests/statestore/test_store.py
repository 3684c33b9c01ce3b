"""The state store's behaviours one by one (the model test covers the read/write core)."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from hybridsync.engine.core.values import (
    Action,
    ActionKind,
    ObjectKind,
    ObjectState,
    Reason,
    Refresh,
    TargetState,
    UsnWatermark,
    evolve,
)
from hybridsync.statestore import StaleWatermark, Store, StoreCorrupt, StoreMisuse, WatermarkRegression
from hybridsync.statestore import migrations as mig

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
G = "AQIDBAUGBwgJCgsMDQ4PEA=="


def obj(anchor: str = G, **kw) -> ObjectState:
    base = dict(source="corp", anchor=anchor, object_guid=anchor, kind=ObjectKind.USER,
                dn=f"CN={anchor[:4]},OU=Staff,DC=lab,DC=test")
    base.update(kw)
    return ObjectState(**base)


def act(kind: ActionKind = ActionKind.DELETE, anchor: str = G, target: str = "app") -> Action:
    return Action(kind=kind, target=target, anchor=anchor, object_kind=ObjectKind.USER,
                  reasons=(Reason("safety.delete_threshold", "3 > 2"),))


@pytest.fixture
def store():
    s = Store.open(":memory:")
    yield s
    s.close()


def test_a_file_store_is_in_wal_mode_with_full_sync_and_records_its_format(tmp_path):
    with Store.open(tmp_path / "s.db") as s:
        assert s._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert s.format_version == mig.FORMAT_VERSION
    with Store.open(tmp_path / "s.db") as s:  # reopening migrates nothing twice
        assert [m.name for m in mig.migrations.applied(s._db)] == ["m001_initial_schema", "m002_target_calls"]


def test_a_format_1_store_is_migrated_to_record_target_calls_and_keeps_its_rows(tmp_path):
    old = Store.open(tmp_path / "v1.db", _stop_before="m002_target_calls")
    assert old.format_version == 1
    old.meta_set("kept", "yes")
    old.close()
    with Store.open(tmp_path / "v1.db") as s:
        assert s.format_version == mig.FORMAT_VERSION == 2 and s.meta_get("kept") == "yes"
        s.record_call(7, "app", '{"op": "create"}')
        assert [(c.cycle_id, c.target) for c in s.iter_calls(cycle_id=7)] == [(7, "app")]


def test_a_non_sqlite_file_raises_store_corrupt_naming_the_file(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"\x00garbage" * 512)
    with pytest.raises(StoreCorrupt) as info:
        Store.open(bad)
    assert info.value.path == str(bad) and str(bad) in str(info.value)


def test_a_store_from_a_newer_hybridsync_is_refused_not_migrated(tmp_path):
    path = tmp_path / "s.db"
    with Store.open(path) as s:
        s.meta_set("format_version", mig.FORMAT_VERSION + 1)
    with pytest.raises(StoreCorrupt, match="newer"):
        Store.open(path)


def test_another_programs_database_is_not_taken_over(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE photos (id INTEGER)")
    with pytest.raises(StoreCorrupt, match="not a hybridsync state store"):
        Store.open(path)
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"photos"}


def test_a_readonly_open_never_creates_a_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        Store.open(tmp_path / "missing.db", readonly=True)
    assert not (tmp_path / "missing.db").exists()


def test_find_objects_accepts_guid_text_base64_dn_sam_and_upn_case_insensitively(store):
    store.put_object(obj(attributes={"sAMAccountName": "JDoe", "userPrincipalName": "JDoe@Lab.Test"}))
    store.put_object(obj("BBBBBBBBBBBBBBBBBBBBBB==", source="branch"))
    for ref in ("{04030201-0605-0807-090a-0b0c0d0e0f10}", "04030201-0605-0807-090A-0B0C0D0E0F10",
                G, "cn=aqid,ou=staff,dc=lab,dc=test", "jdoe", "jdoe@lab.test"):
        assert [o.anchor for o in store.find_objects(ref)] == [G], ref
    assert store.find_objects("nobody") == []
    assert store.find_objects("  ") == []


def test_object_by_guid_differs_from_the_anchor_when_a_consistency_guid_is_used(store):
    store.put_object(obj("ANCHORAAAAAAAAAAAAAAAA==", object_guid=G))
    assert store.object_by_guid("corp", G).anchor == "ANCHORAAAAAAAAAAAAAAAA=="
    assert store.object_by_guid("branch", G) is None


def test_dn_history_appends_only_when_the_dn_changes(store):
    store.put_object(obj(dn="CN=a,OU=One,DC=lab,DC=test"), at=T0)
    store.put_object(obj(dn="CN=a,OU=One,DC=lab,DC=test", usn=5), at=T0 + timedelta(minutes=1))
    store.put_object(obj(dn="CN=a,OU=Two,DC=lab,DC=test"), at=T0 + timedelta(minutes=2))
    assert store.dn_history("corp", G) == [
        ("CN=a,OU=One,DC=lab,DC=test", T0),
        ("CN=a,OU=Two,DC=lab,DC=test", T0 + timedelta(minutes=2)),
    ]


def test_a_tombstoned_member_leaves_every_stored_member_set(store):
    gone = "GONEAAAAAAAAAAAAAAAAAA=="
    for i, members in enumerate(({gone, "x"}, {gone}, {"x"})):
        store.put_object(obj(f"GROUP{i}AAAAAAAAAAAAAAAA=", kind=ObjectKind.GROUP,
                             members=frozenset(members)))
    assert store.groups_with_member("corp", gone) == ["GROUP0AAAAAAAAAAAAAAAA=", "GROUP1AAAAAAAAAAAAAAAA="]
    assert store.remove_member_everywhere("corp", gone) == ["GROUP0AAAAAAAAAAAAAAAA=",
                                                             "GROUP1AAAAAAAAAAAAAAAA="]
    assert store.get_object("corp", "GROUP0AAAAAAAAAAAAAAAA=").members == {"x"}
    assert store.get_object("corp", "GROUP1AAAAAAAAAAAAAAAA=").members == frozenset()
    assert store.groups_with_member("corp", gone) == []


def test_a_large_group_change_writes_only_the_member_diff(store):
    big = frozenset(f"m{i:05d}" for i in range(50_000))
    group = obj(kind=ObjectKind.GROUP, members=big)
    store.put_object(group)
    changes: list[str] = []
    store._conn.set_trace_callback(changes.append)
    store.put_object(evolve(group, members=(big - {"m00001"}) | {"new"}))
    store._conn.set_trace_callback(None)
    writes = [c for c in changes if c.startswith(("INSERT INTO object_members", "DELETE FROM object_members"))]
    assert len(writes) == 2, writes
    assert store.get_object("corp", G).members == (big - {"m00001"}) | {"new"}


def test_full_rounds_and_unseen_anchors_give_evidence_of_absence(store):
    for a in ("A" * 22 + "==", "B" * 22 + "==", "C" * 22 + "=="):
        store.put_object(obj(a))
    store.put_object(obj("D" * 22 + "==", deleted=True))
    assert store.last_complete_round("corp") is None
    r = store.begin_full_round("corp")
    store.mark_seen("corp", ["A" * 22 + "==", "C" * 22 + "=="], r)
    assert store.last_complete_round("corp") is None  # begun is not complete
    store.complete_full_round("corp", r, 2, at=T0)
    assert store.last_complete_round("corp") == (1, 2, T0)
    assert store.anchors_not_seen_since("corp", r) == ["B" * 22 + "=="]
    assert store.begin_full_round("corp") == 2


def test_due_retries_and_lookup_by_target_id(store):
    for i, when in enumerate((T0 - timedelta(seconds=1), T0, T0 + timedelta(seconds=1), None)):
        store.put_target_state(TargetState(anchor=f"a{i}", target="app", kind=ObjectKind.USER,
                                           state="escrow", target_id=f"id{i}", next_retry_at=when))
    assert [s.anchor for s in store.due_retries("app", T0)] == ["a0", "a1"]
    assert store.target_state_by_target_id("app", "id2").anchor == "a2"
    assert store.target_state_by_target_id("hr", "id2") is None


def test_a_stale_cas_raises_and_changes_nothing(store):
    store.advance_watermark("corp", "dc1", Refresh(), UsnWatermark("dc1", 100))
    before = store.watermarks()
    with pytest.raises(StaleWatermark):
        store.advance_watermark("corp", "dc1", UsnWatermark("dc1", 99), UsnWatermark("dc1", 200))
    assert store.watermarks() == before


def test_the_usn_never_moves_backwards_even_through_a_refresh(store):
    store.advance_watermark("corp", "dc1", Refresh(), UsnWatermark("dc1", 100))
    store.advance_watermark("corp", "dc1", UsnWatermark("dc1", 100), Refresh("full read due"))
    with pytest.raises(WatermarkRegression, match="backwards"):
        store.advance_watermark("corp", "dc1", Refresh(), UsnWatermark("dc1", 50))
    assert store.get_cursor("corp") == Refresh("full read due")


def test_switching_dc_needs_a_refresh_first(store):
    store.advance_watermark("corp", "dc1", Refresh(), UsnWatermark("dc1", 100))
    with pytest.raises(WatermarkRegression, match="needs a Refresh"):
        store.advance_watermark("corp", "dc2", UsnWatermark("dc1", 100), UsnWatermark("dc2", 5))
    store.advance_watermark("corp", "dc1", UsnWatermark("dc1", 100), Refresh("new invocationId"))
    store.advance_watermark("corp", "dc2", Refresh(), UsnWatermark("dc2", 5))
    assert store.get_cursor("corp") == UsnWatermark("dc2", 5)
    assert [(w.dc, w.active) for w in store.watermarks("corp")] == [("dc2", True), ("dc1", False)]


def test_a_watermark_advance_rolls_back_with_the_outcomes_it_covers(store):
    with pytest.raises(RuntimeError):
        with store.atomic():
            store.put_object(obj())
            store.advance_watermark("corp", "dc1", Refresh(), UsnWatermark("dc1", 7))
            raise RuntimeError("target call failed after the outcome was written")
    assert store.get_object("corp", G) is None
    assert store.get_cursor("corp") == Refresh("no stored cursor")


def test_a_journal_intent_inside_a_transaction_is_refused(store):
    with store.atomic():
        with pytest.raises(StoreMisuse):
            store.journal_intent(1, act())
    assert store.pending_intents() == []


def test_pending_intents_survive_a_reopen_until_settled(tmp_path):
    with Store.open(tmp_path / "s.db") as s:
        first = s.journal_intent(1, act(ActionKind.CREATE))
        s.journal_intent(1, act(ActionKind.UPDATE))
        s.journal_settle(first, "done")
    with Store.open(tmp_path / "s.db") as s:
        [pending] = s.pending_intents()
        assert pending.action == act(ActionKind.UPDATE) and pending.target == "app"


def test_holding_the_same_delete_twice_keeps_one_hold(store):
    first = store.hold(act(), "threshold", at=T0)
    again = store.hold(act(), "threshold again", at=T0 + timedelta(hours=1))
    assert first == again
    [held] = store.held()
    assert held.reason == "threshold again" and held.held_at == T0


def test_approved_holds_wait_for_release_and_a_new_hold_opens_after(store):
    hid = store.hold(act(), "threshold")
    assert store.approve_held("app", by="alice", at=T0) == 1
    assert store.held() == [] and store.held(include_approved=True)[0].approved_by == "alice"
    assert [h.id for h in store.approved_actions("app")] == [hid]
    store.release(hid)
    assert store.approved_actions("app") == []
    with pytest.raises(KeyError):
        store.release(hid)
    assert store.hold(act(), "threshold") != hid


def test_quarantine_counts_repeats_and_keeps_the_first_since(store):
    store.quarantine("app", "401", T0 + timedelta(minutes=1), at=T0)
    store.quarantine("app", "401 again", T0 + timedelta(minutes=5), at=T0 + timedelta(minutes=2))
    [q] = store.quarantined()
    assert (q.reason, q.since, q.until, q.count) == ("401 again", T0, T0 + timedelta(minutes=5), 2)
    store.clear_quarantine("app")
    assert store.quarantined() == []


def test_history_filters_by_anchor_time_and_kind(store):
    store.record_observation(1, "corp", G, "CN=x", ObjectKind.USER, {"moved": ["a", "b"]}, at=T0)
    store.record_decision(1, act(ActionKind.UPDATE), result="done", status=200,
                          at=T0 + timedelta(hours=1))
    store.record_decision(2, act(ActionKind.CREATE, anchor="other"), result="failed", status=500,
                          detail="boom", at=T0 + timedelta(hours=2))
    assert [r.kind for r in store.history(anchor=G)] == ["observation", "decision"]
    assert [r.change for r in store.history(kinds=["observation"])] == [{"moved": ["a", "b"]}]
    [d] = store.decisions(since=T0 + timedelta(minutes=90))
    assert (d.anchor, d.status, d.detail, d.cycle_id) == ("other", 500, "boom", 2)
    assert list(store.history(anchor=[])) == []


def test_cycles_and_batches_are_recorded_in_order(store):
    c1 = store.begin_cycle("corp", "full", at=T0)
    store.record_batch(c1, "corp", '{"page": 1}', at=T0)
    store.record_batch(c1, "corp", '{"page": 2}', at=T0 + timedelta(seconds=5))
    store.end_cycle(c1, status="ok", counts={"created": 2}, duration_s=5.0, at=T0)
    c2 = store.begin_cycle("corp", "delta", at=T0 + timedelta(minutes=1))
    assert [c.id for c in store.last_cycles(5)] == [c2, c1]
    assert store.last_cycles(5)[1].counts == {"created": 2}
    assert [b.batch_json for b in store.iter_batches(until=T0)] == ['{"page": 1}']


def test_a_dump_loads_back_into_an_equal_store(store, tmp_path):
    store.put_object(obj(kind=ObjectKind.GROUP, members=frozenset({"m1", "m2"}),
                         attributes={"displayName": "Ünïcode, \"quoted\""}))
    store.put_target_state(TargetState(anchor=G, target="app", kind=ObjectKind.GROUP,
                                       state="provisioned", members_sent=frozenset({"m1"}),
                                       projection={"displayName": "x"}))
    store.advance_watermark("corp", "dc1", Refresh(), UsnWatermark("dc1", 42))
    store.hold(act(), "threshold")
    store.put_target_profile("app", {"profile": "scim2-server"})
    buf = io.StringIO()
    store.dump(buf)
    header = json.loads(buf.getvalue().splitlines()[0])
    assert header["format"] == "hybridsync-statestore" and header["version"] == mig.FORMAT_VERSION
    buf.seek(0)
    with Store.load(buf, tmp_path / "copy.db") as copy:
        assert copy.get_object("corp", G) == store.get_object("corp", G)
        assert copy.get_target_state("app", G) == store.get_target_state("app", G)
        assert copy.watermarks() == store.watermarks()
        assert copy.held() == store.held()
        assert copy.target_profile("app") == {"profile": "scim2-server"}
        out = io.StringIO()
        copy.dump(out)
    assert out.getvalue() == buf.getvalue()


def test_a_dump_with_a_row_that_does_not_fit_the_schema_is_refused(tmp_path):
    text = json.dumps({"format": "hybridsync-statestore", "version": 1}) + "\n" + json.dumps(
        {"t": "objects; DROP TABLE meta", "r": {"x": 1}}) + "\n"
    with pytest.raises(StoreCorrupt, match="does not fit"):
        Store.load(io.StringIO(text), tmp_path / "x.db")


def test_prune_drops_old_log_rows_but_keeps_open_intents_holds_and_states(store):
    old, new = T0 - timedelta(days=40), T0
    store.record_decision(1, act(ActionKind.UPDATE), result="done", at=old)
    store.record_decision(2, act(ActionKind.UPDATE), result="done", at=new)
    store.record_batch(1, "corp", "{}", at=old)
    settled = store.journal_intent(1, act(ActionKind.CREATE), at=old)
    store.journal_settle(settled, "done", at=old)
    open_intent = store.journal_intent(1, act(ActionKind.UPDATE), at=old)
    store.hold(act(), "threshold", at=old)
    c = store.begin_cycle("corp", "full", at=old)
    store.end_cycle(c, status="ok", counts={}, duration_s=1.0, at=old)
    store.put_object(obj(), at=old)
    store.record_call(c, "app", '{"op": "create"}', at=old)
    store.record_call(c, "app", '{"op": "update"}', at=T0)
    assert store.prune(T0 - timedelta(days=30)) == {
        "history": 1, "batches": 1, "target_calls": 1, "journal": 1, "held": 0, "cycles": 1}
    assert [c.call_json for c in store.iter_calls()] == ['{"op": "update"}']
    assert [d.cycle_id for d in store.decisions()] == [2]
    assert [i.id for i in store.pending_intents()] == [open_intent]
    assert len(store.held()) == 1 and store.get_object("corp", G) is not None

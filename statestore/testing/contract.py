"""The contract every hybridsync state store must pass (like the connectors' ``TargetContract``).

Subclass ``StoreContract`` in your store's tests and provide:

- ``make_store(path)``: open (creating when missing) the store kept under the directory
  ``path``. Called again with the same ``path`` after ``close()``, it must open the same data
  (the durability tests reopen a store this way);
- ``load_store(fp, path)``: create a new store under the directory ``path`` from a ``dump()``.

Optionally override ``scratch_store(tmp_path_factory)`` (a fresh, empty store for each
example of the property test; by default ``make_store`` in a new directory) when your store
has a cheaper throw-away form. Every test gets a store from the ``store`` fixture
(``make_store(tmp_path / "store")``), which it closes afterwards.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import IO

import attrs
import pytest
from hypothesis.stateful import run_state_machine_as_test

from hybridsync.engine.core.values import ActionKind, ObjectKind, Refresh, TargetState, UsnWatermark
from hybridsync.statestore.errors import StoreCorrupt, StoreMisuse
from hybridsync.statestore.protocol import StateStore
from hybridsync.statestore.testing.cycles import CyclesContract
from hybridsync.statestore.testing.hints import MemberHintContract
from hybridsync.statestore.testing.opening import OpeningContract
from hybridsync.statestore.testing.pageread import PageReadContract
from hybridsync.statestore.testing.recordings import RecordingsContract
from hybridsync.statestore.testing.references import ReferencesContract
from hybridsync.statestore.testing.safety import SafetyContract
from hybridsync.statestore.testing.salt import SaltContract
from hybridsync.statestore.testing.samples import G, T0, act, group_state, intent, obj
from hybridsync.statestore.testing.stateful import SETTINGS, store_machine
from hybridsync.statestore.testing.watermarks import WatermarksContract

class StoreContract(SafetyContract, SaltContract, RecordingsContract, ReferencesContract, WatermarksContract,
                    OpeningContract, CyclesContract, PageReadContract, MemberHintContract):
    """Contract tests. Names read as sentences; each asserts what the store gives back."""

    # -- hooks ------------------------------------------------------------------------------

    def make_store(self, path: Path) -> StateStore:
        raise NotImplementedError("StoreContract subclasses provide make_store(path)")

    def load_store(self, fp: IO[str], path: Path) -> StateStore:
        raise NotImplementedError("StoreContract subclasses provide load_store(fp, path)")

    def scratch_store(self, tmp_path_factory: pytest.TempPathFactory) -> StateStore:
        return self.make_store(tmp_path_factory.mktemp("scratch"))

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[StateStore]:
        s = self.make_store(tmp_path / "store")
        yield s
        s.close()

    # -- the protocol -----------------------------------------------------------------------

    def test_the_store_implements_every_member_of_the_protocol(self, store):
        assert isinstance(store, StateStore)
        members = [n for n in dir(StateStore) if not n.startswith("_")]
        assert len(members) > 60
        for name in members:
            assert hasattr(store, name), name

    # -- objects ----------------------------------------------------------------------------

    def test_find_objects_accepts_guid_text_base64_dn_sam_and_upn_case_insensitively(self, store):
        store.put_object(obj(attributes={"sAMAccountName": "JDoe",
                                         "userPrincipalName": "JDoe@Lab.Test"}))
        store.put_object(obj("BBBBBBBBBBBBBBBBBBBBBB==", source="branch"))
        for ref in ("{04030201-0605-0807-090a-0b0c0d0e0f10}",
                    "04030201-0605-0807-090A-0B0C0D0E0F10",
                    G, "cn=aqid,ou=staff,dc=lab,dc=test", "jdoe", "jdoe@lab.test"):
            assert [o.anchor for o in store.find_objects(ref)] == [G], ref
        assert store.find_objects("nobody") == []
        assert store.find_objects("  ") == []

    def test_object_by_guid_differs_from_the_anchor_when_a_consistency_guid_is_used(self, store):
        store.put_object(obj("ANCHORAAAAAAAAAAAAAAAA==", object_guid=G))
        assert store.object_by_guid("corp", G).anchor == "ANCHORAAAAAAAAAAAAAAAA=="
        assert store.object_by_guid("branch", G) is None

    def test_dn_history_appends_only_when_the_dn_changes(self, store):
        store.put_object(obj(dn="CN=a,OU=One,DC=lab,DC=test"), at=T0)
        store.put_object(obj(dn="CN=a,OU=One,DC=lab,DC=test", usn=5), at=T0 + timedelta(minutes=1))
        store.put_object(obj(dn="CN=a,OU=Two,DC=lab,DC=test"), at=T0 + timedelta(minutes=2))
        assert store.dn_history("corp", G) == [
            ("CN=a,OU=One,DC=lab,DC=test", T0),
            ("CN=a,OU=Two,DC=lab,DC=test", T0 + timedelta(minutes=2)),
        ]

    def test_a_tombstoned_member_leaves_every_stored_member_set(self, store):
        gone = "GONEAAAAAAAAAAAAAAAAAA=="
        for i, members in enumerate(({gone, "x"}, {gone}, {"x"})):
            store.put_object(obj(f"GROUP{i}AAAAAAAAAAAAAAAA=", kind=ObjectKind.GROUP,
                                 members=frozenset(members)))
        both = ["GROUP0AAAAAAAAAAAAAAAA=", "GROUP1AAAAAAAAAAAAAAAA="]
        assert store.groups_with_member("corp", gone) == both
        assert store.groups_with_members("corp", [gone, "x"]) == set(both) | {"GROUP2AAAAAAAAAAAAAAAA="}
        assert store.groups_with_members("corp", ["x", "nobody"]) == {"GROUP0AAAAAAAAAAAAAAAA=",
                                                                      "GROUP2AAAAAAAAAAAAAAAA="}
        assert store.groups_with_members("other", [gone]) == set() and store.groups_with_members("corp", []) == set()
        assert store.remove_member_everywhere("corp", gone) == both
        assert store.get_object("corp", "GROUP0AAAAAAAAAAAAAAAA=").members == {"x"}
        assert store.get_object("corp", "GROUP1AAAAAAAAAAAAAAAA=").members == frozenset()
        assert store.groups_with_member("corp", gone) == []

    def test_full_rounds_and_unseen_anchors_give_evidence_of_absence(self, store):
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

    # -- target states ----------------------------------------------------------------------

    def test_due_retries_and_lookup_by_target_id(self, store):
        for i, when in enumerate((T0 - timedelta(seconds=1), T0, T0 + timedelta(seconds=1), None)):
            store.put_target_state(TargetState(anchor=f"a{i}", target="app", kind=ObjectKind.USER,
                                               state="escrow", target_id=f"id{i}",
                                               next_retry_at=when))
        assert [s.anchor for s in store.due_retries("app", T0)] == ["a0", "a1"]
        assert store.target_state_by_target_id("app", "id2").anchor == "a2"
        assert store.target_state_by_target_id("hr", "id2") is None
        store.put_target_state(attrs.evolve(group_state("g2", set()), target_id="id2"))  # users, groups numbered apart
        assert store.target_state_by_target_id("app", "id2", kind=ObjectKind.GROUP).anchor == "g2"
        assert store.target_state_by_target_id("app", "id2", kind=ObjectKind.USER).anchor == "a2"

    def test_has_target_states_tells_a_first_sync_per_target(self, store):
        assert store.has_target_states("app") is False
        store.put_target_state(group_state("g1", set()))
        assert store.has_target_states("app") is True
        assert store.has_target_states("hr") is False
        store.delete_target_state("app", "g1")
        assert store.has_target_states("app") is False

    def test_target_groups_with_member_reads_the_members_sent_of_one_target(self, store):
        store.put_target_state(group_state("g2", {"m1", "m2"}))
        store.put_target_state(group_state("g1", {"m1"}))
        store.put_target_state(group_state("g3", {"m2"}))
        store.put_target_state(group_state("g4", {"m1"}, target="hr"))
        assert store.target_groups_with_member("app", "m1") == ["g1", "g2"]
        assert store.target_groups_with_member("hr", "m1") == ["g4"]
        assert store.target_groups_with_member("app", "nobody") == []
        store.put_target_state(group_state("g2", {"m2"}))
        store.delete_target_state("app", "g1")
        assert store.target_groups_with_member("app", "m1") == []
        assert store.target_groups_with_member("app", "m2") == ["g2", "g3"]

    # -- commit units -----------------------------------------------------------------------

    def test_a_watermark_advance_rolls_back_with_the_outcomes_it_covers(self, store):
        with pytest.raises(RuntimeError):
            with store.atomic():
                store.put_object(obj())
                store.advance_watermark("corp", "dc1", Refresh(), UsnWatermark("dc1", 7))
                raise RuntimeError("target call failed after the outcome was written")
        assert store.get_object("corp", G) is None
        assert store.get_cursor("corp") == Refresh("no stored cursor")

    def test_a_commit_unit_is_all_or_nothing_and_a_nested_one_is_a_savepoint(self, store):
        with store.atomic():
            store.put_object(obj())
            with pytest.raises(RuntimeError):
                with store.atomic():
                    store.put_target_state(group_state("g1", {G}))
                    store.record_decision(1, act(ActionKind.UPDATE), result="done")
                    raise RuntimeError("inner unit fails")
            store.advance_watermark("corp", "dc1", Refresh(), UsnWatermark("dc1", 7))
        assert store.get_object("corp", G) is not None
        assert store.get_cursor("corp") == UsnWatermark("dc1", 7)
        assert store.get_target_state("app", "g1") is None
        assert list(store.history()) == []

    # -- journal ----------------------------------------------------------------------------

    def test_a_journal_intent_inside_a_transaction_is_refused(self, store):
        with store.atomic():
            with pytest.raises(StoreMisuse):
                store.journal_intent(1, act())
        assert store.pending_intents() == []

    def test_pending_intents_survive_a_reopen_until_settled(self, tmp_path):
        s = self.make_store(tmp_path / "reopened")
        first = s.journal_intent(1, act(ActionKind.CREATE))
        s.journal_intent(1, act(ActionKind.UPDATE))
        s.journal_settle(first, "done")
        s.close()
        s = self.make_store(tmp_path / "reopened")
        try:
            [pending] = s.pending_intents()
            assert pending.action == act(ActionKind.UPDATE) and pending.target == "app"
        finally:
            s.close()

    def test_many_intents_are_committed_at_once_and_survive_a_reopen_in_order(self, tmp_path):
        s = self.make_store(tmp_path / "reopened")
        ids = s.journal_intents(7, [intent(n) for n in range(300)])
        assert len(ids) == 300 and ids == sorted(ids)
        s.close()
        s = self.make_store(tmp_path / "reopened")
        try:
            pending = s.pending_intents()
            assert [p.id for p in pending] == ids
            assert [p.action for p in pending] == [intent(n) for n in range(300)]
            assert {p.cycle_id for p in pending} == {7}
        finally:
            s.close()

    def test_journaling_many_intents_inside_a_transaction_is_refused_and_writes_nothing(
            self, store):
        with store.atomic():
            with pytest.raises(StoreMisuse, match="inside a transaction"):
                store.journal_intents(1, [intent(1), intent(2)])
        assert store.pending_intents() == []

    def test_no_intents_journal_nothing(self, store):
        assert store.journal_intents(1, []) == [] and store.pending_intents() == []

    def test_intents_settled_with_their_outcomes_are_no_longer_pending(self, store):
        ids = store.journal_intents(1, [intent(n) for n in range(1200)])
        with store.atomic():
            store.journal_done(ids[:1100])
        assert [p.id for p in store.pending_intents()] == ids[1100:]

    def test_intents_settled_in_a_unit_that_rolls_back_stay_pending(self, store):
        ids = store.journal_intents(1, [intent(1), intent(2)])
        with pytest.raises(RuntimeError):
            with store.atomic():
                store.journal_done(ids)
                raise RuntimeError("crash before the commit")
        assert [p.id for p in store.pending_intents()] == ids

    # -- quarantine (held deletes and adoptions: SafetyContract) ---------------------------

    def test_quarantine_counts_repeats_and_keeps_the_first_since(self, store):
        store.quarantine("app", "401", T0 + timedelta(minutes=1), at=T0)
        store.quarantine("app", "401 again", T0 + timedelta(minutes=5),
                         at=T0 + timedelta(minutes=2))
        [q] = store.quarantined()
        assert (q.reason, q.since, q.until, q.count) == ("401 again", T0,
                                                         T0 + timedelta(minutes=5), 2)
        store.clear_quarantine("app")
        assert store.quarantined() == []

    # -- history, cycles, recordings --------------------------------------------------------

    def test_history_filters_by_anchor_time_and_kind(self, store):
        store.record_observation(1, "corp", G, "CN=x", ObjectKind.USER, {"moved": ["a", "b"]},
                                 at=T0)
        store.record_decision(1, act(ActionKind.UPDATE), result="done", status=200,
                              at=T0 + timedelta(hours=1))
        store.record_decision(2, act(ActionKind.CREATE, anchor="other"), result="failed",
                              status=500, detail="boom", at=T0 + timedelta(hours=2))
        assert [r.kind for r in store.history(anchor=G)] == ["observation", "decision"]
        assert [r.change for r in store.history(kinds=["observation"])] == [{"moved": ["a", "b"]}]
        [d] = store.decisions(since=T0 + timedelta(minutes=90))
        assert (d.anchor, d.status, d.detail, d.cycle_id) == ("other", 500, "boom", 2)
        assert list(store.history(anchor=[])) == []

    def test_a_leader_record_names_the_process_and_epoch_of_a_source(self, store):
        store.record_decision(1, act(ActionKind.UPDATE), result="done", at=T0)
        store.record_leader("corp", host="h1", pid=41, epoch=3, at=T0 + timedelta(hours=1))
        store.record_decision(2, act(ActionKind.UPDATE), result="done", at=T0 + timedelta(hours=2))
        [lead] = store.history(kinds=["leader"])
        assert (lead.source, lead.change, lead.anchor) == ("corp", {"host": "h1", "pid": 41, "epoch": 3}, None)
        assert "pid 41 on h1 (epoch 3)" in (lead.detail or "")
        assert [r.kind for r in store.history()] == ["decision", "leader", "decision"]
        assert [r.kind for r in store.history(anchor=G)] == ["decision", "decision"]  # not an object's record

    def test_cycles_and_batches_are_recorded_in_order(self, store):
        c1 = store.begin_cycle("corp", "full", at=T0)
        store.record_batch(c1, "corp", '{"page": 1}', at=T0)
        store.record_batch(c1, "corp", '{"page": 2}', at=T0 + timedelta(seconds=5))
        store.end_cycle(c1, status="ok", counts={"created": 2}, duration_s=5.0, at=T0)
        c2 = store.begin_cycle("corp", "delta", at=T0 + timedelta(minutes=1))
        assert [c.id for c in store.last_cycles(5)] == [c2, c1]
        assert store.last_cycles(5)[1].counts == {"created": 2}
        assert [b.batch_json for b in store.iter_batches(until=T0)] == ['{"page": 1}']

    def test_cycle_source_names_the_source_a_cycle_read(self, store):
        c1 = store.begin_cycle("corp", "full", at=T0)
        c2 = store.begin_cycle("branch", "delta", at=T0)
        assert (store.cycle_source(c1), store.cycle_source(c2)) == ("corp", "branch")
        assert store.cycle_source(c2 + 1000) is None

    def test_recorded_calls_come_back_in_order_and_by_cycle(self, store):
        store.record_call(7, "app", '{"op": "create"}')
        store.record_calls([(7, "app", '{"op": "update"}'), (8, "hr", '{"op": "delete"}')])
        assert [c.call_json for c in store.iter_calls()] == [
            '{"op": "create"}', '{"op": "update"}', '{"op": "delete"}']
        assert [(c.cycle_id, c.target) for c in store.iter_calls(cycle_id=7)] == [(7, "app")] * 2

    def test_prune_drops_old_log_rows_but_keeps_open_intents_holds_and_states(self, store):
        old = T0 - timedelta(days=40)
        store.record_decision(1, act(ActionKind.UPDATE), result="done", at=old)
        store.record_decision(2, act(ActionKind.UPDATE), result="done", at=T0)
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

    # -- snapshot ---------------------------------------------------------------------------

    def test_a_dump_loads_back_into_an_equal_store(self, store, tmp_path):
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
        assert header["format"] == "hybridsync-statestore"
        assert header["version"] == store.format_version
        buf.seek(0)
        copy = self.load_store(buf, tmp_path / "copy")
        try:
            assert copy.get_object("corp", G) == store.get_object("corp", G)
            assert copy.get_target_state("app", G) == store.get_target_state("app", G)
            assert copy.watermarks() == store.watermarks()
            assert copy.held() == store.held()
            assert copy.target_profile("app") == {"profile": "scim2-server"}
            out = io.StringIO()
            copy.dump(out)
        finally:
            copy.close()
        assert out.getvalue() == buf.getvalue()

    def test_a_dump_with_a_row_that_does_not_fit_the_schema_is_refused(self, tmp_path):
        text = json.dumps({"format": "hybridsync-statestore", "version": 1}) + "\n" + json.dumps(
            {"t": "objects; DROP TABLE meta", "r": {"x": 1}}) + "\n"
        with pytest.raises(StoreCorrupt, match="does not fit"):
            self.load_store(io.StringIO(text), tmp_path / "bad")

    # -- the model --------------------------------------------------------------------------

    def test_the_store_matches_its_model(self, tmp_path_factory):
        machine = store_machine(lambda: self.scratch_store(tmp_path_factory))
        run_state_machine_as_test(machine, settings=SETTINGS)

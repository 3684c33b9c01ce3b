"""``cycle_opening`` (statestore/opening.py), for the conformance kit: each field of the frozen
value equals what the single-question method answers at that moment, on every store.
``StoreContract`` includes ``OpeningContract``."""

from __future__ import annotations

from datetime import timedelta

import attrs

from hybridsync.engine.core.values import ActionKind, ObjectKind, Refresh, TargetState, UsnWatermark
from hybridsync.statestore.testing.samples import T0, act, group_state, intent


def _populate(store) -> None:
    """Two sources, two targets: a cursor, a complete round, intents of both sources' cycles and
    of none, a quarantine, approved and open holds, due and later retries, removals, meta keys."""
    store.advance_watermark("corp", "dc1", Refresh(), UsnWatermark("dc1", 100))
    store.complete_full_round("corp", store.begin_full_round("corp", at=T0), 7, at=T0)
    corp, branch = store.begin_cycle("corp", "delta", at=T0), store.begin_cycle("branch", "delta", at=T0)
    store.journal_intents(corp, [intent(1), intent(2)])
    store.journal_intent(branch, intent(3))
    store.journal_intent(None, intent(4))
    store.journal_intent(10_000, intent(5))  # a cycle the store does not know
    store.journal_done([store.journal_intent(corp, intent(6))])
    store.quarantine("other", "5xx", T0 + timedelta(minutes=5), at=T0)
    approved = store.hold(act(anchor="held1"), "threshold", at=T0)
    store.hold(act(anchor="held2"), "threshold", at=T0)  # held, not approved
    store.approve_held("app", by="alice", at=T0, ids=[approved])
    for i, when in enumerate((T0 - timedelta(minutes=1), T0, T0 + timedelta(minutes=1))):
        store.put_target_state(TargetState(anchor=f"r{i}", target="app", kind=ObjectKind.USER, state="escrow",
                                           retry_count=1, next_retry_at=when, last_error="503"))
    store.put_target_state(attrs.evolve(group_state("g1", {"r0", "r1"}), next_retry_at=T0, retry_count=2))
    store.record_decision(corp, act(ActionKind.DISABLE, anchor="d1"), result="ok", at=T0 - timedelta(hours=1))
    store.record_decision(corp, act(ActionKind.DELETE, anchor="d2", target="other"), result="ok", at=T0)
    store.meta_set("engine.grace_scan_at.app", T0.isoformat())
    store.meta_set("k", {"nested": [1, 2]})


class OpeningContract:
    def test_cycle_opening_answers_what_each_single_question_answers(self, store):
        _populate(store)
        since = T0 - timedelta(minutes=30)
        got = store.cycle_opening("corp", ["app", "other", "app"], T0, removals_since=since,
                                  meta_keys=["engine.grace_scan_at.app", "k", "missing"])
        assert got.cursor == store.get_cursor("corp") == UsnWatermark("dc1", 100)
        assert got.last_complete_round == store.last_complete_round("corp") == (1, 7, T0)
        assert got.quarantined == tuple(store.quarantined()) and [q.target for q in got.quarantined] == ["other"]
        for name in ("app", "other"):
            assert got.approved[name] == tuple(store.approved_actions(name))
            assert got.due_retries[name] == tuple(store.due_retries(name, T0))
            assert got.access_removals[name] == store.access_removals(name, since)
        assert sorted(got.approved) == sorted(got.due_retries) == ["app", "other"]
        assert [h.anchor for h in got.approved["app"]] == ["held1"]
        assert [ts.anchor for ts in got.due_retries["app"]] == ["r0", "g1", "r1"]  # soonest first
        assert next(ts for ts in got.due_retries["app"] if ts.anchor == "g1").members_sent == {"r0", "r1"}
        assert got.access_removals == {"app": 0, "other": 1}
        assert got.meta == {"engine.grace_scan_at.app": T0.isoformat(), "k": {"nested": [1, 2]}}

    def test_cycle_opening_lists_the_pending_intents_the_source_settles(self, store):
        _populate(store)
        got = store.cycle_opening("corp", ["app"], T0)
        every = store.pending_intents()
        assert [i.action.anchor for i in every] == ["A0001", "A0002", "A0003", "A0004", "A0005"]
        # corp's cycle, no cycle, an unknown cycle -- not branch's (its own leader settles those)
        assert got.pending_intents == tuple(i for i in every if i.action.anchor != "A0003")
        assert [i.action.anchor for i in store.cycle_opening("branch", [], T0).pending_intents] == [
            "A0003", "A0004", "A0005"]

    def test_cycle_opening_of_an_empty_store_knows_nothing_yet(self, store):
        got = store.cycle_opening("corp", ["app"], T0, meta_keys=["missing"])
        assert isinstance(got.cursor, Refresh) and got.last_complete_round is None
        assert got.pending_intents == () and got.quarantined == ()
        assert got.approved == {"app": ()} and got.due_retries == {"app": ()}
        assert got.access_removals is None and got.meta == {}  # removals only when asked for
        assert store.cycle_opening("corp", [], T0).approved == {}

    def test_cycle_opening_inside_a_commit_unit_sees_the_unit_s_writes(self, store):
        with store.atomic():
            store.put_target_state(TargetState(anchor="r9", target="app", kind=ObjectKind.USER, state="escrow",
                                               next_retry_at=T0))
            store.meta_set("k", 1)
            got = store.cycle_opening("corp", ["app"], T0, meta_keys=["k"])
        assert [ts.anchor for ts in got.due_retries["app"]] == ["r9"] and got.meta == {"k": 1}

    def test_cycle_opening_gives_back_awkward_text_and_numbers_as_stored(self, store):
        odd = ["a\x00b", "\ue000", "\ue0000", 'q"\\u0000\\', "ä€😀\n\t", "{x,y}", "\x1f\x1e"]
        for i, text in enumerate(odd):
            store.put_target_state(TargetState(anchor=text, target="app", kind=ObjectKind.USER, state="escrow",
                                               projection={"v": text, "n": 2 ** 53 + i, "f": 0.1 + i},
                                               retry_count=2 ** 40 + i, next_retry_at=T0, last_error=text))
        store.quarantine(odd[0], odd[3], None, at=T0)
        store.hold(act(anchor=odd[1], target=odd[0]), odd[4], at=T0)
        store.approve_held(odd[0], by=odd[2], at=T0)
        store.meta_set(odd[5], {"v": odd[0]})
        got = store.cycle_opening("corp", ["app", odd[0]], T0, meta_keys=[odd[5]])
        assert got.due_retries["app"] == tuple(store.due_retries("app", T0))
        assert sorted(ts.anchor for ts in got.due_retries["app"]) == sorted(odd)
        assert {ts.anchor: ts.projection["n"] for ts in got.due_retries["app"]}[odd[6]] == 2 ** 53 + 6
        assert got.quarantined == tuple(store.quarantined()) and got.quarantined[0].reason == odd[3]
        assert got.approved[odd[0]] == tuple(store.approved_actions(odd[0]))
        assert got.approved[odd[0]][0].approved_by == odd[2] and got.approved[odd[0]][0].anchor == odd[1]
        assert got.meta == {odd[5]: {"v": odd[0]}}

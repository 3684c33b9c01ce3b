"""A Hypothesis state machine comparing a state store with a perfect in-memory model.

Invariants: reads equal the model; the USN watermark never moves backwards for a DC; a CAS with
a stale expected cursor fails and changes nothing; a transaction that raises leaves nothing; the
journal and held deletes equal the model. ``store_machine(factory)`` binds it to a store
implementation (``factory()`` returns a fresh, empty store for each example);
``StoreContract.test_the_store_matches_its_model`` runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from hybridsync.engine.core.values import (
    Action,
    ActionKind,
    Cursor,
    DirSyncCookie,
    ObjectKind,
    ObjectState,
    Ownership,
    Refresh,
    TargetState,
    UsnWatermark,
    cursor_to_json,
    evolve,
)
from hybridsync.statestore.errors import StaleWatermark, WatermarkRegression
from hybridsync.statestore.protocol import StateStore

SETTINGS = settings(max_examples=40, stateful_step_count=25, deadline=None)


def same_position(a: Cursor, b: Cursor) -> bool:
    """The compare-and-swap rule: any Refresh equals any Refresh (the reason is commentary,
    not a position); other cursors are equal when their stored forms are."""
    if isinstance(a, Refresh) and isinstance(b, Refresh):
        return True
    return cursor_to_json(a) == cursor_to_json(b)


SOURCES = ("corp", "branch")
TARGETS = ("app", "hr")
ANCHORS = tuple(f"{i:02d}AAAAAAAAAAAAAAAAAAAA==" for i in range(6))
DCS = ("dc-a", "dc-b")

texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)
)
attributes = st.dictionaries(
    st.sampled_from(["displayname", "samaccountname", "userprincipalname", "mail", "cn"]),
    st.lists(texts, min_size=1, max_size=3),
    max_size=4,
)
members = st.frozensets(st.sampled_from(ANCHORS + ("ZZZZ",)), max_size=5)

object_states = st.builds(
    ObjectState,
    source=st.sampled_from(SOURCES),
    anchor=st.sampled_from(ANCHORS),
    object_guid=st.sampled_from(ANCHORS),
    kind=st.sampled_from(list(ObjectKind)),
    dn=texts.map(lambda t: f"CN={t},DC=lab,DC=test"),
    attributes=attributes,
    members=members,
    usn=st.none() | st.integers(0, 2**40),
    deleted=st.booleans(),
    deleted_at=st.none() | times,
    last_seen_round=st.integers(0, 50),
)
target_states = st.builds(
    TargetState,
    anchor=st.sampled_from(ANCHORS),
    target=st.sampled_from(TARGETS),
    kind=st.sampled_from(list(ObjectKind)),
    state=st.sampled_from(["pending_create", "provisioned", "disabled", "escrow"]),
    target_id=st.none() | texts,
    ownership=st.sampled_from(list(Ownership)),
    projection=st.dictionaries(st.sampled_from(["userName", "active", "n"]),
                               texts | st.booleans() | st.integers(-5, 5), max_size=3),
    members_sent=members,
    since=st.none() | times,
    retry_count=st.integers(0, 9),
    next_retry_at=st.none() | times,
    last_error=st.none() | texts,
)
cursors = st.one_of(
    st.builds(Refresh, texts),
    st.builds(UsnWatermark, st.sampled_from(DCS), st.integers(0, 1000)),
    st.builds(DirSyncCookie, st.binary(max_size=20), st.sampled_from(DCS + ("",))),
)


actions = st.builds(
    Action,
    kind=st.sampled_from([ActionKind.DELETE, ActionKind.DISABLE, ActionKind.CREATE]),
    target=st.sampled_from(TARGETS),
    anchor=st.sampled_from(ANCHORS[:3]),
    object_kind=st.sampled_from(list(ObjectKind)),
    attributes=st.dictionaries(st.sampled_from(["userName", "active"]), texts, max_size=2),
)


class Boom(Exception):
    pass


class StoreMachine(RuleBasedStateMachine):
    """Bind with ``store_machine(factory)``; ``make_store`` returns a fresh, empty store."""

    make_store: Callable[[], StateStore]

    def __init__(self) -> None:
        super().__init__()
        self.store = self.make_store()
        self.objects: dict[tuple[str, str], ObjectState] = {}
        self.targets: dict[tuple[str, str], TargetState] = {}
        self.active: dict[str, tuple[str, Cursor]] = {}  # source -> (dc, cursor)
        self.high: dict[tuple[str, str], int] = {}  # (source, dc) -> highest USN stored
        self.seen_high: dict[tuple[str, str], int] = {}
        self.intents: dict[int, Action] = {}  # pending only
        self.holds: dict[int, dict] = {}  # open holds: id -> {key, action, reason, by}
        self.approvals = 0

    def teardown(self) -> None:
        self.store.close()

    # ------------------------------------------------------------ model of the watermark rules
    def _expect(self, source: str, dc: str, expected, new) -> type[Exception] | None:
        stored_dc, stored = self.active.get(source, (None, Refresh()))
        if not same_position(stored, expected):
            return StaleWatermark
        if isinstance(new, UsnWatermark) and new.dc_invocation_id != dc:
            return WatermarkRegression
        if stored_dc is not None and stored_dc != dc and not isinstance(stored, Refresh):
            return WatermarkRegression
        if isinstance(new, UsnWatermark) and new.usn < self.high.get((source, dc), -1):
            return WatermarkRegression
        return None

    def _apply_model(self, source: str, dc: str, new) -> None:
        self.active[source] = (dc, new)
        if isinstance(new, UsnWatermark):
            self.high[(source, dc)] = max(self.high.get((source, dc), -1), new.usn)

    def _stored_cursor(self, source: str) -> Cursor:
        return self.active.get(source, (None, Refresh()))[1]

    # ------------------------------------------------------------ rules
    @rule(state=object_states)
    def put_object(self, state: ObjectState) -> None:
        self.store.put_object(state)
        self.objects[(state.source, state.anchor)] = state

    @rule(state=target_states)
    def put_target_state(self, state: TargetState) -> None:
        self.store.put_target_state(state)
        self.targets[(state.target, state.anchor)] = state

    @rule(source=st.sampled_from(SOURCES), dc=st.sampled_from(DCS), new=cursors)
    def advance_from_the_stored_cursor(self, source: str, dc: str, new) -> None:
        expected = self._stored_cursor(source)
        outcome = self._expect(source, dc, expected, new)
        if outcome is None:
            self.store.advance_watermark(source, dc, expected, new)
            self._apply_model(source, dc, new)
        else:
            with pytest.raises(outcome):
                self.store.advance_watermark(source, dc, expected, new)

    @rule(source=st.sampled_from(SOURCES), dc=st.sampled_from(DCS), expected=cursors, new=cursors)
    def advance_from_any_expected_cursor(self, source: str, dc: str, expected, new) -> None:
        outcome = self._expect(source, dc, expected, new)
        if outcome is None:
            self.store.advance_watermark(source, dc, expected, new)
            self._apply_model(source, dc, new)
        else:
            with pytest.raises(outcome):
                self.store.advance_watermark(source, dc, expected, new)

    @rule(source=st.sampled_from(SOURCES), dc=st.sampled_from(DCS),
          delta=st.integers(1, 100))
    def advance_usn_forward(self, source: str, dc: str, delta: int) -> None:
        stored_dc, stored = self.active.get(source, (None, Refresh()))
        if stored_dc not in (None, dc) and not isinstance(stored, Refresh):
            return
        new = UsnWatermark(dc, self.high.get((source, dc), 0) + delta)
        self.store.advance_watermark(source, dc, stored, new)
        self._apply_model(source, dc, new)

    @rule(objs=st.lists(object_states, max_size=3), tss=st.lists(target_states, max_size=3),
          source=st.sampled_from(SOURCES), dc=st.sampled_from(DCS), new=cursors)
    def transaction_that_raises_midway_leaves_nothing(self, objs, tss, source, dc, new) -> None:
        with pytest.raises(Boom):
            with self.store.atomic():
                for o in objs:
                    self.store.put_object(o)
                for t in tss:
                    self.store.put_target_state(t)
                if self._expect(source, dc, self._stored_cursor(source), new) is None:
                    self.store.advance_watermark(source, dc, self._stored_cursor(source), new)
                self.store.record_observation(1, source, "x", None, None, {"a": 1})
                raise Boom()

    @rule(outer=object_states, inner=st.lists(object_states, min_size=1, max_size=3))
    def nested_savepoint_that_raises_keeps_the_outer_work(self, outer, inner) -> None:
        with self.store.atomic():
            self.store.put_object(outer)
            with pytest.raises(Boom):
                with self.store.atomic():
                    for o in inner:
                        self.store.put_object(o)
                    raise Boom()
        self.objects[(outer.source, outer.anchor)] = outer

    @rule(source=st.sampled_from(SOURCES), guid=st.sampled_from(ANCHORS + ("ZZZZ",)))
    def remove_member_everywhere(self, source: str, guid: str) -> None:
        affected = self.store.remove_member_everywhere(source, guid)
        expect = []
        for (src, anchor), state in sorted(self.objects.items()):
            if src == source and guid in state.members:
                expect.append(anchor)
                self.objects[(src, anchor)] = evolve(state, members=state.members - {guid})
        assert sorted(affected) == expect

    @rule(action=actions)
    def journal_an_intent(self, action: Action) -> None:
        self.intents[self.store.journal_intent(1, action)] = action

    @rule(data=st.data())
    def settle_an_intent(self, data) -> None:
        if self.intents:
            intent_id = data.draw(st.sampled_from(sorted(self.intents)))
            self.store.journal_settle(intent_id, "done")
            del self.intents[intent_id]

    @rule(action=actions, reason=texts)
    def hold_an_action(self, action: Action, reason: str) -> None:
        key = (action.target, action.anchor, action.kind)
        hold_id = self.store.hold(action, reason)
        same = [i for i, h in self.holds.items() if h["key"] == key]
        assert same in ([], [hold_id])
        by = self.holds[hold_id]["by"] if same else None
        self.holds[hold_id] = {"key": key, "action": action, "reason": reason, "by": by}

    @rule(which=st.none() | st.sampled_from(TARGETS), by=st.sampled_from(["alice", "bob"]))
    def approve_holds(self, which, by: str) -> None:
        target = which
        waiting = [h for h in self.holds.values()
                   if h["by"] is None and target in (None, h["key"][0])]
        assert self.store.approve_held(target, by=by) == len(waiting)
        for h in waiting:
            h["by"] = by
        self.approvals += bool(waiting)

    @rule(data=st.data())
    def release_an_approved_hold(self, data) -> None:
        approved = sorted(i for i, h in self.holds.items() if h["by"] is not None)
        if approved:
            hold_id = data.draw(st.sampled_from(approved))
            self.store.release(hold_id)
            del self.holds[hold_id]

    # ------------------------------------------------------------ invariants
    @invariant()
    def journal_and_holds_equal_the_model(self) -> None:
        assert [(i.id, i.action) for i in self.store.pending_intents()] == sorted(self.intents.items())
        waiting = {i: h for i, h in self.holds.items() if h["by"] is None}
        assert [(r.id, r.action, r.reason) for r in self.store.held()] == [
            (i, h["action"], h["reason"]) for i, h in sorted(waiting.items())]
        for target in TARGETS:
            assert [(r.id, r.approved_by) for r in self.store.approved_actions(target)] == [
                (i, h["by"]) for i, h in sorted(self.holds.items())
                if h["by"] is not None and h["key"][0] == target]

    @invariant()
    def object_reads_equal_the_model(self) -> None:
        for source in SOURCES:
            expect = {a: s for (src, a), s in self.objects.items() if src == source}
            assert self.store.get_objects(source, ANCHORS) == expect
            assert {s.anchor: s for s in self.store.iter_objects(source)} == expect
            assert self.store.count_objects(source) == len(expect)

    @invariant()
    def target_state_reads_equal_the_model(self) -> None:
        for target in TARGETS:
            expect = {a: s for (t, a), s in self.targets.items() if t == target}
            assert self.store.get_target_states(target, ANCHORS) == expect
            assert {s.anchor: s for s in self.store.iter_target_states(target)} == expect
        counts: dict[str, dict[str, int]] = {}
        for (target, _), s in self.targets.items():
            counts.setdefault(target, {}).setdefault(s.state, 0)
            counts[target][s.state] += 1
        assert self.store.counts_by_state() == counts

    @invariant()
    def cursor_equals_the_model_and_never_moves_backwards(self) -> None:
        for source in SOURCES:
            stored = self.store.get_cursor(source)
            assert same_position(stored, self._stored_cursor(source))
            if not isinstance(stored, Refresh):
                assert stored == self._stored_cursor(source)
        for rec in self.store.watermarks():
            key = (rec.source, rec.dc)
            if rec.high_usn is not None:
                assert rec.high_usn >= self.seen_high.get(key, -1)
                self.seen_high[key] = rec.high_usn
            if isinstance(rec.cursor, UsnWatermark):
                assert rec.cursor.usn == rec.high_usn
        assert sum(r.active for r in self.store.watermarks()) == len(self.active)

    @invariant()
    def no_history_leaks_from_rolled_back_transactions(self) -> None:
        # only approvals write history here; the observations were all rolled back
        assert [r.kind for r in self.store.history()] == ["approval"] * self.approvals


def store_machine(factory: Callable[[], StateStore]) -> type[StoreMachine]:
    """The state machine bound to ``factory`` (called once per example for a fresh store)."""
    return type("StoreMachine", (StoreMachine,), {"make_store": staticmethod(factory)})

"""engine.reconcile: journal settlement after a crash, and outcomes of target answers."""

from datetime import UTC, datetime, timedelta

from hybridsync.connectors.base import Done, RetryAfter, Terminal
from hybridsync.connectors.testing.memory import MemoryTarget
from hybridsync.engine.runtime.reconcile import call_target, settle_pending, state_after
from hybridsync.engine.core.values import Action, ActionKind, ObjectKind, TargetState
from hybridsync.statestore import Store

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def create_action(anchor="AAA="):
    return Action(kind=ActionKind.CREATE, target="app", anchor=anchor, object_kind=ObjectKind.USER,
                  attributes={"userName": f"{anchor}@lab.test", "active": True}, from_state="new",
                  to_state="pending_create")


def test_a_create_that_landed_before_a_crash_is_recorded_not_created_again():
    store, target = Store.open(":memory:"), MemoryTarget("app")
    action = create_action()
    store.journal_intent(1, action)
    call_target(target, action, None)  # the call landed, then the process died
    counts = settle_pending(store, {"app": target}, lambda: NOW)
    assert counts["found"] == 1 and store.pending_intents() == []
    ts = store.get_target_state("app", "AAA=")
    assert ts.state == "provisioned" and ts.target_id == next(iter(target.store))
    assert [op for op, _ in target.calls].count("create") == 1


def test_a_create_that_never_landed_is_settled_without_a_state():
    store, target = Store.open(":memory:"), MemoryTarget("app")
    store.journal_intent(1, create_action())
    settle_pending(store, {"app": target}, lambda: NOW)
    assert store.pending_intents() == [] and store.get_target_state("app", "AAA=") is None


def test_an_unreachable_target_leaves_the_intent_pending():
    store, target = Store.open(":memory:"), MemoryTarget("app")
    store.journal_intent(1, create_action())
    target.inject(RetryAfter(5, "busy"), op="lookup_by_anchor")
    assert settle_pending(store, {"app": target}, lambda: NOW)["unreachable"] == 1
    assert len(store.pending_intents()) == 1


def test_retry_after_from_a_target_is_honoured_exactly():
    out = state_after(None, create_action(), RetryAfter(17.5, "429"), NOW)
    assert out.state.state == "escrow" and out.state.next_retry_at == NOW + timedelta(seconds=17.5)
    assert out.state.target_id is None and out.result == "retry"


def test_repeated_failures_back_off_exponentially():
    prev = TargetState(anchor="AAA=", target="app", kind=ObjectKind.USER, state="escrow", target_id="t1",
                       retry_count=3)
    upd = Action(kind=ActionKind.UPDATE, target="app", anchor="AAA=", object_kind=ObjectKind.USER, target_id="t1",
                 attributes={"title": "x"}, to_state="provisioned")
    out = state_after(prev, upd, Terminal("bad", status=500), NOW)
    assert out.state.retry_count == 4 and out.state.next_retry_at == NOW + timedelta(seconds=40)


def test_a_404_on_update_forgets_the_target_id_so_the_object_is_recreated():
    prev = TargetState(anchor="AAA=", target="app", kind=ObjectKind.USER, state="provisioned", target_id="t9")
    upd = Action(kind=ActionKind.UPDATE, target="app", anchor="AAA=", object_kind=ObjectKind.USER, target_id="t9",
                 attributes={"title": "x"}, to_state="provisioned")
    out = state_after(prev, upd, Terminal("gone", status=404), NOW)
    assert out.state.state == "escrow" and out.state.target_id is None


def test_an_auth_refusal_is_a_target_level_failure():
    out = state_after(None, create_action(), Terminal("unauthorized", status=401), NOW)
    assert out.target_level


def test_a_successful_update_merges_the_projection_and_clears_a_nulled_attribute():
    prev = TargetState(anchor="AAA=", target="app", kind=ObjectKind.USER, state="provisioned", target_id="t1",
                       projection={"title": "a", "displayName": "Ann"})
    upd = Action(kind=ActionKind.UPDATE, target="app", anchor="AAA=", object_kind=ObjectKind.USER, target_id="t1",
                 attributes={"title": None, "displayName": "Anna"}, to_state="provisioned")
    out = state_after(prev, upd, Done(target_id="t1"), NOW)
    assert dict(out.state.projection) == {"displayName": "Anna"} and out.state.state == "provisioned"


class LateTarget(MemoryTarget):
    """A target whose queue still holds the dead process's create: it lands when the settling
    process has waited (``wait``), as a server that had the request but had not finished it."""

    call_grace = 30.0

    def __init__(self, name: str, action) -> None:
        super().__init__(name)
        self.queued, self.waits = action, []

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        call_target(self, self.queued, None)  # the queued request is processed meanwhile
        return False


def test_a_create_still_in_flight_at_a_takeover_is_waited_for_and_recorded_not_created_again():
    """The soak's race: the new leader looks the anchor up before the dead leader's queued POST
    lands. Settled as "never landed", the object would be created a second time."""
    store, action = Store.open(":memory:"), create_action()
    target = LateTarget("app", action)
    store.journal_intent(1, action)  # journaled now (the wall clock): its call may be in flight
    counts = settle_pending(store, {"app": target}, lambda: NOW, wait=target.wait)
    assert counts["found"] == 1 and counts["waited"] == 1 and store.pending_intents() == []
    assert 29 <= target.waits[0] <= 30  # no longer than the grace
    ts = store.get_target_state("app", "AAA=")
    assert ts.state == "provisioned" and ts.target_id == next(iter(target.store))


def test_an_old_intent_or_a_target_without_call_grace_is_not_waited_for():
    store, action = Store.open(":memory:"), create_action()
    target = LateTarget("app", action)
    store.journal_intent(1, action, at=datetime.now(UTC) - timedelta(seconds=31))
    assert settle_pending(store, {"app": target}, lambda: NOW, wait=target.wait)["waited"] == 0
    assert target.waits == [] and store.pending_intents() == []
    plain = MemoryTarget("app")  # an in-process target: a call cannot outlive its caller
    store.journal_intent(1, action)
    assert settle_pending(store, {"app": plain}, lambda: NOW, wait=target.wait)["waited"] == 0


def test_a_stop_while_waiting_leaves_the_create_pending_for_the_next_start():
    store, action = Store.open(":memory:"), create_action()
    target = LateTarget("app", action)
    store.journal_intent(1, action)
    counts = settle_pending(store, {"app": target}, lambda: NOW, wait=lambda seconds: True)
    assert counts["waited"] == 1 and counts["settled"] == 0 and len(store.pending_intents()) == 1

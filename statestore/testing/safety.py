"""The state store's part of the safety rules (issue 14), for the conformance kit: the delete
threshold's rolling window, held deletes and pending adoptions. ``StoreContract`` includes
``SafetyContract``."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from hybridsync.engine.core.values import ActionKind
from hybridsync.statestore.testing.samples import T0, act


class SafetyContract:
    def test_access_removals_count_applied_disables_deletes_and_deactivations_per_target_since(self, store):
        ad_disable = attrs.evolve(act(ActionKind.UPDATE, anchor="a3"), attributes={"active": False})
        rename = attrs.evolve(act(ActionKind.UPDATE, anchor="a4"), attributes={"displayName": "x"})
        store.record_decision(1, act(ActionKind.DISABLE, anchor="a1"), result="ok", at=T0)
        store.record_decision(1, act(ActionKind.DELETE, anchor="a2"), result="ok", at=T0 + timedelta(hours=1))
        store.record_decision(1, ad_disable, result="ok", at=T0 + timedelta(hours=2))
        store.record_decision(1, rename, result="ok", at=T0 + timedelta(hours=2))
        store.record_decision(1, act(ActionKind.DISABLE, anchor="a5"), result="failed", at=T0 + timedelta(hours=2))
        store.record_decision(1, act(ActionKind.DISABLE, anchor="a6", target="other"), result="ok", at=T0)
        assert store.access_removals("app", T0) == 3
        assert store.access_removals("app", T0 + timedelta(minutes=30)) == 2
        assert store.access_removals("other", T0) == 1 and store.access_removals("none", T0) == 0

    def test_holding_the_same_delete_twice_keeps_one_hold(self, store):
        first = store.hold(act(), "threshold", at=T0)
        again = store.hold(act(), "threshold again", at=T0 + timedelta(hours=1))
        assert first == again
        [held] = store.held()
        assert held.reason == "threshold again" and held.held_at == T0

    def test_approved_holds_wait_for_release_and_a_new_hold_opens_after(self, store):
        hid = store.hold(act(), "threshold")
        assert store.approve_held("app", by="alice", at=T0) == 1
        assert store.held() == [] and store.held(include_approved=True)[0].approved_by == "alice"
        assert [h.id for h in store.approved_actions("app")] == [hid]
        store.release(hid)
        assert store.approved_actions("app") == []
        with pytest.raises(KeyError):
            store.release(hid)
        assert store.hold(act(), "threshold") != hid

    def test_pending_adoptions_are_kept_apart_from_held_deletes(self, store):
        adopt = attrs.evolve(act(ActionKind.ADOPT, anchor="a9"), target_id="t9")
        aid = store.hold(adopt, "adopt = approve", at=T0)
        hid = store.hold(act(), "threshold", at=T0)
        assert [h.id for h in store.held()] == [hid]  # by default: held disables/deletes only
        assert [h.id for h in store.held(adoptions=True)] == [aid]
        assert sorted(h.id for h in store.held(adoptions=None)) == sorted([aid, hid])
        assert store.approve_held("app", by="alice", at=T0) == 1  # approve-deletes: not the adoption
        assert [h.id for h in store.held(adoptions=True)] == [aid]
        assert store.approve_held("app", by="bob", at=T0, adoptions=True, ids=[hid]) == 0  # not an adoption
        assert store.approve_held("app", by="bob", at=T0, adoptions=True, ids=[aid]) == 1
        [approved] = store.held(include_approved=True, adoptions=True)
        assert approved.approved_by == "bob" and approved.action.target_id == "t9"
        store.release(aid)
        assert store.held(include_approved=True, adoptions=None) == [h for h in store.held(
            include_approved=True, adoptions=None) if h.id == hid]

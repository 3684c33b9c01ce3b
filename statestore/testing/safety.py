"""The state store's part of the delete threshold's rolling window (issue 14), for the
conformance kit: ``StoreContract`` includes ``SafetyContract``."""

from __future__ import annotations

from datetime import timedelta

import attrs

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

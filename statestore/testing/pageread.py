"""``read_page`` (statestore/pageread.py) and ``cycle_opening(begin_cycle_at=...)``, for the
conformance kit (``StoreContract`` includes ``PageReadContract``): a page's objects and target
states read at once equal the single reads; a cycle begun by its opening is the row
``begin_cycle`` writes, its mode from the cursor the opening answered, seen by every other
handle at once, and inside a commit unit it goes with the unit."""

from __future__ import annotations

import pytest

from hybridsync.engine.core.values import ObjectKind, Refresh, TargetState, UsnWatermark
from hybridsync.statestore.testing.samples import T0, group_state, obj

ODD = ["a\x00b", "\ue000", "ä€😀", "{x,y}", "o'q", "\x1f\x1e"]


class PageReadContract:
    def test_read_page_answers_what_the_single_reads_answer(self, store):
        anchors = [f"A{i}" for i in range(6)] + ODD
        with store.atomic():
            for i, a in enumerate(anchors):
                members = frozenset({f"m{i}", ODD[i % len(ODD)]}) if i % 3 == 0 else frozenset()
                store.put_object(obj(a, kind=ObjectKind.GROUP if members else ObjectKind.USER, members=members))
                if i % 2 == 0:
                    store.put_target_state(group_state(a, {f"x{i}", ODD[0]}) if members else TargetState(
                        anchor=a, target="app", kind=ObjectKind.USER, state="provisioned", projection={"v": a}))
                if i % 4 == 1:
                    store.put_target_state(TargetState(anchor=a, target="other", kind=ObjectKind.USER, state="escrow",
                                                       retry_count=2 ** 40, next_retry_at=T0, last_error=a))
        asked = [*anchors, "missing", anchors[0]]
        got = store.read_page("corp", asked, ["app", "other", "none", "app"])
        assert got.objects == store.get_objects("corp", asked) and len(got.objects) == len(anchors)
        assert sorted(got.target_states) == ["app", "none", "other"]
        for name in ("app", "other", "none"):
            assert got.target_states[name] == store.get_target_states(name, asked)
        assert got.target_states["none"] == {} and len(got.target_states["app"]) == 6
        assert any(ts.members_sent for ts in got.target_states["app"].values())
        assert store.read_page("corp", [], ["app"]).target_states == {"app": {}}
        assert store.read_page("corp", ["A1"], []).objects.keys() == {"A1"}

    def test_read_page_of_many_anchors_answers_them_all(self, store):
        anchors = [f"B{i:04d}" for i in range(1200)]  # more than one part of the single reads
        with store.atomic():
            for a in anchors:
                store.put_object(obj(a))
                store.put_target_state(TargetState(anchor=a, target="app", kind=ObjectKind.USER, state="provisioned"))
        got = store.read_page("corp", anchors, ["app"])
        assert sorted(got.objects) == sorted(got.target_states["app"]) == anchors

    @pytest.mark.parametrize("cursor, force, mode", [(None, False, "full"), (UsnWatermark("dc1", 5), False, "delta"),
                                                     (Refresh("asked"), False, "full"),
                                                     (UsnWatermark("dc1", 5), True, "full")])
    def test_an_opening_begins_the_cycle_in_the_mode_its_cursor_tells(self, store, tmp_path, cursor, force, mode):
        if cursor is not None:
            store.advance_watermark("corp", "dc1", Refresh(), UsnWatermark("dc1", 3))
            if isinstance(cursor, Refresh):
                store.advance_watermark("corp", "dc1", UsnWatermark("dc1", 3), cursor)
        other = self.make_store(tmp_path / "store")  # type: ignore[attr-defined]
        try:
            got = store.cycle_opening("corp", ["app"], T0, begin_cycle_at=T0, force_full=force)
            assert got.cursor == store.get_cursor("corp")
            assert got.cycle_mode == mode and got.cycle_id is not None
            seen = other.last_cycles(1)[0]
            assert (seen.id, seen.source, seen.mode, seen.started_at, seen.finished_at) == (
                got.cycle_id, "corp", mode, T0, None)
            store.end_cycle(got.cycle_id, status="ok", counts={}, duration_s=0.1, at=T0)
        finally:
            other.close()
        plain = store.cycle_opening("corp", ["app"], T0)
        assert (plain.cycle_id, plain.cycle_mode) == (None, None)
        assert [c.id for c in store.last_cycles(5)] == [got.cycle_id]

    def test_a_cycle_begun_by_an_opening_inside_a_unit_goes_with_it(self, store):
        with pytest.raises(RuntimeError), store.atomic():
            store.cycle_opening("corp", ["app"], T0, begin_cycle_at=T0)
            raise RuntimeError("rolled back")
        assert store.last_cycles(5) == []
        with store.atomic():
            got = store.cycle_opening("corp", ["app"], T0, begin_cycle_at=T0)
        assert [(c.id, c.mode) for c in store.last_cycles(5)] == [(got.cycle_id, "full")]

"""A cycle's bookkeeping rows, for the conformance kit (``StoreContract`` includes
``CyclesContract``): ``begin_cycle`` and ``end_cycle`` may commit without a disk flush of their
own (durable with the next commit unit, ``protocol.FactStore``), but what they write is seen by
every other handle on the same store as soon as they return -- a process that dies mid-cycle
leaves its cycle begun and unfinished, as ``status`` shows it -- inside a commit unit they go
with it, and the commit units after them stay durable (a reopen finds everything)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hybridsync.statestore.testing.samples import T0, obj


class CyclesContract:
    def test_another_handle_sees_a_cycle_begun_unfinished_then_finished(self, store, tmp_path):
        other = self.make_store(tmp_path / "store")  # type: ignore[attr-defined]
        try:
            cid = store.begin_cycle("corp", "delta", at=T0)
            seen = other.last_cycles(1)[0]
            assert (seen.id, seen.source, seen.finished_at, seen.status) == (cid, "corp", None, None)
            store.end_cycle(cid, status="ok", counts={"update": 10}, duration_s=0.5, at=T0 + timedelta(seconds=1))
            seen = other.last_cycles(1)[0]
            assert (seen.id, seen.finished_at, seen.status, seen.counts) == (cid, T0 + timedelta(seconds=1), "ok",
                                                                             {"update": 10})
        finally:
            other.close()

    def test_a_cycle_begun_and_ended_inside_a_unit_goes_with_it(self, store):
        with pytest.raises(RuntimeError), store.atomic():
            cid = store.begin_cycle("corp", "delta", at=T0)
            store.end_cycle(cid, status="ok", counts={}, duration_s=0.1, at=T0)
            raise RuntimeError("rolled back")
        assert store.last_cycles(5) == []
        with store.atomic():
            cid = store.begin_cycle("corp", "delta", at=T0)
            store.put_object(obj("A1"))
        store.end_cycle(cid, status="ok", counts={}, duration_s=0.1, at=T0)
        assert [(c.id, c.status) for c in store.last_cycles(5)] == [(cid, "ok")]

    def test_the_units_after_a_cycle_s_rows_and_the_rows_survive_a_reopen(self, tmp_path):
        s = self.make_store(tmp_path / "reopened")  # type: ignore[attr-defined]
        cid = s.begin_cycle("corp", "delta", at=T0)
        with s.atomic():
            s.put_object(obj("A1"))
        s.end_cycle(cid, status="ok", counts={"update": 1}, duration_s=0.2, at=T0)
        later = s.begin_cycle("corp", "delta", at=T0 + timedelta(minutes=1))
        s.close()
        s = self.make_store(tmp_path / "reopened")  # type: ignore[attr-defined]
        try:
            assert [(c.id, c.status) for c in s.last_cycles(5)] == [(later, None), (cid, "ok")]
            assert s.get_object("corp", "A1") is not None
            with pytest.raises(KeyError, match=str(later + 1000)):
                s.end_cycle(later + 1000, status="ok", counts={}, duration_s=0.0)
        finally:
            s.close()

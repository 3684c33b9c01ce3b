"""The watermark compare-and-swap, for the conformance kit (``StoreContract`` includes
``WatermarksContract``): a stale CAS changes nothing, a USN never moves backwards, a DC switch
needs a Refresh first, cursors are kept per source."""

from __future__ import annotations

import pytest

from hybridsync.engine.core.values import Refresh, UsnWatermark
from hybridsync.statestore.errors import StaleWatermark, WatermarkRegression


class WatermarksContract:
    def test_a_stale_cas_raises_and_changes_nothing(self, store):
        store.advance_watermark("corp", "dc1", Refresh(), UsnWatermark("dc1", 100))
        before = store.watermarks()
        with pytest.raises(StaleWatermark):
            store.advance_watermark("corp", "dc1", UsnWatermark("dc1", 99),
                                    UsnWatermark("dc1", 200))
        assert store.watermarks() == before

    def test_the_usn_never_moves_backwards_even_through_a_refresh(self, store):
        store.advance_watermark("corp", "dc1", Refresh(), UsnWatermark("dc1", 100))
        store.advance_watermark("corp", "dc1", UsnWatermark("dc1", 100), Refresh("full read due"))
        with pytest.raises(WatermarkRegression, match="backwards"):
            store.advance_watermark("corp", "dc1", Refresh(), UsnWatermark("dc1", 50))
        assert store.get_cursor("corp") == Refresh("full read due")

    def test_switching_dc_needs_a_refresh_first(self, store):
        store.advance_watermark("corp", "dc1", Refresh(), UsnWatermark("dc1", 100))
        with pytest.raises(WatermarkRegression, match="needs a Refresh"):
            store.advance_watermark("corp", "dc2", UsnWatermark("dc1", 100),
                                    UsnWatermark("dc2", 5))
        store.advance_watermark("corp", "dc1", UsnWatermark("dc1", 100),
                                Refresh("new invocationId"))
        store.advance_watermark("corp", "dc2", Refresh(), UsnWatermark("dc2", 5))
        assert store.get_cursor("corp") == UsnWatermark("dc2", 5)
        assert [(w.dc, w.active) for w in store.watermarks("corp")] == [("dc2", True),
                                                                       ("dc1", False)]

    def test_watermarks_are_kept_per_source(self, store):
        store.advance_watermark("corp", "dc1", Refresh(), UsnWatermark("dc1", 100))
        assert store.get_cursor("branch") == Refresh("no stored cursor")
        store.advance_watermark("branch", "dc1", Refresh(), UsnWatermark("dc1", 7))
        assert store.get_cursor("corp") == UsnWatermark("dc1", 100)
        assert [w.source for w in store.watermarks()] == ["branch", "corp"]

"""The state store's part of write-only placeholders (issue 15), for the conformance kit:
``StoreContract`` includes ``SaltContract``. Every store holds a random salt from its creation
(meta ``write_only_salt``, made by migration ``m003_write_only_salt``), keeps it across a
reopen, and carries it through a dump and a load, so replay and snapshots key placeholders as
the engine did."""

from __future__ import annotations

import io
import re

from hybridsync.statestore.testing.samples import T0

KEY = "write_only_salt"


class SaltContract:
    def test_a_new_store_has_its_own_salt_for_every_cycle(self, store, tmp_path):
        salt = store.meta_get(KEY)
        assert re.fullmatch(r"[0-9a-f]{64}", salt["salt"]) and salt["from_cycle"] == 1
        other = self.make_store(tmp_path / "other")  # type: ignore[attr-defined]
        try:
            assert other.meta_get(KEY)["salt"] != salt["salt"]
        finally:
            other.close()

    def test_the_salt_survives_a_reopen_and_a_dump(self, tmp_path):
        s = self.make_store(tmp_path / "kept")  # type: ignore[attr-defined]
        salt = s.meta_get(KEY)
        s.begin_cycle("corp", "full", T0)
        buf = io.StringIO()
        s.dump(buf)
        s.close()
        s = self.make_store(tmp_path / "kept")  # type: ignore[attr-defined]
        try:
            assert s.meta_get(KEY) == salt
        finally:
            s.close()
        buf.seek(0)
        copy = self.load_store(buf, tmp_path / "copy")  # type: ignore[attr-defined]
        try:
            assert copy.meta_get(KEY) == salt
        finally:
            copy.close()

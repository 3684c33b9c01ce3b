"""The state store's compressed recordings (format 5, issue 17), for the conformance kit:
``StoreContract`` includes ``RecordingsContract``. A store keeps a large recorded batch or target
call compressed (``statestore/codec.py``) and gives back exactly the text it was given; a row
of an older format (plain JSON, from a format-3 dump) loads (compressed then) and reads as it was
written; the dump writes recordings opened (decompressed, so a secret scan sees inside them) and
a load compresses them again."""

from __future__ import annotations

import io
import json
from datetime import timedelta

from hybridsync.statestore import migrations as mig
from hybridsync.statestore.codec import ZLIB
from hybridsync.statestore.sqlitefile import DUMP_FORMAT
from hybridsync.statestore.testing.samples import T0


def page(n: int, tag: str = "") -> str:
    """A recorded batch's JSON of ``n`` directory objects (non-ASCII, quotes, a NUL-free text)."""
    objects = [{"anchor": f"a{i}{tag}", "dn": f"CN=Ünïcode \"{i}\",OU=Staff,DC=lab,DC=test",
                "attributes": {"title": [f"day {i % 7}"], "mail": [f"u{i}@lab.test"]}} for i in range(n)]
    return json.dumps({"objects": objects, "last": False}, ensure_ascii=False, sort_keys=True)


def dumped_rows(store, table: str) -> list[dict]:
    buf = io.StringIO()
    store.dump(buf)
    buf.seek(0)
    return [item["r"] for item in map(json.loads, buf.readlines()[1:]) if item["t"] == table]


def old_dump(batches: list[str], calls: list[str]) -> io.StringIO:
    """A format-3 dump (before compression) holding ``batches`` and ``calls`` as plain rows."""
    at = "2026-01-01T00:00:00.000000+00:00"
    lines = [{"format": DUMP_FORMAT, "version": 3, "tables": list(mig.TABLES)},
             {"t": "meta", "r": {"key": "format_version", "value": "3"}},
             {"t": "meta", "r": {"key": "write_only_salt", "value": json.dumps({"salt": "ab" * 32, "from_cycle": 1})}},
             {"t": "cycles", "r": {"id": 1, "source": "corp", "mode": "full", "started_at": at, "finished_at": at,
                                   "status": "ok", "counts": "{}", "duration_s": 1.0}}]
    lines += [{"t": "batches", "r": {"id": i + 1, "cycle_id": 1, "source": "corp", "at": at, "batch_json": b}}
              for i, b in enumerate(batches)]
    lines += [{"t": "target_calls", "r": {"id": i + 1, "cycle_id": 1, "target": "app", "at": at, "call_json": c}}
              for i, c in enumerate(calls)]
    return io.StringIO("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))


class RecordingsContract:
    def kept_texts(self, store, table: str, column: str) -> list[str]:
        """What the store keeps in ``table.column``, in id order (hook: both stores here read it
        through their ``_handle``; a store without one overrides this)."""
        return [r[column] for r in store._handle.rows(f"SELECT {column} FROM {table} ORDER BY id")]

    def test_a_large_recorded_batch_or_call_is_kept_compressed_and_read_back_as_given(self, store, tmp_path):
        big, small, tilde = page(300), '{"page": 1}', "~" + page(2)
        call = json.dumps({"op": "list_owned", "key": "k", "result": {"found": [page(50)]}}, ensure_ascii=False)
        c = store.begin_cycle("corp", "full", at=T0)
        for text in (big, small, tilde):
            store.record_batch(c, "corp", text, at=T0)
        store.record_call(c, "app", call, at=T0)
        store.record_calls([(c, "app", small)], at=T0)
        assert [b.batch_json for b in store.iter_batches()] == [big, small, tilde]
        assert [x.call_json for x in store.iter_calls(cycle_id=c)] == [call, small]
        # the dump writes recordings opened (a secret scan of it sees inside them), exactly
        assert [r["batch_json"] for r in dumped_rows(store, "batches")] == [big, small, "~=" + tilde]
        assert [r["call_json"] for r in dumped_rows(store, "target_calls")] == [call, small]
        kept = self.kept_texts(store, "batches", "batch_json")
        assert kept[0].startswith(ZLIB) and len(kept[0]) * 4 < len(big)  # compressed, several-fold
        assert kept[1:] == [small, "~=" + tilde]  # a short row as it is; a "~" text escaped
        assert [t[:4] for t in self.kept_texts(store, "target_calls", "call_json")] == [ZLIB, small[:4]]
        buf = io.StringIO()
        store.dump(buf)
        buf.seek(0)
        copy = self.load_store(buf, tmp_path / "copy")  # type: ignore[attr-defined]
        try:
            assert [b.batch_json for b in copy.iter_batches()] == [big, small, tilde]
            assert [x.call_json for x in copy.iter_calls()] == [call, small]
        finally:
            copy.close()

    def test_plain_rows_of_a_format_3_dump_load_read_and_round_trip_as_written(self, tmp_path):
        batches = [page(200, "old"), '{"page": 2}']
        calls = [json.dumps({"op": "create", "key": page(20), "result": {"type": "done"}})]
        old = self.load_store(old_dump(batches, calls), tmp_path / "old")  # type: ignore[attr-defined]
        try:
            assert old.format_version == mig.FORMAT_VERSION
            assert [b.batch_json for b in old.iter_batches()] == batches
            kept = self.kept_texts(old, "batches", "batch_json")
            assert kept[0].startswith(ZLIB) and kept[1] == batches[1]  # a load compacts the old rows
            assert [c.call_json for c in old.iter_calls(cycle_id=1)] == calls
            c = old.begin_cycle("corp", "delta", at=T0 + timedelta(days=1))
            old.record_batch(c, "corp", page(200, "new"), at=T0 + timedelta(days=1))  # compressed beside them
            buf = io.StringIO()
            old.dump(buf)
        finally:
            old.close()
        buf.seek(0)
        again = self.load_store(buf, tmp_path / "again")  # type: ignore[attr-defined]
        try:
            assert [b.batch_json for b in again.iter_batches()] == [*batches, page(200, "new")]
            assert [c.call_json for c in again.iter_calls()] == calls
            assert again.prune(None, recordings_before=T0) == {"batches": 2, "target_calls": 1}
            assert [b.batch_json for b in again.iter_batches()] == [page(200, "new")]
        finally:
            again.close()

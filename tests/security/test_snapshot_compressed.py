"""Issue 17 (format 5): a snapshot scrubs inside compressed recordings too. A recorded batch is
kept compressed in the store (statestore/codec.py); the store's dump, which a snapshot embeds,
writes it opened (decompressed), so the recursive scrub sees (and removes) a secret inside it,
and replay still reads it."""

from __future__ import annotations

import json

from hybridsync.engine.runtime.snapshot import read_snapshot, write_snapshot
from hybridsync.statestore import Store
from hybridsync.statestore.codec import ZLIB, pack, unpack
from hybridsync.statestore.testing.samples import T0

SECRET = "tok-Planted-S3cret-77"


def test_a_secret_inside_a_compressed_recorded_batch_is_scrubbed_from_the_snapshot(tmp_path):
    objects = [{"dn": f"CN=u{i}", "attributes": {"cn": [f"u{i}"], "title": [f"t{i % 5}"]}} for i in range(40)]
    objects[7]["attributes"]["unicodePwd"] = ["x-planted"]
    batch = json.dumps({"objects": objects, "cursor": {"note": f"Bearer {SECRET}"}})
    tilde = "~" + json.dumps({"objects": objects[8:30]})  # a text that itself begins with the mark's "~"
    store = Store.open(tmp_path / "s.db")
    c = store.begin_cycle("corp", "full", at=T0)
    store.record_batch(c, "corp", batch, at=T0)
    store.record_batch(c, "corp", tilde, at=T0)
    store.record_call(c, "app", json.dumps({"op": "list_owned", "key": "k", "result": {"why": SECRET * 40}}), at=T0)
    assert store._conn.execute("SELECT batch_json FROM batches").fetchone()[0].startswith(ZLIB)
    out = tmp_path / "snap.jsonl"
    assert write_snapshot(store, out, config_text="", secrets=[SECRET]) >= 3
    store.close()
    text = out.read_text()
    assert ZLIB not in text  # recordings are written opened: what a reader greps is what is there
    snap = read_snapshot(out)
    kept = [b.batch_json for b in snap.store.iter_batches()]
    calls = [c.call_json for c in snap.store.iter_calls()]
    assert all(SECRET not in t and "x-planted" not in t and "unicodePwd" not in t for t in kept + calls)
    assert len(json.loads(kept[0])["objects"]) == 40 and kept[1] == tilde  # the rest is kept, exactly
    snap.store.close()


def test_opening_a_stored_value_keeps_it_a_stored_value():
    from hybridsync.statestore.codec import opened

    for text in ("{}", "~" + "x" * 2000, "y" * 3000, "~=short"):
        assert unpack(opened(pack(text))) == text
        assert not opened(pack(text)).startswith(ZLIB)

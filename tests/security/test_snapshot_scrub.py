"""Issue 15, finding 3: snapshots scrub recursively -- secrets planted at every depth (row values,
JSON inside rows, JSON inside JSON, lists, escaped spellings) never reach the file."""

from __future__ import annotations

import json

from hybridsync.engine.runtime.snapshot import write_snapshot

SECRET = "tok-Planted-S3cret-77"
LAPS = "LapsPlanted-Pw-99"


class FakeStore:
    def __init__(self, rows):
        self.rows = rows

    def dump(self, fp):
        fp.write(json.dumps({"format": "hybridsync-store", "version": 1}) + "\n")
        for table, row in self.rows:
            fp.write(json.dumps({"t": table, "r": row}) + "\n")


def planted_rows():
    ad = {"dn": "CN=a", "attributes": {"cn": ["a"], "ms-Mcs-AdmPwd": [LAPS], "unicodePwd": ["x"]}}
    batch = {"source": "corp", "objects": [ad], "cursor": {"note": f"Bearer {SECRET}"}}
    call = {"op": "create", "key": "k", "result": {"type": "retry", "why": f"refused b'Bearer {SECRET}\\n'"}}
    history = {"detail": json.dumps({"why": repr(SECRET), "nested": json.dumps({"deep": [SECRET]})})}
    return [
        ("objects", {"anchor": "a", "attributes": json.dumps(ad["attributes"])}),  # top level JSON text
        ("batches", {"cycle_id": 1, "doc": json.dumps(batch)}),                     # JSON with nested dicts
        ("target_calls", {"cycle_id": 1, "doc": json.dumps(call)}),                 # escaped form
        ("history", {"id": 1, "detail": json.dumps(history)}),                       # JSON in JSON in JSON
        ("target_states", {"projection": {"userName": "a", "password": LAPS}, "last_error": SECRET}),
        ("observations", {"values": [[{"ms-mcs-admpwd": LAPS}]]}),                   # lists, other case
    ]


def test_secrets_planted_at_every_depth_never_reach_the_snapshot(tmp_path):
    out = tmp_path / "snap.jsonl"
    n = write_snapshot(FakeStore(planted_rows()), out, config_text=f"# {SECRET}\n", secrets=[SECRET])
    text = out.read_text()
    assert SECRET not in text and LAPS not in text
    assert "S3cret" not in text and "Planted" not in text  # no escaped or repr spelling either
    assert "unicodePwd" not in text and "ms-Mcs-AdmPwd" not in text.replace("\\\\", "")
    header = json.loads(text.splitlines()[0])
    assert header["redactions"] == n >= 8
    assert '"cn"' in text or "cn" in text  # the rest is kept


def test_a_clean_store_is_copied_unchanged(tmp_path):
    rows = [("objects", {"anchor": "a", "attributes": json.dumps({"cn": ["a"]})})]
    out = tmp_path / "snap.jsonl"
    assert write_snapshot(FakeStore(rows), out, config_text="", secrets=[SECRET]) == 0
    lines = out.read_text().splitlines()[1:]
    assert json.loads(lines[1]) == {"t": "objects", "r": rows[0][1]}

"""State store benchmark: bytes per object at 20k and 100k objects, commit-unit throughput.

    .venv/bin/python bench/statestore_bench.py [--sizes 20000,100000] [--units 300]

Each object is a realistic user (15 attributes, ~600 bytes of JSON) plus its target state
(projection ~300 bytes) and one DN-history row; every 50th object is a group of 40 members (in
both member side tables). "Bytes per object" = file size (after a WAL checkpoint) / objects,
so it includes target state, indexes and history of the DN, but no provisioning log.

Throughput: commit units as the engine writes them (object + target state + decision in history
+ CAS watermark advance, one ``atomic()`` each), with synchronous=FULL and NORMAL.
Goal: <= 2 KB per object (issue 8, P5).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from hybridsync.engine.core.values import (
    Action,
    ActionKind,
    ObjectKind,
    ObjectState,
    Reason,
    Refresh,
    TargetState,
    UsnWatermark,
    guid_to_anchor,
)
from hybridsync.statestore import Store

sys.path.insert(0, str(Path(__file__).parent))
from common import result  # noqa: E402


def make(i: int) -> tuple[ObjectState, TargetState]:
    anchor = guid_to_anchor(i.to_bytes(16, "little"))
    group = i % 50 == 0
    name = f"user{i:06d}"
    ou = f"OU=Dept{i % 40},OU=Staff,DC=lab,DC=test"
    attrs = {
        "samaccountname": name,
        "userprincipalname": f"{name}@lab.test",
        "displayname": f"User Number {i} (Dept {i % 40})",
        "givenname": f"Given{i}",
        "sn": f"Surname{i}",
        "mail": f"{name}@lab.test",
        "department": f"Department {i % 40}",
        "title": "Senior Engineer",
        "telephonenumber": f"+1 555 {i % 10000:04d}",
        "company": "Lab Test Inc.",
        "employeeid": f"E{i:07d}",
        "useraccountcontrol": "512",
        "objectclass": ["top", "person", "organizationalPerson", "user"],
        "whenchanged": "20261123120000.0Z",
        "objectsid": f"S-1-5-21-1004336348-1177238915-682003330-{1000 + i}",
    }
    members = frozenset(guid_to_anchor((i + k).to_bytes(16, "little")) for k in range(1, 41)) if group else frozenset()
    obj = ObjectState(source="corp", anchor=anchor, object_guid=anchor,
                      kind=ObjectKind.GROUP if group else ObjectKind.USER,
                      dn=f"CN={name},{ou}", attributes=attrs, members=members, usn=10_000 + i,
                      last_seen_round=1)
    proj = {"userName": f"{name}@lab.test", "displayName": attrs["displayname"],
            "name.givenName": attrs["givenname"], "name.familyName": attrs["sn"],
            "emails[type eq \"work\"].value": attrs["mail"], "active": True,
            "externalId": anchor, "title": attrs["title"],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": attrs["department"]}
    ts = TargetState(anchor=anchor, target="app", kind=obj.kind, state="provisioned",
                     target_id=f"{i:08x}-0000-4000-8000-000000000000", projection=proj,
                     members_sent=members)
    return obj, ts


def fill(path: Path, n: int) -> float:
    t0 = time.perf_counter()
    with Store.open(path, synchronous="NORMAL") as s:
        for start in range(0, n, 1000):
            with s.atomic():
                for i in range(start, min(n, start + 1000)):
                    obj, ts = make(i)
                    s.put_object(obj)
                    s.put_target_state(ts)
        s._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return time.perf_counter() - t0


def units(path: Path, count: int, synchronous: str) -> float:
    with Store.open(path, synchronous=synchronous) as s:
        cursor = s.get_cursor("corp")
        base = cursor.usn if isinstance(cursor, UsnWatermark) else 0
        t0 = time.perf_counter()
        for k in range(1, count + 1):
            obj, ts = make(base + k)
            with s.atomic():
                s.put_object(obj)
                s.put_target_state(ts)
                s.record_decision(1, Action(kind=ActionKind.UPDATE, target="app", anchor=obj.anchor,
                                            object_kind=obj.kind, reasons=(Reason("mapping.displayName"),)),
                                  result="done", status=200)
                new = UsnWatermark("dc1", base + k)
                s.advance_watermark("corp", "dc1", cursor, new)
                cursor = new
        return count / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="20000,100000")
    ap.add_argument("--units", type=int, default=300)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.sizes.split(",")):
            path = Path(tmp) / f"s{n}.db"
            secs = fill(path, n)
            size = os.path.getsize(path)
            per = size / n
            verdict = "OK" if per <= 2048 else "MISSES the 2 KB goal"
            print(f"{n:>7} objects: {size / 1e6:7.1f} MB, {per:6.0f} bytes/object ({verdict}); "
                  f"bulk fill {n / secs:,.0f} objects/s")
            result(f"store_bytes_per_object_{n}", round(per), "<= 2048", per <= 2048)
            with Store.open(path) as s:
                t0 = time.perf_counter()
                count = sum(1 for _ in s.iter_objects("corp"))
                scan = time.perf_counter() - t0
                anchors = [guid_to_anchor(k.to_bytes(16, "little")) for k in range(0, n, n // 1000)]
                t0 = time.perf_counter()
                for anchor in anchors:
                    assert s.get_object("corp", anchor) is not None
                point = (time.perf_counter() - t0) / len(anchors)
                t0 = time.perf_counter()
                got = s.get_objects("corp", anchors)
                batch = (time.perf_counter() - t0) / len(got)
            print(f"         iter_objects {count / scan:,.0f} objects/s; get_object {point * 1e6:.0f} us; "
                  f"get_objects (1000 anchors) {batch * 1e6:.0f} us/object")
        path = Path(tmp) / "units.db"
        Store.open(path).close()
        for sync in ("FULL", "NORMAL"):
            rate = units(path, args.units, sync)
            print(f"commit units (object + target state + decision + CAS watermark), "
                  f"synchronous={sync}: {rate:,.0f} units/s")
        with Store.open(path) as s:
            s.advance_watermark("corp", "dc1", s.get_cursor("corp"), Refresh("bench done"))


if __name__ == "__main__":
    main()

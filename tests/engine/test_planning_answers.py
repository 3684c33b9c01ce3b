"""How ``runtime.planning.PagePlanner`` answers the planner's member questions from the store:
members whose anchor is their objectGUID in one query per part (issue 17, P2 CPU), every other
one by objectGUID -- an anchor that is another object's objectGUID (a consistency GUID carried
over from a migrated object) never answers for that GUID."""

from __future__ import annotations

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.values import ObjectKind, SourceObject
from hybridsync.statestore import Store

from .enginekit import STAFF, guid, make_engine, user


def test_a_member_guid_resolves_to_its_object_not_to_the_object_anchored_by_it(tmp_path):
    src = MemorySource(page_size=2)
    # u1 is anchored by a consistency GUID that is u3's objectGUID; u3 is anchored by its own
    migrated = user(1)
    src.put(SourceObject(anchor=guid(3), object_guid=guid(1), kind=ObjectKind.USER, dn=migrated.dn,
                         attributes=migrated.attributes))
    src.put(user(2))
    third = user(3)
    src.put(SourceObject(anchor=guid(4), object_guid=guid(3), kind=ObjectKind.USER, dn=third.dn,
                         attributes=third.attributes))
    src.put(user(5))
    src.put(SourceObject(anchor=guid(9), object_guid=guid(9), kind=ObjectKind.GROUP, dn=f"CN=g9,{STAFF}",
                         attributes={"cn": "g9", "samaccountname": "g9"}, members=frozenset({guid(3)})))
    tgt = MemoryTarget("app")
    engine = make_engine(src, {"app": tgt}, store=Store.open(str(tmp_path / "s.db")))
    assert engine.run_once().failed == 0
    engine.close()
    names = {tid: r["attributes"].get("userName") for tid, r in tgt.store.items()}
    group = next(r for r in tgt.store.values() if r["kind"] == ObjectKind.GROUP)
    assert {names[m] for m in group["members"]} == {"u3@lab.test"}  # objectGUID 3 is u3, not u1

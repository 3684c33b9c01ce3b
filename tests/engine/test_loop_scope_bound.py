"""A source with no include_ous is bounded by its base_dn: deltas from the naming-context root
(DirSync) carry objects outside it, and those are never provisioned."""

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget

from .enginekit import BASE, guid, make_engine, user, users_at

OUTSIDE = "OU=Staff,DC=elsewhere,DC=test"


def test_without_include_ous_nothing_outside_base_dn_is_provisioned_in_full_or_delta_reads():
    src, tgt = MemorySource(), MemoryTarget()
    src.put(user(1))
    src.put(user(2, ou=BASE))
    src.put(user(3, ou=OUTSIDE))
    engine = make_engine(src, {"app": tgt}, include=())
    engine.run_once()
    assert sorted(users_at(tgt)) == ["u1@lab.test", "u2@lab.test"]

    src.put(user(4, ou=OUTSIDE))  # a delta carrying an object outside base_dn
    src.put(user(5, ou=f"OU=New,{BASE}"))
    engine.run_once()
    assert sorted(users_at(tgt)) == ["u1@lab.test", "u2@lab.test", "u5@lab.test"]
    assert engine.store.get_target_state("app", guid(4)) is None or \
        engine.store.get_target_state("app", guid(4)).target_id is None


def test_an_object_moved_out_of_base_dn_leaves_scope():
    src, tgt = MemorySource(), MemoryTarget()
    src.put(user(1))
    engine = make_engine(src, {"app": tgt}, include=())
    engine.run_once()
    src.move(guid(1), f"CN=u1,{OUTSIDE}")
    engine.run_once()
    st = engine.store.get_target_state("app", guid(1))
    assert st.state == "soft_deleted"
    assert [r["active"] for r in users_at(tgt).values()] == [False]

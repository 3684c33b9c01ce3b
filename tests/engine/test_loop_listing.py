"""A target offering a complete listing (list_objects) answers a first sync's soft-match
questions without a lookup per object."""

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.runtime.targetview import Listing, build_view
from hybridsync.engine.plan.planner import Lookup
from hybridsync.engine.core.values import ObjectKind

from .enginekit import guid, make_engine, user, users_at


class OwnedOnlyTarget(MemoryTarget):
    """A target without list_objects (only list_owned): the old behaviour."""

    list_objects = None


def lookups(target: MemoryTarget) -> int:
    return sum(1 for op, _ in target.calls if op.startswith("lookup"))


def test_a_first_sync_of_new_users_makes_no_per_object_lookups_when_a_complete_listing_exists():
    src, tgt = MemorySource(), MemoryTarget()
    for n in range(1, 61):
        src.put(user(n))
    foreign = tgt.seed(ObjectKind.USER, {"userName": "u7@lab.test"})  # an unowned twin: soft-matched
    engine = make_engine(src, {"app": tgt})
    engine.run_once()
    assert lookups(tgt) == 0
    assert ("list_objects", "user") in tgt.calls
    assert len(users_at(tgt)) == 60
    st = engine.store.get_target_state("app", guid(7))
    assert st.target_id == foreign  # the listing's candidate was used, not a duplicate created


def test_without_a_complete_listing_unmatched_questions_are_asked_per_object():
    src, tgt = MemorySource(), OwnedOnlyTarget()
    for n in range(1, 11):
        src.put(user(n))
    engine = make_engine(src, {"app": tgt})
    engine.run_once()
    assert len(users_at(tgt)) == 10
    assert lookups(tgt) >= 10 and not any(op == "list_objects" for op, _ in tgt.calls)


def test_a_complete_listing_answers_no_candidate_and_an_owned_listing_does_not():
    tgt = MemoryTarget()
    tgt.seed(ObjectKind.USER, {"userName": "taken@lab.test"})
    qs = [Lookup("app", ObjectKind.USER, "externalId", "AAA="),
          Lookup("app", ObjectKind.USER, "userName", "free@lab.test"),
          Lookup("app", ObjectKind.USER, "userName", "TAKEN@lab.test")]
    complete = Listing()
    complete.load(tgt, ObjectKind.USER, ["userName"])
    before = lookups(tgt)
    res = build_view(tgt, qs, lambda tid, kind: None, listing=complete)
    assert lookups(tgt) == before and [o.attributes["userName"] for o in res.view.objects] == ["taken@lab.test"]

    owned = Listing()
    owned.load(OwnedOnlyTarget(), ObjectKind.USER, ["userName"])
    assert not owned.complete(ObjectKind.USER)
    build_view(tgt, qs, lambda tid, kind: None, listing=owned)
    assert lookups(tgt) == before + 2


def test_a_listing_that_fails_falls_back_to_lookups():
    class Broken(MemoryTarget):
        def list_objects(self, kind):
            yield from ()
            raise ConnectionResetError("reset")

    tgt = Broken()
    listing = Listing()
    listing.load(tgt, ObjectKind.USER, ["userName"])
    assert ObjectKind.USER not in listing.kinds
    res = build_view(tgt, [Lookup("app", ObjectKind.USER, "userName", "x@lab.test")], lambda tid, kind: None,
                     listing=listing)
    assert lookups(tgt) == 1 and not res.failures

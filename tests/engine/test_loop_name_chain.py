"""Issue 20: unique names freed and taken in one delta, on the in-memory source and target."""

from __future__ import annotations

import attrs
import pytest

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.values import ObjectKind

from .enginekit import STAFF, Clock, group, guid, make_engine, user


def _names(tgt: MemoryTarget) -> dict[str, str]:
    """externalId -> displayName of the target's groups that hold members or are live."""
    return {r["external_id"]: r["attributes"].get("displayName") for r in tgt.store.values()
            if r["kind"] == ObjectKind.GROUP}


def _rename(src: MemorySource, n: int, name: str) -> None:
    old = src._objects[guid(n)]
    src.put(attrs.evolve(old, dn=f"CN={name},{STAFF}", attributes={**old.attributes, "cn": (name,),
                                                                    "samaccountname": (name,)}))


def test_a_group_created_with_the_name_a_group_of_ours_leaves_for_a_soft_deleted_groups_name():
    """Group 11 leaves its name g11 for g10, still held by soft-deleted group 10 (deleted early,
    ``converge.name_taken``, the rename follows); group 12 is created as g11 in the same delta:
    its create met g11 still held by group 11, a dispute with an object whose rename waits for a
    follow-up -- planned again with it, not left disputed."""
    src, tgt, clock = MemorySource(), MemoryTarget(), Clock()
    src.put(user(1))
    src.put(group(10, members=[1]))
    src.put(group(11, members=[1]))
    engine = make_engine(src, {"app": tgt}, clock=clock)
    assert engine.run_once().exit_code() == 0
    src.delete(guid(10))
    clock.advance(minutes=1)
    assert engine.run_once().exit_code() == 0  # group 10: soft-deleted, still holds g10
    _rename(src, 11, "g10")
    new = group(12, members=[1])
    src.put(attrs.evolve(new, dn=f"CN=g11,{STAFF}", attributes={"cn": ("g11",), "samaccountname": ("g11",)}))
    for _ in range(2):
        clock.advance(minutes=1)
        engine.run_once()
    names = _names(tgt)
    assert names.get(guid(11)) == "g10" and names.get(guid(12)) == "g11", names
    clock.advance(minutes=1)
    assert set(engine.run_once().counts) <= {"noop"}


@pytest.mark.xfail(strict=True, reason="issue 20, open: two live groups of ours swapping names in one delta "
                                       "are both disputed (each holds the other's new name); a temporary "
                                       "name would break the cycle")
def test_two_groups_swapping_names_in_one_delta_get_them():
    src, tgt, clock = MemorySource(), MemoryTarget(), Clock()
    src.put(group(10))
    src.put(group(11))
    engine = make_engine(src, {"app": tgt}, clock=clock)
    engine.run_once()
    _rename(src, 10, "tmp")
    _rename(src, 11, "g10")
    _rename(src, 10, "g11")
    for _ in range(2):
        clock.advance(minutes=1)
        engine.run_once()
    assert _names(tgt) == {guid(10): "g11", guid(11): "g10"}

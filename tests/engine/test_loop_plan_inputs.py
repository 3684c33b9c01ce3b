"""The engine answers every stored fact the planner reads before it plans (plan/needs.py).

Each test runs the real engine with a strict planner: its input mappings raise on a key the
engine was not asked for (``needs.questions``), so a question the first phase forgets fails here
instead of silently reading "no such object". Covered: manager references across pages,
members stored by an earlier page, nested groups flattened through stored groups.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import attrs
import pytest

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.config import TargetConfig
from hybridsync.engine.core.values import ObjectKind
from hybridsync.engine.plan import planner
from hybridsync.engine.runtime import planning

from .enginekit import STAFF, config, group, guid, make_engine, user

MANAGER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"


class Strict(Mapping):
    """A mapping that refuses a key nobody asked the store for."""

    def __init__(self, data: Mapping[str, Any], what: str):
        self.data, self.what = dict(data), what

    def get(self, key: str, default: Any = None) -> Any:
        if key not in self.data:
            raise AssertionError(f"the planner read {self.what}[{key!r}], which the engine was never asked")
        value = self.data[key]
        return default if value is None else value

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


@pytest.fixture(autouse=True)
def strict_planner(monkeypatch):
    calls = []

    def strict_plan(inp: planner.PlanInput) -> planner.Plan:
        r = inp.refs
        refs = planner.References(Strict(r.anchor_by_guid, "anchor_by_guid"), Strict(r.anchor_by_dn, "anchor_by_dn"),
                                  Strict(r.kind_by_anchor, "kind_by_anchor"),
                                  Strict(r.members_by_guid, "members_by_guid"))
        targets = tuple(attrs.evolve(t, states=Strict(t.states, f"states[{t.config.name}]")) for t in inp.targets)
        calls.append(inp)
        return planner.plan(attrs.evolve(inp, refs=refs, targets=targets))

    class StrictPlanner:
        def __getattr__(self, name: str) -> Any:
            return strict_plan if name == "plan" else getattr(planner, name)

    monkeypatch.setattr(planning, "planner", StrictPlanner())
    yield calls
    assert calls, "the engine did not plan through the strict planner"


def users_by_name(tgt: MemoryTarget) -> dict[str, tuple[str, dict]]:
    return {r["attributes"].get("userName"): (tid, r) for tid, r in tgt.store.items()
            if r["kind"] == ObjectKind.USER}


def test_a_manager_in_a_later_page_is_set_and_cleared_when_the_manager_goes():
    src = MemorySource(page_size=2)
    for i in range(1, 7):
        src.put(user(i, manager=f"CN=u6,{STAFF}") if i == 1 else user(i))
    tgt = MemoryTarget("app")
    engine = make_engine(src, {"app": tgt})
    engine.run_once()
    engine.run_once(full=True)  # the manager was created after its report: set by its next plan
    users = users_by_name(tgt)
    assert users["u1@lab.test"][1]["attributes"].get(MANAGER) == users["u6@lab.test"][0]
    src.delete(guid(6))
    engine.run_once()
    engine.run_once(full=True)
    assert users_by_name(tgt)["u1@lab.test"][1]["attributes"].get(MANAGER) is None


def test_a_group_changed_alone_finds_its_stored_members():
    src = MemorySource(page_size=3)
    for i in range(1, 6):
        src.put(user(i))
    src.put(group(20, members=(1, 2)))
    tgt = MemoryTarget("app")
    engine = make_engine(src, {"app": tgt})
    engine.run_once()
    src.put(group(20, members=(1, 2, 3, 4)))  # a delta carrying only the group
    engine.run_once()
    [g] = [r for r in tgt.store.values() if r["kind"] == ObjectKind.GROUP]
    names = {tgt.store[m]["attributes"]["userName"] for m in g["members"]}
    assert names == {"u1@lab.test", "u2@lab.test", "u3@lab.test", "u4@lab.test"}


def test_nested_groups_are_flattened_through_stored_groups():
    src = MemorySource(page_size=2)
    for i in range(1, 5):
        src.put(user(i))
    src.put(group(30, members=(1, 2)))
    src.put(group(31, members=(30, 3)))  # 31 holds 30 (users 1, 2) and user 3
    cfg = config()
    flat = attrs.evolve(cfg, targets=(TargetConfig(name="app", kind="memory", object_types=("user", "group"),
                                                   nested_groups="flatten"),))
    tgt = MemoryTarget("app")
    engine = make_engine(src, {"app": tgt})
    engine.config = flat
    engine.run_once()
    src.put(group(31, members=(30, 3, 4)))  # only 31 changes: 30's members come from the store
    engine.run_once()
    groups = {r["attributes"]["displayName"]: r for r in tgt.store.values() if r["kind"] == ObjectKind.GROUP}
    names = {tgt.store[m]["attributes"]["userName"] for m in groups["g31"]["members"]}
    assert names == {"u1@lab.test", "u2@lab.test", "u3@lab.test", "u4@lab.test"}

"""Issue 20: a dispute against a target object of ours that a later plan of the same delta renames.

A new AD user takes the UPN of a live user of ours that renames away from it in the same delta.
With the create on one page and the rename on the next, the new user's soft match finds the
live holder in the first plan (disputed); the holder's rename, applied by the second plan, puts
the target's disputed objects on the cycle's follow-up list (``runtime.apply``), and the new user
is created with its name. A holder that keeps the name leaves the dispute alone: no cycle after
plans it again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.config import Config, SafetyConfig, ScopeConfig, SourceConfig, TargetConfig
from hybridsync.engine.core.states import State
from hybridsync.engine.core.values import ObjectKind, SourceObject
from hybridsync.engine.runtime.engine import Engine
from hybridsync.statestore import Store

BASE = "DC=lab,DC=test"
STAFF = f"OU=Staff,{BASE}"


def _user(n: int, upn: str) -> SourceObject:
    guid = f"guid-{n:04d}"
    return SourceObject(anchor=guid, object_guid=guid, kind=ObjectKind.USER, dn=f"CN=user{n},{STAFF}",
                        attributes={"userprincipalname": (upn,), "samaccountname": (f"user{n}",),
                                    "cn": (f"user{n}",), "displayname": (f"User {n}",),
                                    "useraccountcontrol": ("512",)})


class _Lab:
    def __init__(self) -> None:
        self.src, self.tgt = MemorySource(page_size=1), MemoryTarget("app")
        self.now = datetime(2026, 1, 1, tzinfo=UTC)
        config = Config(
            sources=(SourceConfig(name="corp", kind="memory", base_dn=BASE, poll_interval=0.05,
                                  scope=ScopeConfig(include_ous=(STAFF,))),),
            targets=(TargetConfig(name="app", kind="memory", object_types=("user",)),),
            safety=SafetyConfig(delete_threshold=10_000, soft_delete_days=30))
        self.engine = Engine(config, store=Store.open(":memory:"), sources={"corp": self.src},
                             targets={"app": self.tgt}, clock=lambda: self.now, record=False)

    def cycle(self) -> dict[str, int]:
        self.now += timedelta(minutes=1)
        return dict(self.engine.run_once().counts)

    def state(self, anchor: str) -> State:
        ts = self.engine.store.get_target_state("app", anchor)
        assert ts is not None
        return ts.state

    def name(self, anchor: str) -> str | None:
        found = [r for r in self.tgt.store.values() if r["external_id"] == anchor]
        assert len(found) == 1, found
        return found[0]["attributes"].get("userName")


def _seeded() -> _Lab:
    lab = _Lab()
    lab.src.put(_user(1, "alice@lab.test"))
    lab.cycle()
    assert lab.name("guid-0001") == "alice@lab.test"
    return lab


def test_dispute_with_a_holder_renamed_on_a_later_page_resolves() -> None:
    lab = _seeded()
    lab.src.put(_user(2, "alice@lab.test"))  # page 1 of the delta: the new user, on the held name
    lab.src.modify("guid-0001", userprincipalname=("alice.old@lab.test",))  # page 2: the holder renames away
    for _ in range(2):
        lab.cycle()
        if lab.engine.store.get_target_state("app", "guid-0002").state == State.PROVISIONED:
            break
    assert lab.state("guid-0002") == State.PROVISIONED
    assert lab.name("guid-0002") == "alice@lab.test"
    assert lab.name("guid-0001") == "alice.old@lab.test"
    disputed = [d for d in lab.engine.store.decisions(anchor=["guid-0002"]) if d.action is not None
                and d.action.kind == "report" and any(r.rule.startswith("match.soft") for r in d.action.reasons)]
    assert disputed, "the create and the rename were planned in one plan: the scenario needs two"
    assert set(lab.cycle()) <= {"noop"}  # settled


def test_dispute_with_a_holder_that_keeps_the_name_stays_and_is_not_retried() -> None:
    lab = _seeded()
    lab.src.put(_user(2, "alice@lab.test"))
    lab.src.modify("guid-0001", displayname=("Alice A.",))  # a change of the holder, not of its name
    lab.cycle()
    lab.cycle()
    assert lab.state("guid-0002") == State.DISPUTED
    assert lab.name("guid-0001") == "alice@lab.test"
    assert lab.engine.store.get_target_state("app", "guid-0002").target_id is None
    before = len(list(lab.engine.store.decisions(anchor=["guid-0002"])))
    assert lab.cycle() == {}  # a third cycle plans nothing
    assert len(list(lab.engine.store.decisions(anchor=["guid-0002"]))) == before

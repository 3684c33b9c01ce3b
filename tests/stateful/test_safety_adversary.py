"""Issue 14's adversary: a Hypothesis state machine over the in-memory source and target whose
rules are the failures of the issue -- per-object read errors, objects the paged read misses,
lookups by GUID that fail, full and delta reads failing midway, scoping-group-free mass moves
out of scope, deletes without a visible tombstone, a foreign target object sharing a work email,
mass disables in AD itself, and foreign target objects whose userName a new AD user shares while
``[matching] adopt = "approve"``.

Invariants:
- nothing is disabled without evidence: a target user hybridsync disabled is gone from the
  source, out of scope, or disabled in AD (judged for objects whose changes were all read);
- the threshold holds: the access-removing actions applied within the window -- disables from
  scope, absence and AD's own disabled flag, deletes -- never exceed ``delete_threshold``
  (no delete is approved here): beyond it they are held -- a user disabled in AD (whose change
  was read) is disabled at the target or held;
- the foreign object is never modified, and no foreign object a soft match found is modified (nor
  duplicated) before its adoption was approved;
- a watermark never passes an unread change: once the faults stop, a delta and then a full read
  converge the target on the source (every in-scope live user active, with its display name).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.config import SafetyConfig
from hybridsync.engine.core.values import ObjectKind

from tests.engine.enginekit import OTHER, STAFF, Clock, guid, make_engine, user, users_at

N = 12
THRESHOLD = 4
WORK = 'emails[type eq "work"].value'
ids = st.integers(min_value=1, max_value=N)


class Adversary(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.src, self.tgt, self.clock = MemorySource(page_size=5), MemoryTarget(), Clock()
        for i in range(1, N + 1):
            self.src.put(user(i, mail=f"u{i}@lab.test"))
        self.foreign = self.tgt.seed(ObjectKind.USER, {"userName": "admin@cloud.test", WORK: "u1@lab.test",
                                                       "displayName": "Cloud admin"})
        self.foreign_before = dict(self.tgt.store[self.foreign]["attributes"])
        self.engine = make_engine(self.src, {"app": self.tgt}, clock=self.clock,
                                  safety=SafetyConfig(delete_threshold=THRESHOLD, adopt="approve"))
        self.engine.run_once()
        self.gone: set[int] = set()  # deleted or vanished in the source
        self.unsettled: set[str] = set()  # anchors changed since the last cycle that read everything
        self.counter = 100
        self.tainted: set[str] = set()  # broken or hidden at some point: judged after a clean full read
        self.twins: dict[str, dict] = {}  # foreign target id -> its attributes before any approval
        self.approved_twins: set[str] = set()

    # ---- the source changes (legitimate) --------------------------------------------------
    @rule(i=ids)
    def rename(self, i: int) -> None:
        if i not in self.gone:
            self.counter += 1
            self.src.modify(guid(i), displayName=f"Renamed {self.counter}")
            self.unsettled.add(guid(i))

    @rule(i=ids)
    def move_out(self, i: int) -> None:
        if i not in self.gone:
            self.src.move(guid(i), f"CN=u{i},{OTHER}")
            self.unsettled.add(guid(i))

    @rule(i=ids)
    def move_back(self, i: int) -> None:
        if i not in self.gone:
            self.src.move(guid(i), f"CN=u{i},{STAFF}")
            self.unsettled.add(guid(i))

    @rule(i=ids, visible=st.booleans())
    def delete(self, i: int, visible: bool) -> None:
        if i not in self.gone:
            (self.src.delete if visible else self.src.vanish)(guid(i))
            self.gone.add(i)

    @rule(start=ids, count=st.integers(min_value=1, max_value=N))
    def mass_disable_in_ad(self, start: int, count: int) -> None:
        for i in range(start, min(N, start + count - 1) + 1):
            if i not in self.gone:
                self.src.modify(guid(i), userAccountControl="514")
                self.unsettled.add(guid(i))

    @rule(i=ids)
    def enable_in_ad(self, i: int) -> None:
        if i not in self.gone:
            self.src.modify(guid(i), userAccountControl="512")
            self.unsettled.add(guid(i))

    @rule()
    def foreign_twin_appears(self) -> None:
        """A cloud-only object, then an AD user with the same userName: a soft match to approve."""
        n = 200 + len(self.twins)
        if len(self.twins) < 3:
            tid = self.tgt.seed(ObjectKind.USER, {"userName": f"u{n}@lab.test", "displayName": f"Cloud {n}"})
            self.twins[tid] = dict(self.tgt.store[tid]["attributes"])
            self.src.put(user(n))

    @rule()
    def approve_adoptions(self) -> None:
        self.approved_twins |= {h.target_id for h in self.engine.pending_adoptions()}
        self.engine.approve_adoptions()

    # ---- the failures ----------------------------------------------------------------------
    @rule(i=ids)
    def break_object(self, i: int) -> None:
        self.src.broken.add(guid(i))
        self.tainted.add(guid(i))

    @rule(i=ids)
    def miss_in_paged_read(self, i: int) -> None:
        self.src.hidden.add(guid(i))
        self.tainted.add(guid(i))

    @rule(i=ids)
    def lookup_fails(self, i: int) -> None:
        self.src.lookup_fails.add(guid(i))

    @rule(pages=st.integers(min_value=0, max_value=2))
    def full_read_fails(self, pages: int) -> None:
        self.src.fail_full_read_after_pages = pages
        self._settle(self.engine.run_once(full=True))
        self.src.fail_full_read_after_pages = None

    @rule(pages=st.integers(min_value=0, max_value=1))
    def delta_fails(self, pages: int) -> None:
        self.src.fail_delta_after_pages = pages
        self._settle(self.engine.run_once())
        self.src.fail_delta_after_pages = None

    @rule()
    def heal(self) -> None:
        self.src.broken.clear(); self.src.hidden.clear(); self.src.lookup_fails.clear()

    # ---- cycles -------------------------------------------------------------------------------
    @rule(full=st.booleans(), minutes=st.integers(min_value=0, max_value=600))
    def cycle(self, full: bool, minutes: int) -> None:
        self.clock.advance(minutes=minutes)
        self._settle(self.engine.run_once(full=full), full=full)

    def _settle(self, report, full: bool = False) -> None:
        if not report.source_errors:  # every change so far was read: the target may be judged
            self.unsettled.clear()
            if full:  # an object that errored (or was missed) before has been read again
                self.tainted &= self.src.broken | self.src.hidden

    # ---- invariants ---------------------------------------------------------------------------
    @invariant()
    def nothing_disabled_without_evidence(self) -> None:
        live = {o.anchor: o for o in self.src.objects()}
        for r in self.tgt.store.values():
            if r["kind"] != ObjectKind.USER or r["active"] or r["external_id"] in (None, *self.unsettled, *self.tainted):
                continue
            obj = live.get(r["external_id"])
            assert obj is None or STAFF not in obj.dn or obj.get("userAccountControl") == ("514",), r

    @invariant()
    def an_ad_disable_is_applied_or_held(self) -> None:
        held = {h.anchor for h in self.engine.store.held("app", include_approved=True)}
        at_target = {r["external_id"]: r for r in self.tgt.store.values() if r["external_id"]}
        skip = self.unsettled | self.tainted
        for obj in self.src.objects():
            if STAFF not in obj.dn or obj.get("userAccountControl") != ("514",) or obj.anchor in skip:
                continue
            rec = at_target.get(obj.anchor)
            assert rec is None or not rec["active"] or obj.anchor in held, obj.dn

    @invariant()
    def no_foreign_object_is_adopted_before_approval(self) -> None:
        for tid, before in self.twins.items():
            rec = self.tgt.store[tid]
            if tid not in self.approved_twins:
                assert rec["attributes"] == before and rec["external_id"] is None and rec["active"], rec
            name = before["userName"]
            assert sum(1 for r in self.tgt.store.values() if r["attributes"].get("userName") == name) == 1, name

    @invariant()
    def the_threshold_holds_over_the_window(self) -> None:
        since = self.clock.t - timedelta(seconds=self.engine.config.safety.delete_threshold_window)
        assert self.engine.store.access_removals("app", since) <= THRESHOLD

    @invariant()
    def the_foreign_object_is_never_modified(self) -> None:
        rec = self.tgt.store[self.foreign]
        assert rec["attributes"] == self.foreign_before and rec["active"] and rec["external_id"] is None

    def teardown(self) -> None:
        # no unread change is lost: with the faults gone, a delta then a full read converge
        self.heal()
        self.engine.run_once()
        self.engine.run_once(full=True)
        self.engine.store.approve_held("app", by="adversary")
        self.approve_adoptions()
        self.clock.advance(days=2)
        self.engine.run_once(full=True)
        have = users_at(self.tgt)
        for obj in self.src.objects():
            if STAFF in obj.dn:
                name = obj.get("userPrincipalName")[0]
                assert name in have and have[name]["active"] == (obj.get("userAccountControl") != ("514",)), name
                assert have[name]["attributes"].get("displayName") == obj.get("displayName")[0], name
        self.engine.close()


Adversary.TestCase.settings = settings(settings.default, stateful_step_count=25)
TestAdversary = Adversary.TestCase
pytestmark = pytest.mark.filterwarnings("ignore")

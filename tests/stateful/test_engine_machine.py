"""A Hypothesis state machine over the whole engine: AD edits on the real Samba DC, sync cycles,
crashes mid-apply and target faults, against the real scim2-server.

Invariants: after a clean cycle the SCIM server holds exactly the projection of the in-scope AD
objects; the stored watermark's version never goes backwards; no externalId is held twice; the
foreign object hybridsync never created or adopted is never touched.
"""

from __future__ import annotations

import itertools
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from hybridsync.connectors.scim import ScimTarget
from hybridsync.connectors.testing.faults import Fault, FaultTransport
from hybridsync.engine.lab import seed
from hybridsync.engine.runtime.engine import Engine
from hybridsync.statestore import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from kit import PASSWORD_ENV, assert_projection, e2e_config  # noqa: E402  (tests/e2e/kit.py)

pytestmark = [pytest.mark.samba, pytest.mark.scim, pytest.mark.slow]
COUNTER = itertools.count()


class Crash(BaseException):
    """Stands for kill -9: raised out of a target call after the call landed."""


class CrashingTarget:
    """Wraps a target; after ``arm(n)``, the n-th write lands and then the process 'dies'."""

    WRITES = {"create", "update", "disable", "restore", "delete", "add_members", "remove_members"}
    call_grace = 0.0  # the 'death' is in-process and synchronous: no call of it is still in flight

    def __init__(self, inner):
        self.inner, self.name, self.left = inner, inner.name, None

    def arm(self, n: int) -> None:
        self.left = n

    def __getattr__(self, attr):
        fn = getattr(self.inner, attr)
        if attr not in self.WRITES:
            return fn

        def call(*a, **k):
            result = fn(*a, **k)
            if self.left is not None:
                self.left -= 1
                if self.left <= 0:
                    self.left = None
                    raise Crash()
            return result
        return call


class EngineMachine(RuleBasedStateMachine):
    dc = scim = conn = tmp = None  # set by the test below

    def __init__(self):
        super().__init__()
        n = next(COUNTER)
        self.ou = seed.add_ou(self.conn, f"OU=Tests,{self.dc.base_dn}", f"m-{uuid.uuid4().hex[:6]}")
        self.staff = seed.ensure_ou(self.conn, self.ou, "Staff")
        self.other = seed.ensure_ou(self.conn, self.ou, "Other")
        self.tag = self.ou.split(",")[0].split("=")[1]
        self.users: list[str] = []
        self.group = seed.add_group(self.conn, self.staff, f"G {self.tag}")
        self.scim.reset()
        self.foreign = self.scim.backdoor.seed("User", [{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                                         "userName": f"foreign-{self.tag}@elsewhere.test"}])[0]
        self.config = e2e_config(self.dc, self.scim, self.ou, str(self.tmp / f"m{n}.db"))
        self.faults = FaultTransport()
        self.store_path = self.config.state.path
        self._now = datetime.now(UTC)
        self._open()
        self.version = 0
        self.clean = False

    @property
    def now(self):
        return self._now

    def _open(self):
        client = httpx.Client(transport=self.faults, timeout=30)
        self.target = CrashingTarget(ScimTarget(self.config.targets[0], client=client))
        self.engine = Engine(self.config, store=Store.open(self.store_path), targets={"app": self.target},
                             clock=lambda: self.now)

    def teardown(self):
        self.engine.close()

    # ---------------------------------------------------------------- AD edits
    @rule(disabled=st.booleans())
    def add_user(self, disabled):
        i = len(self.users)
        self.users.append(seed.add_user(self.conn, self.staff, f"M{i} {self.tag}", sam=f"{self.tag[:8]}m{i}",
                                        upn=f"m{i}.{self.tag}@lab.test", sn=f"S{i}", enabled=not disabled))
        self.clean = False

    def _live(self):
        return [d for d in self.users if d is not None]

    @precondition(lambda self: self._live())
    @rule(data=st.data(), title=st.sampled_from(["Eng", "Ops", "Zoë Ñ"]))
    def modify(self, data, title):
        seed.set_attrs(self.conn, data.draw(st.sampled_from(self._live())), title=title)
        self.clean = False

    @precondition(lambda self: self._live())
    @rule(data=st.data(), disable=st.booleans())
    def toggle(self, data, disable):
        dn = data.draw(st.sampled_from(self._live()))
        (seed.disable_user if disable else seed.enable_user)(self.conn, dn)
        self.clean = False

    @precondition(lambda self: self._live())
    @rule(data=st.data())
    def move(self, data):
        i = self.users.index(data.draw(st.sampled_from(self._live())))
        parent = self.other if self.users[i].endswith(self.staff) else self.staff
        self.users[i] = seed.move(self.conn, self.users[i], parent)
        self.clean = False

    @precondition(lambda self: self._live())
    @rule(data=st.data())
    def delete(self, data):
        i = self.users.index(data.draw(st.sampled_from(self._live())))
        seed.delete(self.conn, self.users[i])
        self.users[i] = None
        self.clean = False

    @precondition(lambda self: self._live())
    @rule(data=st.data(), add=st.booleans())
    def membership(self, data, add):
        dn = data.draw(st.sampled_from(self._live()))
        try:
            (seed.add_members if add else seed.remove_members)(self.conn, self.group, [dn])
        except Exception:  # already a member / not a member: AD refuses, nothing changed
            pass
        self.clean = False

    # ---------------------------------------------------------------- engine
    @rule()
    def sync_cycle(self):
        self._now += timedelta(hours=1)  # every escrow retry and quarantine backoff is due by now
        report = self.engine.run_once()
        self.clean = report.exit_code() == 0
        if self.clean:  # a cycle with no failures: the target now equals the projection
            assert_projection(self.conn, self.ou, self.scim.backdoor)

    @rule(n=st.integers(1, 4))
    def crash_mid_apply(self, n):
        self.target.arm(n)
        try:
            self.engine.run_once()
        except Crash:
            self.engine.store.close()  # the process died: reopen everything from disk
            self._open()
        self.target.left = None
        self.clean = False

    @rule(kind=st.sampled_from(["500", "429", "reset"]), times=st.integers(1, 3))
    def target_fault(self, kind, times):
        fault = {"500": Fault.status_code(500), "429": Fault.status_code(429, headers={"Retry-After": "0"}),
                 "reset": Fault.reset()}[kind]
        self.faults.add(fault, times=times)
        self.engine.run_once()
        self.faults.clear()
        self.clean = False

    # ---------------------------------------------------------------- invariants
    @invariant()
    def watermark_never_moves_backwards(self):
        rows = self.engine.store.watermarks("corp")
        v = max((w.version for w in rows), default=0)
        assert v >= self.version
        self.version = v

    @invariant()
    def no_duplicate_external_ids_and_the_foreign_object_is_untouched(self):
        users = self.scim.backdoor.resources("User")
        ext = Counter(u.get("externalId") for u in users if u.get("externalId"))
        assert [e for e, c in ext.items() if c > 1] == []
        assert self.scim.backdoor.get(self.foreign["id"]) == self.foreign


def test_engine_state_machine(samba_dc, scim_server, ad_conn, tmp_path, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, samba_dc.admin_password)
    EngineMachine.dc, EngineMachine.scim, EngineMachine.conn, EngineMachine.tmp = samba_dc, scim_server, ad_conn, tmp_path
    import os

    nightly = os.environ.get("HYPOTHESIS_PROFILE") == "nightly"
    run_state_machine_as_test(EngineMachine, settings=settings(
        max_examples=int(os.environ.get("HS_MACHINE_EXAMPLES", 40 if nightly else 3)), stateful_step_count=25 if nightly else 8, deadline=None,
        suppress_health_check=list(HealthCheck), derandomize=not nightly))

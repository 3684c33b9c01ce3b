"""Drift through delta links kept between cycles (delta-query-overview, user-delta): a change made
in the tenant on an owned object is read by the next cycle from the kept deltaLink and put back;
a deleted owned object comes back; the links survive a restart (the target profile in the state
store); an expired link falls back to a full round."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from hybridsync.connectors.entra import EntraTarget
from hybridsync.connectors.entra.delta import Changes
from hybridsync.connectors.testing.memory import MemorySource
from hybridsync.engine.core.config import Config, ScopeConfig, SourceConfig, StateConfig
from hybridsync.engine.core.values import ObjectKind as K
from hybridsync.engine.core.values import SourceObject
from hybridsync.engine.runtime.engine import Engine
from hybridsync.statestore import Store

from .conftest import entra_config

BASE = "DC=lab,DC=test"
STAFF = f"OU=Staff,{BASE}"


def guid(i: int) -> str:
    return base64.b64encode(i.to_bytes(16, "big")).decode()


def ad_user(i: int) -> SourceObject:  # a sAMAccountName Graph cannot take as mailNickname as is
    return SourceObject(anchor=guid(i), object_guid=guid(i), kind=K.USER, dn=f"CN=u{i},{STAFF}", attributes={
        "userprincipalname": f"u{i}@contoso.onmicrosoft.com", "samaccountname": f"u {i}(x)", "cn": f"u{i}",
        "displayname": f"User {i}", "title": f"Title {i}", "useraccountcontrol": "512"})


class Clock:
    def __init__(self) -> None:
        self.t = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.t


class Lab:
    def __init__(self, fake, tmp_path):
        self.clock = Clock()
        self.fake, self.path = fake, str(tmp_path / "state.db")
        self.source = MemorySource()
        for i in (1, 2, 3):
            self.source.put(ad_user(i))
        self.engine: Engine | None = None
        self.start()

    def start(self) -> None:
        cfg = entra_config(self.fake)
        config = Config(sources=(SourceConfig(name="corp", kind="memory", base_dn=BASE,
                                              scope=ScopeConfig(include_ous=(STAFF,))),),
                        targets=(cfg,), state=StateConfig(path=self.path))
        self.store = Store.open(self.path)
        self.entra = EntraTarget(cfg)
        self.engine = Engine(config, store=self.store, sources={"corp": self.source}, targets={"entra": self.entra},
                             clock=self.clock)

    def stop(self) -> None:
        self.engine.close()
        self.store.close()

    def cycle(self):
        report = self.engine.run_once()
        assert report.exit_code() == 0, report.outcomes
        return report

    def user(self, i: int) -> dict:
        return next(u for u in self.fake.backdoor.users() if u["onPremisesImmutableId"] == guid(i))


@pytest.fixture
def lab(fake, tmp_path):
    lab = Lab(fake, tmp_path)
    yield lab
    lab.stop()


def test_an_attribute_changed_in_the_tenant_is_put_back_by_the_next_cycle(lab, fake):
    lab.cycle()
    lab.cycle()  # the first look sets the delta links (a full round)
    fake.backdoor.cloud_edit(lab.user(2)["id"], jobTitle="Edited in the portal", displayName="Someone else")
    report = lab.cycle()
    assert [o.action for o in report.outcomes] == ["update"]
    assert lab.user(2)["jobTitle"] == "Title 2" and lab.user(2)["displayName"] == "User 2"
    assert [o.action for o in lab.cycle().outcomes] == []  # converged: our own write is no drift


def test_a_disabled_in_the_tenant_owned_user_is_enabled_again(lab, fake):
    lab.cycle()
    lab.cycle()
    fake.backdoor.cloud_edit(lab.user(1)["id"], accountEnabled=False)
    lab.cycle()
    assert lab.user(1)["accountEnabled"] is True


def test_the_kept_link_reads_only_the_changes_since(lab, fake):
    lab.cycle()  # its drift look ran a full round and kept the deltaLink
    assert lab.entra.delta.links["user"].startswith(fake.graph_url + "/users/delta?")
    quiet = lab.entra.read_changes(K.USER)
    assert quiet == Changes(changed=(), removed=(), full=False)
    fake.backdoor.cloud_edit(lab.user(3)["id"], jobTitle="x")
    since = lab.entra.read_changes(K.USER)
    assert isinstance(since, Changes) and not since.full
    assert [o.target_id for o in since.changed] == [lab.user(3)["id"]]


def test_the_links_survive_a_restart_through_the_target_profile(lab, fake):
    lab.cycle()
    lab.cycle()
    link = lab.entra.delta.links["user"]
    assert lab.store.target_profile("entra")["delta_links"]["user"] == link
    lab.stop()
    fake.backdoor.cloud_edit(lab.user(2)["id"], displayName="Changed while we were down")
    lab.start()
    lab.cycle()
    assert lab.user(2)["displayName"] == "User 2"
    assert fake.directory.delta_issued  # the restored link was used: no second full round needed
    assert lab.entra.delta.links["user"] != link


def test_an_expired_link_falls_back_to_a_full_round_and_still_finds_the_drift(lab, fake):
    lab.cycle()
    lab.cycle()
    fake.backdoor.expire_delta_links()
    fake.backdoor.cloud_edit(lab.user(1)["id"], displayName="Drifted")
    got = lab.entra.read_changes(K.USER)
    assert isinstance(got, Changes) and got.full and len(got.changed) == 3
    fake.backdoor.expire_delta_links()
    fake.configure(delta_expired_status=410)
    lab.cycle()
    assert lab.user(1)["displayName"] == "User 1"


def test_an_owned_user_deleted_in_the_tenant_comes_back(lab, fake):
    lab.cycle()
    lab.cycle()
    gone = lab.user(2)["id"]
    with __import__("httpx").Client(base_url=fake.graph_url, headers={"Authorization": f"Bearer {fake.token()}"}) as g:
        assert g.delete(f"/users/{gone}").status_code == 204
    lab.stop()
    lab.start()  # past our own create's replication window: a 404 now means gone
    for _ in range(3):  # the update answers gone; the engine's rules bring it back (restored, same id)
        lab.engine.run_once()
        lab.clock.t += timedelta(hours=1)  # past the retry backoff
    live = [u for u in fake.backdoor.users() if u["onPremisesImmutableId"] == guid(2)]
    assert len(live) == 1 and live[0]["accountEnabled"] is True and live[0]["id"] == gone


def test_a_dry_run_reads_no_changes(lab, fake):
    lab.engine.plan()
    assert lab.entra.delta.links == {}
    lab.cycle()
    fake.backdoor.cloud_edit(lab.user(1)["id"], displayName="Drifted")
    assert lab.engine.plan().planned == ()  # the plan reads nothing from the tenant
    assert lab.user(1)["displayName"] == "Drifted"

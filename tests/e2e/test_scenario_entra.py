"""End to end from the real Samba AD DC into the documentation-based fake Microsoft Graph
(``hybridsync.connectors.testing.graphfake``): seed, full sync, then each AD change followed by
one cycle, checking what the fake tenant holds. Not live Graph: see connectors/entra/README.md."""

from __future__ import annotations

from collections import Counter

import pytest

from hybridsync.connectors.entra import prepare
from hybridsync.connectors.testing.graphfake import GraphFake, Knobs
from hybridsync.engine.core.config import ENTRA_MATCHING, Config, ScopeConfig, SourceConfig, StateConfig, TargetConfig
from hybridsync.engine.lab import seed
from hybridsync.engine.runtime.engine import Engine

from .kit import PASSWORD_ENV, expected, guid_of, seed_scenario

pytestmark = [pytest.mark.samba]
SECRET_ENV = "HYBRIDSYNC_E2E_ENTRA_SECRET"


def entra_e2e_config(dc, fake: GraphFake, ou: str, state_path: str) -> Config:
    source = SourceConfig(name="corp", kind="ad", urls=(dc.ldaps_url,), base_dn=ou, bind_dn=dc.admin_dn,
                          password_env=PASSWORD_ENV, ca_file=str(dc.ca_file), tls_server_name=dc.tls_server_name,
                          poll_interval=0.2, scope=ScopeConfig(include_ous=(f"OU=Staff,{ou}",)))
    target = TargetConfig(name="entra", kind="entra", tenant_id=fake.knobs.tenant, client_id=fake.knobs.client_id,
                          client_secret_env=SECRET_ENV, graph_url=fake.graph_url, authority_url=fake.root,
                          matching=ENTRA_MATCHING, object_types=("user", "group"))
    return Config(sources=(source,), targets=(target,), state=StateConfig(path=state_path))


def actual(fake: GraphFake):
    """Enabled users by anchor, groups by anchor -> member anchors, every user."""
    users_all = fake.backdoor.users()
    groups = fake.backdoor.groups()
    anchor_of = {u["id"]: u.get("onPremisesImmutableId") for u in users_all}
    anchor_of.update({g["id"]: prepare.flatten(g, prepare.ObjectKind.GROUP).external_id for g in groups})
    users = {u["onPremisesImmutableId"]: {"userName": u["userPrincipalName"], "active": u["accountEnabled"],
                                         "displayName": u["displayName"]}
             for u in users_all if u.get("onPremisesImmutableId") and u["accountEnabled"]}
    gmap = {anchor_of[g["id"]]: {anchor_of.get(m) for m in fake.backdoor.members(g["id"])} for g in groups}
    return users, gmap, users_all


def assert_projection(conn, ou: str, fake: GraphFake) -> None:
    want_users, want_groups = expected(conn, f"OU=Staff,{ou}")
    have_users, have_groups, all_users = actual(fake)
    want = {a: {**u, "displayName": u["displayName"] or have_users.get(a, {}).get("displayName")}
            for a, u in want_users.items() if u["active"]}
    assert have_users == want
    assert have_groups == want_groups
    dupes = [x for x, c in Counter(u.get("onPremisesImmutableId") for u in all_users).items() if x and c > 1]
    assert dupes == []


@pytest.fixture
def lab(samba_dc, ad_conn, ad_ou, tmp_path, monkeypatch):
    with GraphFake(Knobs(verified_domains=("lab.test",), replication_lag=0.0)) as fake:
        monkeypatch.setenv(PASSWORD_ENV, samba_dc.admin_password)
        monkeypatch.setenv(SECRET_ENV, fake.knobs.client_secret)
        dns = seed_scenario(ad_conn, ad_ou)
        engine = Engine(entra_e2e_config(samba_dc, fake, ad_ou, str(tmp_path / "state.db")))
        yield engine, dns, fake
        engine.close()


def test_samba_into_fake_graph_every_kind_of_ad_change_lands_after_one_cycle(lab, ad_conn, ad_ou):
    engine, dns, fake = lab
    report = engine.run_once()
    assert report.exit_code() == 0, (report.problems, [o for o in report.outcomes if o.result != "ok"][:5])
    assert_projection(ad_conn, ad_ou, fake)
    users, groups, _ = actual(fake)
    assert guid_of(ad_conn, dns["inner"]) in groups[guid_of(ad_conn, dns["outer"])]  # nested group kept
    assert all(u["passwordProfile"]["forceChangePasswordNextSignIn"] for u in fake.backdoor.users())

    def cycle():
        r = engine.run_once()
        assert r.exit_code() == 0, (r.problems, [o for o in r.outcomes if o.result != "ok"], r.source_errors)
        assert_projection(ad_conn, ad_ou, fake)
        return r

    staff, other = f"OU=Staff,{ad_ou}", f"OU=Other,{ad_ou}"
    u3 = guid_of(ad_conn, dns["u3"])
    dns["u3"] = seed.rename(ad_conn, dns["u3"], "Renamed Three")
    seed.set_attrs(ad_conn, dns["u3"], displayName="Renamed Three")
    cycle()
    assert actual(fake)[0][u3]["displayName"] == "Renamed Three"
    dns["u5"] = seed.move(ad_conn, dns["u5"], other)  # out of scope: disabled (soft delete)
    cycle()
    seed.disable_user(ad_conn, dns["u6"])
    cycle()
    seed.enable_user(ad_conn, dns["u6"])
    cycle()

    u7 = guid_of(ad_conn, dns["u7"])
    upn7 = actual(fake)[0][u7]["userName"]
    seed.delete(ad_conn, dns["u7"])
    cycle()
    assert u7 not in actual(fake)[0]
    tag = ad_ou.split(",")[0].split("=")[1]
    dns["u7"] = seed.add_user(ad_conn, staff, f"User 7 again {tag}", sam=f"{tag[:8]}u7b", upn=upn7, sn="Again")
    cycle()  # same UPN again: one user holds it
    assert sum(1 for u in actual(fake)[2] if u["userPrincipalName"] == upn7) == 1

    seed.add_members(ad_conn, dns["inner"], [dns["u8"]])
    seed.remove_members(ad_conn, dns["outer"], [dns["u2"]])
    cycle()
    seed.remove_members(ad_conn, dns["outer"], [dns["inner"]])
    seed.add_members(ad_conn, dns["inner"], [dns["u9"]])
    cycle()
    report = engine.run_once(full=True)  # a converged directory: nothing to do
    assert [o for o in report.outcomes if o.action not in ("noop",)] == []


def test_samba_manager_is_set_changed_and_cleared_in_the_fake_graph(lab, ad_conn, ad_ou):
    """AD ``manager`` -> Entra's manager through /users/{id}/manager/$ref (user-post-manager,
    user-delete-manager): set, changed, cleared; a manager created with its report resolves."""
    engine, dns, fake = lab
    assert engine.run_once().exit_code() == 0
    by_anchor = {u["onPremisesImmutableId"]: u["id"] for u in fake.backdoor.users()}

    def manager_of(key: str) -> str | None:
        return fake.backdoor.manager(by_anchor[guid_of(ad_conn, dns[key])])

    def cycle(**kw):
        r = engine.run_once(**kw)
        assert r.exit_code() == 0, (r.problems, [o for o in r.outcomes if o.result != "ok"], r.source_errors)

    seed.set_attrs(ad_conn, dns["u1"], manager=dns["u0"])
    cycle()
    assert manager_of("u1") == by_anchor[guid_of(ad_conn, dns["u0"])]
    seed.set_attrs(ad_conn, dns["u1"], manager=dns["u2"])
    cycle()
    assert manager_of("u1") == by_anchor[guid_of(ad_conn, dns["u2"])]
    seed.set_attrs(ad_conn, dns["u1"], manager=None)
    cycle()
    assert manager_of("u1") is None

    staff, tag = f"OU=Staff,{ad_ou}", ad_ou.split(",")[0].split("=")[1]
    dns["boss"] = seed.add_user(ad_conn, staff, f"Boss {tag}", sam=f"{tag[:8]}bos", upn=f"boss.{tag}@lab.test", sn="B")
    dns["report"] = seed.add_user(ad_conn, staff, f"Report {tag}", sam=f"{tag[:8]}rep", upn=f"rep.{tag}@lab.test",
                                  sn="R")
    seed.set_attrs(ad_conn, dns["report"], manager=dns["boss"])
    cycle()  # both new in one delta: the report is planned again once its manager is created
    by_anchor = {u["onPremisesImmutableId"]: u["id"] for u in fake.backdoor.users()}
    assert manager_of("report") == by_anchor[guid_of(ad_conn, dns["boss"])]
    report = engine.run_once(full=True)  # converged: nothing to do
    assert [o for o in report.outcomes if o.action not in ("noop",)] == []


def test_samba_drift_in_the_tenant_is_put_back_from_ad(lab, ad_conn, ad_ou):
    """An admin edits an owned user in the tenant: the next cycle reads it from the kept deltaLink
    (delta-query-overview) and puts AD's values back; a user deleted in the tenant comes back."""
    engine, dns, fake = lab
    assert engine.run_once().exit_code() == 0
    uid = {u["onPremisesImmutableId"]: u["id"] for u in fake.backdoor.users()}[guid_of(ad_conn, dns["u4"])]
    before = fake.backdoor.get(uid)
    fake.backdoor.cloud_edit(uid, displayName="Edited in the portal", surname="Portal", accountEnabled=False)
    report = engine.run_once()
    assert report.exit_code() == 0 and [o.action for o in report.outcomes] == ["update"]
    after = fake.backdoor.get(uid)
    assert (after["displayName"], after["surname"], after["accountEnabled"]) == (
        before["displayName"], before["surname"], True)
    report = engine.run_once(full=True)  # converged: nothing to do
    assert [o for o in report.outcomes if o.action not in ("noop",)] == []

"""End to end against the real Samba AD DC and every real SCIM server of the suite (scim2-server,
SCIMMY): seed, full sync, then each AD change followed by one cycle, checking the SCIM server holds
exactly the expected projection -- and issue 20's invariant after every step: a further cycle
plans nothing."""

from __future__ import annotations

import pytest

from hybridsync.engine.lab import seed
from hybridsync.engine.lab.pytest_scim import SCIM_SERVERS, any_scim_server
from hybridsync.engine.runtime.engine import Engine

from .kit import PASSWORD_ENV, actual, assert_converged, assert_projection, e2e_config, guid_of, not_kept, seed_scenario

pytestmark = [pytest.mark.samba, pytest.mark.scim]


@pytest.fixture(params=sorted(SCIM_SERVERS))
def scim_server(request):
    return any_scim_server(request)


@pytest.fixture
def lab(samba_dc, scim_server, ad_conn, ad_ou, tmp_path, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, samba_dc.admin_password)
    scim_server.reset()
    dns = seed_scenario(ad_conn, ad_ou)
    config = e2e_config(samba_dc, scim_server, ad_ou, str(tmp_path / "state.db"))
    engine = Engine(config)
    yield engine, dns
    engine.close()


def test_full_sync_then_every_kind_of_ad_change_lands_after_one_cycle(lab, ad_conn, ad_ou, scim_server):
    engine, dns = lab
    backdoor = scim_server.backdoor
    report = engine.run_once()
    assert report.exit_code() == 0, (report.problems, report.outcomes[:5])
    assert_projection(ad_conn, ad_ou, backdoor, not_kept(engine))
    users, groups, _ = actual(backdoor)
    assert guid_of(ad_conn, dns["contact"]) not in users  # contacts only when object_types lists them
    if 'group:members[type eq "Group"]' not in not_kept(engine):  # django-scim2: users only
        assert guid_of(ad_conn, dns["inner"]) in groups[guid_of(ad_conn, dns["outer"])]  # nested group kept

    def cycle():
        r = engine.run_once()
        assert r.exit_code() == 0, (r.problems, [o for o in r.outcomes if o.result != "ok"], r.source_errors)
        assert_converged(engine, ad_conn, ad_ou, backdoor, cycles=1)  # converged, and stays so
        return r

    staff, other = f"OU=Staff,{ad_ou}", f"OU=Other,{ad_ou}"
    u3 = guid_of(ad_conn, dns["u3"])
    dns["u3"] = seed.rename(ad_conn, dns["u3"], "Renamed Three")  # rename: same anchor
    seed.set_attrs(ad_conn, dns["u3"], displayName="Renamed Three")
    cycle()
    if "user:displayName" not in not_kept(engine):  # django-scim2 computes it from the name parts
        assert actual(backdoor)[0][u3]["displayName"] == "Renamed Three"

    seed.ensure_ou(ad_conn, staff, "Sub")
    dns["u4"] = seed.move(ad_conn, dns["u4"], f"OU=Sub,{staff}")  # move within scope
    cycle()
    dns["u5"] = seed.move(ad_conn, dns["u5"], other)  # move out of scope: disabled (soft delete)
    cycle()
    seed.disable_user(ad_conn, dns["u6"])
    cycle()
    seed.enable_user(ad_conn, dns["u6"])
    cycle()

    u7 = guid_of(ad_conn, dns["u7"])
    upn7 = actual(backdoor)[0][u7]["userName"]
    seed.delete(ad_conn, dns["u7"])  # tombstone
    cycle()
    assert u7 not in actual(backdoor)[0]
    tag = ad_ou.split(",")[0].split("=")[1]
    dns["u7"] = seed.add_user(ad_conn, staff, f"User 7 again {tag}", sam=f"{tag[:8]}u7b", upn=upn7, sn="Again")
    cycle()  # re-created with the same UPN: takes the soft-deleted twin over, no duplicate userName
    _, _, all_users = actual(backdoor)
    assert sum(1 for u in all_users if u.get("userName") == upn7) == 1

    seed.add_members(ad_conn, dns["inner"], [dns["u8"]])
    seed.remove_members(ad_conn, dns["outer"], [dns["u2"]])
    cycle()
    seed.remove_members(ad_conn, dns["outer"], [dns["inner"]])  # nested group change
    seed.add_members(ad_conn, dns["inner"], [dns["u9"]])
    seed.delete(ad_conn, dns["u0"])  # a member deleted: its groups are not emitted by DirSync
    cycle()
    assert guid_of(ad_conn, dns["inner"]) not in actual(backdoor)[1][guid_of(ad_conn, dns["outer"])]

    # issue 20: a group created after the first sync, deleted (its members go at once), re-created
    # with the same name (taken over, not a 409 for ever); a user deleted and re-created in one window
    team = seed.add_group(ad_conn, staff, f"Team {tag}", [dns["u1"], dns["u8"]])
    cycle()
    seed.delete(ad_conn, team)
    cycle()
    team = seed.add_group(ad_conn, staff, f"Team {tag}", [dns["u9"]])
    cycle()
    assert sum(1 for g in backdoor.resources("Group") if g.get("displayName") == f"Team {tag}") == 1
    upn10 = actual(backdoor)[0][guid_of(ad_conn, dns["u10"])]["userName"]
    seed.delete(ad_conn, dns["u10"])
    dns["u10"] = seed.add_user(ad_conn, staff, f"User 10 again {tag}", sam=f"{tag[:8]}u10b", upn=upn10, sn="Again")
    cycle()
    _, _, all_users = actual(backdoor)
    assert sum(1 for u in all_users if u.get("userName") == upn10) == 1

    report = engine.run_once(full=True)  # a safety full read of a converged directory changes nothing
    assert [o for o in report.outcomes if o.action not in ("noop",)] == []


def _group_names(backdoor) -> dict[str, str]:
    return {r["externalId"]: r.get("displayName") for r in backdoor.resources("Group") if r.get("externalId")}


@pytest.mark.parametrize("delta", ["dirsync", "usn"])
def test_group_whose_only_name_is_its_rdn_follows_a_rename_and_a_move(delta, samba_dc, scim_server, ad_conn, ad_ou,
                                                                     tmp_path, monkeypatch):
    """Issue 16 (1): DirSync reports a rename as new DN + name + parentGUID, no cn; the default
    mapping is displayName <- cn, so a stale cn kept the old name at the target for good."""
    monkeypatch.setenv(PASSWORD_ENV, samba_dc.admin_password)
    scim_server.reset()
    staff = seed.ensure_ou(ad_conn, ad_ou, "Staff")
    tag = ad_ou.split(",")[0].split("=")[1]
    group = seed.add_group(ad_conn, staff, f"Plain {tag}")  # no displayName: its only name is the RDN
    anchor = guid_of(ad_conn, group)
    engine = Engine(e2e_config(samba_dc, scim_server, ad_ou, str(tmp_path / "state.db"), delta=delta))
    try:
        assert engine.run_once().exit_code() == 0
        assert _group_names(scim_server.backdoor)[anchor] == f"Plain {tag}"
        group = seed.rename(ad_conn, group, f"Renamed {tag}")
        report = engine.run_once()
        assert report.exit_code() == 0, report.problems
        assert _group_names(scim_server.backdoor)[anchor] == f"Renamed {tag}"
        seed.ensure_ou(ad_conn, staff, "Sub")
        seed.move(ad_conn, group, f"OU=Sub,{staff}")
        assert engine.run_once().exit_code() == 0
        assert _group_names(scim_server.backdoor)[anchor] == f"Renamed {tag}"
        again = engine.run_once()  # converged: nothing left to do
        assert [o for o in again.outcomes if o.action != "noop"] == []
    finally:
        engine.close()

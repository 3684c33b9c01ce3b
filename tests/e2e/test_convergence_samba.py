"""Issue 20 on the real Samba AD DC and scim2-server: the two histories of the issue, and the
re-creations, each followed by the convergence invariant (``kit.assert_converged``)."""

from __future__ import annotations

import pytest

from hybridsync.engine.lab import seed
from hybridsync.engine.runtime.engine import Engine

from .kit import PASSWORD_ENV, actual, assert_converged, e2e_config, guid_of, manager_of, scim_user

pytestmark = [pytest.mark.samba, pytest.mark.scim]


@pytest.fixture
def lab(samba_dc, scim2_server, ad_conn, ad_ou, tmp_path, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, samba_dc.admin_password)
    scim2_server.reset()
    staff = seed.ensure_ou(ad_conn, ad_ou, "Staff")
    seed.ensure_ou(ad_conn, ad_ou, "Other")
    tag = ad_ou.split(",")[0].split("=")[1]
    users = [seed.add_user(ad_conn, staff, f"C{i} {tag}", sam=f"{tag[:8]}c{i}", upn=f"c{i}.{tag}@lab.test",
                           sn=f"S{i}") for i in range(3)]
    engine = Engine(e2e_config(samba_dc, scim2_server, ad_ou, str(tmp_path / "state.db")))
    assert engine.run_once().exit_code() == 0
    yield engine, staff, tag, users, scim2_server.backdoor
    engine.close()


def _group(backdoor, name):
    return [g for g in backdoor.resources("Group") if g.get("displayName") == name]


def test_a_group_created_in_ad_after_the_first_sync_reaches_the_target(lab, ad_conn, ad_ou):
    engine, staff, tag, users, backdoor = lab
    group = seed.add_group(ad_conn, staff, f"Later {tag}", users[:2])  # DirSync: name and DN, no cn
    report = engine.run_once()
    assert report.exit_code() == 0, (report.problems, report.outcomes)
    [g] = _group(backdoor, f"Later {tag}")
    assert g["externalId"] == guid_of(ad_conn, group) and len(g.get("members", [])) == 2
    assert_converged(engine, ad_conn, ad_ou, backdoor)


def test_a_group_deleted_in_ad_loses_its_members_and_a_recreated_one_takes_it_over(lab, ad_conn, ad_ou):
    engine, staff, tag, users, backdoor = lab
    name = f"Team {tag}"
    group = seed.add_group(ad_conn, staff, name, users)
    assert engine.run_once().exit_code() == 0
    [g] = _group(backdoor, name)
    assert len(g.get("members", [])) == 3
    seed.delete(ad_conn, group)
    report = engine.run_once()
    assert report.exit_code() == 0, (report.problems, report.outcomes)
    [g] = _group(backdoor, name)
    assert g.get("members", []) == []  # access goes at once, not after soft_delete_days
    assert_converged(engine, ad_conn, ad_ou, backdoor)

    again = seed.add_group(ad_conn, staff, name, users[2:])  # the same name: a 409 at the target before
    report = engine.run_once()
    assert report.exit_code() == 0, (report.problems, report.outcomes)
    [g2] = _group(backdoor, name)
    assert g2["id"] == g["id"] and g2["externalId"] == guid_of(ad_conn, again)  # taken over, re-anchored
    assert [m["value"] for m in g2.get("members", [])] == [
        u["id"] for u in backdoor.resources("User") if u.get("externalId") == guid_of(ad_conn, users[2])]
    assert_converged(engine, ad_conn, ad_ou, backdoor)


def test_a_user_deleted_and_recreated_with_the_same_upn_in_one_poll_window(lab, ad_conn, ad_ou):
    engine, staff, tag, users, backdoor = lab
    old = guid_of(ad_conn, users[1])
    before = {u["externalId"]: u["id"] for u in backdoor.resources("User")}
    seed.delete(ad_conn, users[1])
    new = seed.add_user(ad_conn, staff, f"C1 again {tag}", sam=f"{tag[:8]}c1b", upn=f"c1.{tag}@lab.test", sn="S1")
    report = engine.run_once()
    assert report.exit_code() == 0, (report.problems, report.outcomes)
    have = actual(backdoor)[0]
    assert guid_of(ad_conn, new) in have and old not in have
    [u] = [u for u in backdoor.resources("User") if u.get("userName") == f"c1.{tag}@lab.test"]
    assert u["id"] == before[old] and u.get("active", True)  # the old object, re-anchored, active
    assert engine.store.get_target_state("app", old).state == "deleted"
    assert_converged(engine, ad_conn, ad_ou, backdoor)


def test_a_manager_set_in_the_same_delta_as_its_report_then_changed_and_cleared(lab, ad_conn, ad_ou):
    """DirSync's incremental ``manager;range=1-1`` value reaches the stored report; the report at
    the target follows within the cycle's follow-ups (``sync --once``)."""
    engine, staff, tag, users, backdoor = lab
    boss = seed.add_user(ad_conn, staff, f"Boss {tag}", sam=f"{tag[:8]}bs", upn=f"boss.{tag}@lab.test", sn="B")
    rep = seed.add_user(ad_conn, staff, f"Rep {tag}", sam=f"{tag[:8]}rp", upn=f"rep.{tag}@lab.test", sn="R")
    seed.set_attrs(ad_conn, rep, manager=boss)
    report = engine.run_once(followups=2)
    assert report.exit_code() == 0 and not report.followup, (report.problems, report.outcomes)
    rep_guid = guid_of(ad_conn, rep)
    assert manager_of(backdoor, rep_guid) == scim_user(backdoor, guid_of(ad_conn, boss))["id"]
    seed.set_attrs(ad_conn, rep, manager=users[0])
    assert engine.run_once(followups=2).exit_code() == 0
    assert manager_of(backdoor, rep_guid) == scim_user(backdoor, guid_of(ad_conn, users[0]))["id"]
    seed.set_attrs(ad_conn, rep, manager=None)
    assert engine.run_once(followups=2).exit_code() == 0
    assert not manager_of(backdoor, rep_guid)
    assert_converged(engine, ad_conn, ad_ou, backdoor)


def test_a_manager_renamed_and_moved_in_ad_stays_the_manager_of_its_report(lab, ad_conn, ad_ou):
    """AD rewrites the report's ``manager`` DN without a change to the report: the report's next
    change must not clear its manager at the target."""
    engine, staff, tag, users, backdoor = lab
    seed.set_attrs(ad_conn, users[1], manager=users[0])
    assert engine.run_once(followups=2).exit_code() == 0
    boss_id, rep_guid = scim_user(backdoor, guid_of(ad_conn, users[0]))["id"], guid_of(ad_conn, users[1])
    assert manager_of(backdoor, rep_guid) == boss_id
    renamed = seed.rename(ad_conn, users[0], f"Boss {tag}")
    assert engine.run_once(followups=2).exit_code() == 0
    seed.move(ad_conn, renamed, seed.ensure_ou(ad_conn, staff, "Sub"))
    assert engine.run_once(followups=2).exit_code() == 0
    seed.set_attrs(ad_conn, users[1], description="changed")  # the report's next plan
    assert engine.run_once(followups=2).exit_code() == 0
    seed.set_attrs(ad_conn, users[1], sn="Changed")
    assert engine.run_once(followups=2).exit_code() == 0
    assert scim_user(backdoor, rep_guid)["name"]["familyName"] == "Changed"
    assert manager_of(backdoor, rep_guid) == boss_id


def test_a_user_renamed_onto_the_upn_of_a_deleted_user_gets_it(lab, ad_conn, ad_ou):
    """The soft-deleted target object holding the userName is deleted early; the rename lands."""
    engine, staff, tag, users, backdoor = lab
    upn = f"c1.{tag}@lab.test"
    old_id = scim_user(backdoor, guid_of(ad_conn, users[1]))["id"]
    old_guid = guid_of(ad_conn, users[1])
    seed.delete(ad_conn, users[1])
    assert engine.run_once().exit_code() == 0
    seed.set_attrs(ad_conn, users[2], userPrincipalName=upn)
    report = engine.run_once(followups=2)
    assert not report.followup, (report.problems, report.outcomes)
    assert scim_user(backdoor, guid_of(ad_conn, users[2]))["userName"] == upn
    assert backdoor.get(old_id) is None and engine.store.get_target_state("app", old_guid).state == "deleted"
    assert engine.run_once().exit_code() == 0
    assert_converged(engine, ad_conn, ad_ou, backdoor)

"""Issue 20 on the real Samba AD DC and scim2-server: a report follows its manager out of scope,
back in, and through a delete. AD changes nothing on the report itself: a move rewrites the
report's ``manager`` DN, a delete drops it, neither with a change the delta carries
(``tests/connectors/ad/test_samba_manager_delete.py``); the engine re-plans the reports itself
(``runtime.reports``)."""

from __future__ import annotations

import pytest

from hybridsync.engine.lab import seed
from hybridsync.engine.runtime.engine import Engine

from .kit import PASSWORD_ENV, assert_converged, e2e_config, guid_of, manager_of, scim_user

pytestmark = [pytest.mark.samba, pytest.mark.scim]


@pytest.fixture
def lab(samba_dc, scim2_server, ad_conn, ad_ou, tmp_path, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, samba_dc.admin_password)
    scim2_server.reset()
    staff = seed.ensure_ou(ad_conn, ad_ou, "Staff")
    other = seed.ensure_ou(ad_conn, ad_ou, "Other")
    tag = ad_ou.split(",")[0].split("=")[1]
    boss = seed.add_user(ad_conn, staff, f"Boss {tag}", sam=f"{tag[:8]}bs", upn=f"boss.{tag}@lab.test", sn="B")
    rep = seed.add_user(ad_conn, staff, f"Rep {tag}", sam=f"{tag[:8]}rp", upn=f"rep.{tag}@lab.test", sn="R")
    seed.set_attrs(ad_conn, rep, manager=boss)
    engine = Engine(e2e_config(samba_dc, scim2_server, ad_ou, str(tmp_path / "state.db")))
    assert engine.run_once().exit_code() == 0
    yield engine, staff, other, tag, boss, rep, scim2_server.backdoor
    engine.close()


def _two_cycles(engine):
    for _ in range(2):
        report = engine.run_once()
        assert report.exit_code() == 0, (report.problems, report.outcomes)


def test_a_manager_moved_out_of_scope_clears_its_reports_manager_and_moved_back_sets_it(lab, ad_conn, ad_ou):
    engine, staff, other, tag, boss, rep, backdoor = lab
    rep_guid, boss_guid = guid_of(ad_conn, rep), guid_of(ad_conn, boss)
    boss_id = scim_user(backdoor, boss_guid)["id"]
    assert manager_of(backdoor, rep_guid) == boss_id
    away = seed.move(ad_conn, boss, other)  # the report is not in the delta: AD rewrote its DN
    _two_cycles(engine)
    assert scim_user(backdoor, boss_guid).get("active") is False  # soft-deleted: out of scope
    assert not manager_of(backdoor, rep_guid)
    assert_converged(engine, ad_conn, ad_ou, backdoor)
    seed.move(ad_conn, away, staff)
    _two_cycles(engine)
    assert scim_user(backdoor, boss_guid).get("active", True) and scim_user(backdoor, boss_guid)["id"] == boss_id
    assert manager_of(backdoor, rep_guid) == boss_id
    assert_converged(engine, ad_conn, ad_ou, backdoor)


def test_a_deleted_manager_is_cleared_from_its_report_and_a_new_user_at_its_dn_is_not_its_manager(
        lab, ad_conn, ad_ou):
    engine, staff, other, tag, boss, rep, backdoor = lab
    rep_guid = guid_of(ad_conn, rep)
    assert manager_of(backdoor, rep_guid)
    seed.delete(ad_conn, boss)  # AD drops the report's link; the report is not in the delta
    _two_cycles(engine)
    assert not manager_of(backdoor, rep_guid)
    again = seed.add_user(ad_conn, staff, f"Boss {tag}", sam=f"{tag[:8]}b2", upn=f"boss2.{tag}@lab.test", sn="B")
    assert again == boss  # the same DN, a new object
    seed.set_attrs(ad_conn, rep, description="the report changes later")
    _two_cycles(engine)
    assert not manager_of(backdoor, rep_guid)
    assert_converged(engine, ad_conn, ad_ou, backdoor)

"""Issue 14 end to end against the real Samba DC and scim2-server: a scoping group renamed in AD
disables nobody; disables spread over several cycles cannot walk past the threshold's window;
users disabled in AD itself are held beyond the threshold until approve-deletes."""

from __future__ import annotations

import attrs
import pytest

from hybridsync.engine.core.config import SafetyConfig, ScopeConfig
from hybridsync.engine.lab import seed
from hybridsync.engine.runtime.engine import Engine

from .kit import PASSWORD_ENV, actual, e2e_config

pytestmark = [pytest.mark.samba, pytest.mark.scim]


def _users(conn, staff, tag, n, prefix):
    return [seed.add_user(conn, staff, f"{prefix}{i} {tag}", sam=f"{tag[:8]}{prefix}{i}",
                          upn=f"{prefix}{i}.{tag}@lab.test", sn="S") for i in range(n)]


def test_renaming_the_scoping_group_in_ad_disables_nobody_and_is_reported(
        samba_dc, scim_server, ad_conn, ad_ou, tmp_path, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, samba_dc.admin_password)
    scim_server.reset()
    staff = seed.ensure_ou(ad_conn, ad_ou, "Staff")
    tag = ad_ou.split(",")[0].split("=")[1]
    members = _users(ad_conn, staff, tag, 6, "sg")
    group = seed.add_group(ad_conn, staff, f"Scope {tag}", members)
    config = e2e_config(samba_dc, scim_server, ad_ou, str(tmp_path / "s.db"))
    source = attrs.evolve(config.sources[0], scope=ScopeConfig(include_ous=(staff,), groups=(group,)))
    config = attrs.evolve(config, sources=(source,))
    with Engine(config) as engine:
        engine.run_once()
        assert len(actual(scim_server.backdoor)[0]) == 6
        seed.rename(ad_conn, group, f"Scope renamed {tag}")
        report = engine.run_once()
        assert len(actual(scim_server.backdoor)[0]) == 6 and report.counts.get("disable", 0) == 0
        assert any(p["stage"] == "scope" and "renamed" in p["message"] for p in report.problems)
        engine.run_once(full=True)
        assert len(actual(scim_server.backdoor)[0]) == 6


def test_disables_spread_over_cycles_are_held_beyond_the_threshold_window(
        samba_dc, scim_server, ad_conn, ad_ou, tmp_path, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, samba_dc.admin_password)
    scim_server.reset()
    staff = seed.ensure_ou(ad_conn, ad_ou, "Staff")
    other = seed.ensure_ou(ad_conn, ad_ou, "Other")
    tag = ad_ou.split(",")[0].split("=")[1]
    dns = _users(ad_conn, staff, tag, 8, "w")
    config = e2e_config(samba_dc, scim_server, ad_ou, str(tmp_path / "s.db"), safety=SafetyConfig(delete_threshold=3))
    with Engine(config) as engine:
        engine.run_once()
        assert len(actual(scim_server.backdoor)[0]) == 8
        for k in range(3):
            for dn in dns[2 * k: 2 * k + 2]:
                seed.move(ad_conn, dn, other)
            engine.run_once()
        assert len(actual(scim_server.backdoor)[0]) == 6  # 2 disabled, 4 held: the window holds
        assert len(engine.store.held("app")) == 4


def test_twenty_users_disabled_in_ad_with_threshold_five_are_held_until_approve_deletes(
        samba_dc, scim_server, ad_conn, ad_ou, tmp_path, monkeypatch):
    """AD's own disabled flag counts toward the threshold and is held beyond it like any disable."""
    monkeypatch.setenv(PASSWORD_ENV, samba_dc.admin_password)
    scim_server.reset()
    staff = seed.ensure_ou(ad_conn, ad_ou, "Staff")
    tag = ad_ou.split(",")[0].split("=")[1]
    dns = _users(ad_conn, staff, tag, 22, "d")
    config = e2e_config(samba_dc, scim_server, ad_ou, str(tmp_path / "s.db"), safety=SafetyConfig(delete_threshold=5))
    with Engine(config) as engine:
        engine.run_once()
        assert len(actual(scim_server.backdoor)[0]) == 22
        for dn in dns[:20]:
            seed.disable_user(ad_conn, dn)
        report = engine.run_once()
        engine.run_once(full=True)  # a full read lets none through either
        disabled = 22 - len(actual(scim_server.backdoor)[0])
        held = engine.store.held("app")
        assert disabled <= 5 and disabled + len(held) == 20 and report.held >= 15  # the rest is held
        assert engine.status().targets[0].held_deletes == len(held)
        assert engine.approve_deletes("app").count == len(held)
        engine.run_once(full=True)
        assert len(actual(scim_server.backdoor)[0]) == 2
        assert engine.store.held("app", include_approved=True) == []


def test_with_adopt_approve_a_cloud_user_sharing_a_upn_is_left_alone_until_approve_adoptions(
        samba_dc, scim_server, ad_conn, ad_ou, tmp_path, monkeypatch):
    """[matching] adopt = "approve": the soft match is held, not applied and not duplicated."""
    monkeypatch.setenv(PASSWORD_ENV, samba_dc.admin_password)
    scim_server.reset()
    staff = seed.ensure_ou(ad_conn, ad_ou, "Staff")
    tag = ad_ou.split(",")[0].split("=")[1]
    _users(ad_conn, staff, tag, 3, "a")
    upn = f"a1.{tag}@lab.test"
    [cloud] = scim_server.backdoor.seed("User", [{
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": upn, "displayName": "Cloud only"}])
    config = e2e_config(samba_dc, scim_server, ad_ou, str(tmp_path / "s.db"), safety=SafetyConfig(adopt="approve"))
    with Engine(config) as engine:
        engine.run_once()
        engine.run_once(full=True)
        users = scim_server.backdoor.resources("User")
        assert sorted(u["userName"] for u in users) == sorted(f"a{i}.{tag}@lab.test" for i in range(3))
        now = scim_server.backdoor.get(cloud["id"])
        assert now["displayName"] == "Cloud only" and not now.get("externalId")
        [pending] = engine.pending_adoptions()
        assert pending.target_id == cloud["id"]
        assert engine.approve_adoptions(ids=[pending.id]).count == 1
        engine.run_once()
        now = scim_server.backdoor.get(cloud["id"])
        assert now["externalId"] == pending.anchor and now.get("displayName") != "Cloud only"
        assert len(scim_server.backdoor.resources("User")) == 3 and engine.pending_adoptions() == ()

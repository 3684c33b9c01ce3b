"""Mass-delete traps against the real Samba DC and scim2-server."""

from __future__ import annotations

import pytest

from hybridsync.engine.core.config import SafetyConfig
from hybridsync.engine.lab import seed
from hybridsync.engine.runtime.engine import Engine

from .kit import PASSWORD_ENV, actual, e2e_config, guid_of

pytestmark = [pytest.mark.samba, pytest.mark.scim]


def test_moving_60_percent_out_of_scope_disables_nobody_until_approved_while_a_new_user_is_created(
        samba_dc, scim_server, ad_conn, ad_ou, tmp_path, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, samba_dc.admin_password)
    scim_server.reset()
    staff = seed.ensure_ou(ad_conn, ad_ou, "Staff")
    other = seed.ensure_ou(ad_conn, ad_ou, "Other")
    tag = ad_ou.split(",")[0].split("=")[1]
    dns = [seed.add_user(ad_conn, staff, f"T{i} {tag}", sam=f"{tag[:8]}t{i}", upn=f"t{i}.{tag}@lab.test", sn="T")
           for i in range(10)]
    config = e2e_config(samba_dc, scim_server, ad_ou, str(tmp_path / "s.db"), safety=SafetyConfig(delete_threshold=3))
    with Engine(config) as engine:
        assert engine.run_once().exit_code() == 0
        assert len(actual(scim_server.backdoor)[0]) == 10
        for dn in dns[:6]:
            seed.move(ad_conn, dn, other)
        new = seed.add_user(ad_conn, staff, f"New {tag}", sam=f"{tag[:8]}new", upn=f"new.{tag}@lab.test", sn="N")
        report = engine.run_once()
        assert report.exit_code() == 3 and report.held == 6
        active = actual(scim_server.backdoor)[0]
        assert len(active) == 11 and guid_of(ad_conn, new) in active  # nobody disabled, the new user created
        report = engine.run_once(full=True)  # a full read does not release them either
        assert len(actual(scim_server.backdoor)[0]) == 11
        assert engine.store.approve_held("app", by="admin") == 6
        engine.run_once()
        assert len(actual(scim_server.backdoor)[0]) == 5

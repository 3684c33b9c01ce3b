"""The CLI end to end: ``hybridsync plan --json`` and ``sync --dry-run`` write nothing anywhere;
``sync --once`` applies and exits 0; all against the real Samba DC and scim2-server."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from hybridsync.statestore import Store

from .kit import PASSWORD_ENV, assert_projection, seed_scenario

pytestmark = [pytest.mark.samba, pytest.mark.scim]


def write_config(path, dc, scim_server, ou):
    path.write_text(f"""
[state]
path = "state.db"

[[source]]
name = "corp"
kind = "ad"
urls = ["{dc.ldaps_url}"]
base_dn = "{ou}"
bind_dn = "{dc.admin_dn}"
password_env = "{PASSWORD_ENV}"
ca_file = "{dc.ca_file}"
tls_server_name = "{dc.tls_server_name}"

[source.scope]
include_ous = ["OU=Staff,{ou}"]

[[target]]
name = "app"
kind = "scim"
url = "{scim_server.url}"
token_file = "{scim_server.token_file}"
object_types = ["user", "group"]
""", encoding="utf-8")


def cli(*args, cwd):
    env = {**os.environ}
    return subprocess.run([sys.executable, "-m", "hybridsync", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def snapshot(db, backdoor):
    out = io.StringIO()
    if db.exists():
        store = Store.open(db, readonly=True)
        store.dump(out)
        store.close()
    return out.getvalue(), json.dumps(backdoor.resources(), sort_keys=True)


def test_plan_and_dry_run_write_nothing_and_sync_once_applies(samba_dc, scim_server, ad_conn, ad_ou, tmp_path,
                                                              monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, samba_dc.admin_password)
    scim_server.reset()
    dns = seed_scenario(ad_conn, ad_ou, n_users=4)
    cfg = tmp_path / "hybridsync.toml"
    write_config(cfg, samba_dc, scim_server, ad_ou)
    db = tmp_path / "state.db"
    plan = cli("plan", "--json", "-c", str(cfg), cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr[-2000:]
    actions = [json.loads(line) for line in plan.stdout.splitlines() if line.startswith("{")]
    assert sum(1 for a in actions if a["action"] == "create") == 8  # 6 users + 2 groups
    assert not db.exists() and scim_server.backdoor.resources() == []  # wrote nothing anywhere

    once = cli("sync", "--once", "-c", str(cfg), cwd=tmp_path)
    assert once.returncode == 0, once.stdout[-2000:] + once.stderr[-2000:]
    assert_projection(ad_conn, ad_ou, scim_server.backdoor)

    from hybridsync.engine.lab import seed

    seed.set_attrs(ad_conn, dns["u1"], displayName="Changed By Test")
    before = snapshot(db, scim_server.backdoor)
    dry = cli("sync", "--dry-run", "-c", str(cfg), cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "would update" in dry.stdout
    plan = cli("plan", "-c", str(cfg), cwd=tmp_path)
    assert "update" in plan.stdout
    assert snapshot(db, scim_server.backdoor) == before


def test_sync_without_once_runs_until_sigterm_and_exits_cleanly(samba_dc, scim_server, ad_conn, ad_ou, tmp_path,
                                                                 monkeypatch):
    import signal
    import time

    monkeypatch.setenv(PASSWORD_ENV, samba_dc.admin_password)
    scim_server.reset()
    dns = seed_scenario(ad_conn, ad_ou, n_users=4)
    cfg = tmp_path / "hybridsync.toml"
    write_config(cfg, samba_dc, scim_server, ad_ou)
    proc = subprocess.Popen([sys.executable, "-m", "hybridsync", "sync", "-c", str(cfg)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(scim_server.backdoor.resources("User")) < 6:
            time.sleep(0.2)
        from hybridsync.engine.lab import seed

        seed.set_attrs(ad_conn, dns["u0"], displayName="Seen Live")
        while time.monotonic() < deadline and not any(
                u.get("displayName") == "Seen Live" for u in scim_server.backdoor.resources("User")):
            time.sleep(0.2)
        assert any(u.get("displayName") == "Seen Live" for u in scim_server.backdoor.resources("User"))
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-3000:]


def test_sync_serves_prometheus_metrics_when_configured_and_stops_them_on_sigterm(tmp_path):
    """`hybridsync sync` (the loop) with [metrics] listen: /metrics answers, SIGTERM ends it (exit 0)."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "hybridsync.toml"
    cfg.write_text(
        f'[metrics]\nlisten = "127.0.0.1:{port}"\n\n[[source]]\nname = "corp"\nkind = "ad"\n'
        'urls = ["ldaps://127.0.0.1:9"]\nbase_dn = "DC=lab,DC=test"\n\n'
        '[[target]]\nname = "app"\nkind = "scim"\nurl = "http://127.0.0.1:9/v2"\nauth = "none"\n',
        encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "hybridsync", "sync", "-c", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ))
    try:
        deadline, text = time.monotonic() + 60, ""
        while time.monotonic() < deadline:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
                if 'hybridsync_cycles_total{mode="cycle",source="corp",status="source_failed"}' in text:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        # the AD URL points nowhere: each cycle is counted as a failed source read
        assert 'hybridsync_cycles_total{mode="cycle",source="corp",status="source_failed"}' in text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()

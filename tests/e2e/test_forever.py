"""run_forever against the real AD source and SCIM target: a change lands, stop returns promptly,
and no thread is left behind (the AD change-notification watcher included)."""

from __future__ import annotations

import threading
import time

import pytest

from hybridsync.engine.lab import seed
from hybridsync.engine.runtime.engine import Engine

from .kit import PASSWORD_ENV, actual, e2e_config, guid_of, seed_scenario

pytestmark = [pytest.mark.samba, pytest.mark.scim]


def test_run_forever_lands_a_change_and_leaves_no_thread_behind(samba_dc, scim_server, ad_conn, ad_ou, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, samba_dc.admin_password)
    scim_server.reset()
    dns = seed_scenario(ad_conn, ad_ou, n_users=3)
    engine = Engine(e2e_config(samba_dc, scim_server, ad_ou, str(tmp_path / "s.db")))
    before = set(threading.enumerate())
    stop = threading.Event()
    errors: list[BaseException] = []

    def host():
        try:
            engine.run_forever(stop)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    worker = threading.Thread(target=host)
    worker.start()
    anchor = guid_of(ad_conn, dns["u1"])
    deadline = time.monotonic() + 60
    while anchor not in actual(scim_server.backdoor)[0] and time.monotonic() < deadline:
        time.sleep(0.1)
    seed.set_attrs(ad_conn, dns["u1"], displayName="Forever")
    t0 = time.monotonic()
    while actual(scim_server.backdoor)[0].get(anchor, {}).get("displayName") != "Forever" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert actual(scim_server.backdoor)[0][anchor]["displayName"] == "Forever"  # latency is bench/p1_latency.py's
    stop.set()
    worker.join(60)  # an event wait: run_forever returns once stop is set
    assert not worker.is_alive() and errors == []
    left = [t for t in set(threading.enumerate()) - before if t is not worker]
    assert left == [], left
    engine.close()

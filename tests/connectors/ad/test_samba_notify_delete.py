"""A deletion wakes ``wait_for_change`` as any other change does.

Windows notifies a deletion to a plain notification search; Samba only to one carrying the
show-deleted control. Without it a delete waited for the poll: the slowest kind in the lab and in
``bench/p1_latency.py``."""

from __future__ import annotations

import threading

import pytest

from hybridsync.engine.lab import seed

pytestmark = pytest.mark.samba


def test_a_deletion_wakes_wait_for_change(samba_dc, ad_conn, ad_ou, make_source):
    source = make_source(samba_dc, base_dn=ad_ou)
    stop = threading.Event()
    try:
        dn = seed.add_user(ad_conn, ad_ou, "notify-delete")
        source.wait_for_change(0.2, stop)  # opens the notification search
        while source.wait_for_change(0.5, stop):  # drain the add's (and earlier) notifications
            pass
        seed.delete(ad_conn, dn)
        # True: the notification woke it; False: it waited its whole timeout (the poll's job)
        assert source.wait_for_change(20.0, stop) is True
    finally:
        source.close()

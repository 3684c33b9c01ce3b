"""Change notification wakes the engine and leaves no thread; a restored DC means Refresh."""

from __future__ import annotations

import threading
import time

import pytest

from hybridsync.engine.lab import seed
from hybridsync.engine.lab.samba import SambaDC
from hybridsync.engine.core.values import DirSyncCookie, Refresh, UsnWatermark

from .conftest import everything

pytestmark = pytest.mark.samba


def test_a_change_wakes_wait_for_change_and_close_leaves_no_thread(samba_dc, ad_conn, ad_ou, make_source):
    before = set(threading.enumerate())
    source = make_source(samba_dc, base_dn=ad_ou)
    stop = threading.Event()
    source.wait_for_change(0.2, stop)  # opens the notification search
    latencies = []
    for i in range(3):
        while source.wait_for_change(0.05, stop):  # drain earlier notifications
            pass
        seed.add_user(ad_conn, ad_ou, f"notify-{i}")
        done = time.monotonic()  # the change is committed when the add returns
        # True means the notification woke it (a plain wait returns False at its timeout);
        # how fast is bench/p1_latency.py's business
        assert source.wait_for_change(30.0, stop) is True
        latencies.append(time.monotonic() - done)
    print(f"notification wake-up after the change committed, s: {[round(x, 4) for x in latencies]}")
    assert source.describe()["notification_active"] is True
    stop.set()
    answers: list[bool] = []
    waiter = threading.Thread(target=lambda: answers.append(source.wait_for_change(600.0, stop)))
    waiter.start()
    waiter.join(60)  # an event wait: a set stop must end a 600 s wait
    assert not waiter.is_alive() and answers == [False]
    source.close()
    assert set(threading.enumerate()) <= before


def test_without_notification_wait_for_change_just_waits(samba_dc, make_source):
    source = make_source(samba_dc, notify=False)
    started = time.monotonic()
    assert source.wait_for_change(0.3, threading.Event()) is False
    assert time.monotonic() - started >= 0.29  # it waited its timeout out (no upper bound: load)


def test_a_restored_dc_with_a_new_invocation_id_answers_both_cursors_with_refresh(samba_dc_factory, _samba_lab, make_source):
    dc = samba_dc_factory()
    usn_source = make_source(dc, delta="usn", base_dn=f"OU=Groups,{dc.base_dn}")
    ds_source = make_source(dc, delta="dirsync", base_dn=f"OU=Groups,{dc.base_dn}")
    usn_cursor = everything(usn_source.read(Refresh("")))[2][-1].cursor
    ds_cursor = everything(ds_source.read(Refresh("")))[2][-1].cursor
    assert isinstance(usn_cursor, UsnWatermark) and isinstance(ds_cursor, DirSyncCookie)
    backup = dc.backup_offline(_samba_lab.scratch_dir())
    dc.stop()
    restored = _samba_lab.track(SambaDC.restore_from_backup(backup, _samba_lab.scratch_dir() / "dc", new_server_name="DC2"))
    restored.start()
    assert restored.invocation_id() != usn_cursor.dc_invocation_id
    # the old DC first in the list (down), the restored one second: failover, then refresh
    for source, cursor in ((usn_source, usn_cursor), (ds_source, ds_cursor)):
        again = make_source(restored, delta=source.config.delta, base_dn=source.config.base_dn,
                            urls=(dc.ldaps_url, restored.ldaps_url))
        (batch,) = list(again.read(cursor))
        assert isinstance(batch.cursor, Refresh) and "invocationId" in batch.cursor.reason
        assert batch.dc.url == restored.ldaps_url and batch.dc.invocation_id == restored.invocation_id()
        _, errs, batches = everything(again.read(batch.cursor))
        assert batches[-1].complete and batches[-1].cursor.dc_invocation_id == restored.invocation_id()

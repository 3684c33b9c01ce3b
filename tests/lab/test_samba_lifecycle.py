"""Private DCs from the factory: several run at once on their own addresses, and a DC
restored from an offline backup has a new invocationId while its USN keeps climbing."""

import ldap3
import pytest

from hybridsync.engine.lab import seed

pytestmark = pytest.mark.samba


def _exists(conn, dn):
    try:
        conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["objectGUID"])
    except ldap3.core.exceptions.LDAPNoSuchObjectResult:
        return False
    return bool(conn.response)


def test_two_dcs_run_at_once_on_two_addresses_with_separate_data(samba_dc, samba_dc_factory):
    other = samba_dc_factory()
    assert other.address != samba_dc.address and other.is_running() and samba_dc.is_running()
    a, b = samba_dc.connect(), other.connect()
    try:
        dn = seed.add_ou(b, f"OU=Tests,{other.base_dn}", "only-on-the-second-dc")
        assert _exists(b, dn) and not _exists(a, dn)
    finally:
        a.unbind()
        b.unbind()


def test_a_dc_restored_from_backup_has_a_new_invocation_id_and_a_climbing_usn(samba_dc_factory, _samba_lab):
    dc = samba_dc_factory(users=20, large_group_size=0)
    conn = dc.connect()
    before_dn = seed.add_ou(conn, f"OU=Tests,{dc.base_dn}", "before-backup")
    conn.unbind()
    old_id, old_usn = dc.invocation_id(), dc.highest_usn()
    backup = dc.backup_offline(_samba_lab.scratch_dir())
    conn = dc.connect()
    after_dn = seed.add_ou(conn, f"OU=Tests,{dc.base_dn}", "after-backup")
    conn.unbind()
    usn_at_stop = dc.highest_usn()
    dc.stop()
    lock = dc.detach_lock()
    restored = _samba_lab.track(type(dc).restore_from_backup(
        backup, _samba_lab.scratch_dir() / "restored", address=dc.address, lock=lock, new_server_name="DC2"))
    restored.start()
    assert restored.address == dc.address and restored.tls_server_name == "DC2.lab.test"
    new_id = restored.invocation_id()
    assert new_id != old_id
    conn = restored.connect()
    try:
        assert _exists(conn, before_dn) and not _exists(conn, after_dn)
        seed.add_ou(conn, f"OU=Tests,{restored.base_dn}", "after-restore")
    finally:
        conn.unbind()
    assert restored.highest_usn() > old_usn
    assert usn_at_stop > old_usn


def test_stop_is_idempotent_and_start_brings_the_same_directory_back(samba_dc_factory):
    dc = samba_dc_factory(users=20, large_group_size=0)
    conn = dc.connect()
    dn = seed.add_ou(conn, f"OU=Tests,{dc.base_dn}", "survives-restart")
    conn.unbind()
    dc.stop()
    dc.stop()
    assert not dc.is_running()
    with pytest.raises(ldap3.core.exceptions.LDAPSocketOpenError):
        dc.connect()
    dc.start()
    conn = dc.connect()
    try:
        assert _exists(conn, dn)
    finally:
        conn.unbind()


def test_a_stopped_dc_clones_to_a_new_address_with_its_data_and_a_running_one_refuses(samba_dc_factory, _samba_lab):
    dc = samba_dc_factory(users=20, large_group_size=0)
    with pytest.raises(Exception, match="stop it first"):
        dc.clone(_samba_lab.scratch_dir() / "nope")
    conn = dc.connect()
    dn = seed.add_ou(conn, f"OU=Tests,{dc.base_dn}", "before-clone")
    conn.unbind()
    dc.stop()
    copy = _samba_lab.track(dc.clone(_samba_lab.scratch_dir() / "copy"))
    copy.start()
    dc.start()
    assert copy.address != dc.address
    assert str(copy.workdir) in copy.smb_conf.read_text() and str(dc.workdir) not in copy.smb_conf.read_text()
    conn = copy.connect()
    try:
        assert _exists(conn, dn)
    finally:
        conn.unbind()


def test_a_dc_dies_with_the_process_that_started_it_even_on_sigkill(_samba_lab):
    import os
    import signal
    import subprocess
    import sys
    import time

    from hybridsync.engine.lab.samba_cache import cached_lab_dc

    workdir = _samba_lab.scratch_dir() / "dc"
    cached_lab_dc(workdir, users=20, large_group_size=0).close()  # restored, stopped, address freed
    owner = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from hybridsync.engine.lab.samba import SambaDC\n"
        f"dc = SambaDC.open({str(workdir)!r}).start()\n"
        "print('ADDRESS', dc.address, flush=True)\n"
        "time.sleep(600)\n")], stdout=subprocess.PIPE, text=True)
    line = ""
    while not line.startswith("ADDRESS "):  # structlog's default output shares stdout
        line = owner.stdout.readline()
        assert line, "the owner process ended before starting its DC"
    address = line.split()[1]
    pid = int((workdir / "run" / "samba.pid").read_text().split()[0])
    os.kill(pid, 0)  # samba is up
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"samba {pid} on {address} outlived its killed owner")
    from hybridsync.engine.lab import net
    net.lock_address(address).release()  # and the address is free again

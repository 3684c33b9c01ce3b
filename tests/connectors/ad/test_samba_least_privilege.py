"""A plain domain user: USN mode and DirSync with OBJECT_SECURITY work; tombstones are invisible."""

from __future__ import annotations

import uuid

import pytest

from hybridsync.engine.lab import seed
from hybridsync.engine.core.values import Refresh

from .conftest import everything

pytestmark = pytest.mark.samba


@pytest.fixture
def plain_user(ad_conn, ad_ou):
    password = "Pl41n-" + uuid.uuid4().hex[:12] + "!"
    dn = seed.add_plain_user(ad_conn, ad_ou, f"plain-{uuid.uuid4().hex[:6]}", password)
    return dn, password


def test_a_plain_user_reads_usn_deltas_and_status_says_deletions_need_a_full_read(samba_dc, ad_conn, ad_ou, plain_user, make_source):
    dn, password = plain_user
    source = make_source(samba_dc, delta="usn", base_dn=ad_ou, bind_dn=dn, password=password)
    victim = seed.add_user(ad_conn, ad_ou, "lp-victim")
    objs, errs, batches = everything(source.read(Refresh("")))
    assert errs == [] and batches[-1].complete
    victim_guid = seed.object_guid(ad_conn, victim)
    assert victim_guid in objs
    info = source.describe()
    assert info["privilege"] == "usn-plain" and info["deletions_visible"] is False
    assert "full read" in info["deletions"]

    seed.set_attrs(ad_conn, victim, displayName="seen by a plain user")
    objs, errs, batches = everything(source.read(batches[-1].cursor))
    assert objs[victim_guid].first("displayName") == "seen by a plain user"

    seed.delete(ad_conn, victim)
    objs, errs, batches = everything(source.read(batches[-1].cursor))
    assert victim_guid not in objs  # no tombstone for this account ...
    objs, errs, batches = everything(source.read(Refresh("")))
    assert batches[-1].complete and victim_guid not in objs  # ... a complete full read shows it gone


def test_a_plain_user_falls_back_to_dirsync_object_security_and_says_so(samba_dc, ad_conn, ad_ou, plain_user, make_source):
    dn, password = plain_user
    source = make_source(samba_dc, delta="dirsync", base_dn=ad_ou, bind_dn=dn, password=password)
    info = source.describe()
    assert info["privilege"] == "object-security" and info["deletions_visible"] is False
    _, errs, batches = everything(source.read(Refresh("")))
    assert errs == [] and batches[-1].complete
    user = seed.add_user(ad_conn, ad_ou, "lp-new", display="new one")
    objs, errs, _ = everything(source.read(batches[-1].cursor))
    assert objs[seed.object_guid(ad_conn, user)].first("displayName") == "new one"
    configured = make_source(samba_dc, base_dn=ad_ou, bind_dn=dn, password=password, dirsync_object_security=True)
    assert configured.describe()["privilege"] == "object-security"

"""The lag metric on a real Samba DC (issue 17): a DirSync delta carries ``whenChanged`` (read
by ``ad.changed``: DirSync itself never returns it), and an engine reading the DC observes one
lag per change applied -- an edit, a create and a delete -- in both delta modes."""

from __future__ import annotations

import pytest

from hybridsync.connectors.testing.memory import MemoryTarget
from hybridsync.engine.core.config import Config, ScopeConfig, TargetConfig
from hybridsync.engine.core.values import Refresh
from hybridsync.engine.lab import seed
from hybridsync.engine.runtime.engine import Engine
from hybridsync.engine.runtime.lag import generalized_time
from hybridsync.engine.runtime.metrics import Metrics
from hybridsync.statestore import Store

from .conftest import everything

pytestmark = pytest.mark.samba


@pytest.mark.parametrize("mode", ["dirsync", "usn"])
def test_an_engine_reading_samba_observes_one_lag_per_change_applied(mode, samba_dc, ad_conn, ad_ou, make_source):
    tag = ad_ou[5:13]
    a = seed.add_user(ad_conn, ad_ou, f"Lag A {tag}", sam=f"la-{tag}", upn=f"la-{tag}@lab.test", sn="A")
    b = seed.add_user(ad_conn, ad_ou, f"Lag B {tag}", sam=f"lb-{tag}", upn=f"lb-{tag}@lab.test", sn="B")
    source = make_source(samba_dc, delta=mode, base_dn=ad_ou, scope=ScopeConfig(include_ous=(ad_ou,)))
    config = Config(sources=(source.config,),
                    targets=(TargetConfig(name="app", kind="memory", object_types=("user", "group")),))
    tgt = MemoryTarget("app")
    engine = Engine(config, store=Store.open(":memory:"), sources={source.config.name: source}, targets={"app": tgt})
    m = Metrics()
    try:
        first = engine.run_once()
        m.observe(first)
        assert first.tallied[("app", "create", "ok")] == 2 and first.lag.count == 0  # a full read: none

        seed.set_attrs(ad_conn, a, displayName=f"A2 {tag}")
        seed.add_user(ad_conn, ad_ou, f"Lag C {tag}", sam=f"lc-{tag}", upn=f"lc-{tag}@lab.test", sn="C")
        seed.delete(ad_conn, b)
        report = engine.run_once()
        m.observe(report)
        done = report.tallied
        assert (done[("app", "update", "ok")], done[("app", "create", "ok")], done[("app", "disable", "ok")]) \
            == (1, 1, 1), done
        assert report.lag.count == 3, report.lag  # the edit, the create, the delete (a disable at the target)
        assert 0 <= report.lag.total <= 3 * 60  # the DC and the engine share this machine's clock
        text = m.text()
        assert "hybridsync_lag_seconds_count 3.0" in text
        assert 'hybridsync_lag_seconds_bucket{le="60.0"} 3.0' in text
    finally:
        engine.close()


def test_a_dirsync_delta_carries_each_objects_whenchanged(samba_dc, ad_conn, ad_ou, make_source):
    tag = ad_ou[5:13]
    a = seed.add_user(ad_conn, ad_ou, f"When A {tag}", sam=f"wa-{tag}")
    gone = seed.add_user(ad_conn, ad_ou, f"When G {tag}", sam=f"wg-{tag}")
    guid_a, guid_gone = seed.object_guid(ad_conn, a), seed.object_guid(ad_conn, gone)
    source = make_source(samba_dc, delta="dirsync", base_dn=ad_ou)
    _, _, batches = everything(source.read(Refresh("test start")))
    seed.set_attrs(ad_conn, a, displayName="changed")
    seed.delete(ad_conn, gone)
    objs, errs, _ = everything(source.read(batches[-1].cursor))
    assert errs == []
    ad_conn.search(a, "(objectClass=*)", "BASE", attributes=["whenChanged"])
    ad_now = ad_conn.response[0]["raw_attributes"]["whenChanged"][0].decode()
    for guid in (guid_a, guid_gone):
        when = objs[guid].first("whenChanged")
        assert objs[guid].partial and generalized_time(when) is not None, (guid, objs[guid].attributes)
    assert objs[guid_a].first("whenChanged") == ad_now  # the DC's own value, as a base read gives it

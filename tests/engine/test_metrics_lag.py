"""``hybridsync_lag_seconds`` (issue 17): fed by real outcomes -- each ok outcome of a change a
delta read carried, from that read's whenChanged to the moment it was applied; a full read, a
failed call, a change without whenChanged and a stored (old) whenChanged are not observed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget, Terminal
from hybridsync.engine.runtime.lag import BUCKETS, Lag, generalized_time
from hybridsync.engine.runtime.metrics import Metrics

from .enginekit import Clock, guid, group, make_engine, user


def ad_time(ago: float) -> str:
    """AD's generalized time of ``ago`` seconds before the wall clock (whole seconds, like AD)."""
    return (datetime.now(UTC) - timedelta(seconds=ago)).strftime("%Y%m%d%H%M%S.0Z")


def lag_lines(m: Metrics) -> dict[str, float]:
    out = {}
    for line in m.text().splitlines():
        if line.startswith("hybridsync_lag_seconds"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_delta_changes_applied_ok_are_observed_from_their_whenchanged_and_nothing_else():
    src, tgt = MemorySource(), MemoryTarget("app")
    for i in (1, 2, 3, 4):
        src.put(user(i, whenChanged=ad_time(86_400)))  # changed a day ago: the full read must not count it
    src.put(group(9, members=(1,)))
    clock = Clock()
    eng = make_engine(src, {"app": tgt}, clock=clock)
    m = Metrics()
    first = eng.run_once()
    m.observe(first, store=eng.store, targets=("app",))
    assert first.tallied[("app", "create", "ok")] == 5 and first.lag.count == 0  # a full read observes nothing

    src.modify(guid(1), displayName="One", whenChanged=ad_time(4))  # update: observed (~4 s)
    src.put(user(5, whenChanged=ad_time(2)))  # create: observed (~2 s)
    src.modify(guid(2), displayName="Two")  # no whenChanged in the delta: the stored (a day old) is not used
    src.modify(guid(3), displayName="Three", whenChanged=ad_time(3))  # the update fails: not observed
    src.modify(guid(4), description="unmapped", whenChanged=ad_time(3))  # nothing to apply: not observed
    src.add_member(guid(9), guid(5))  # member change with its whenChanged: add_members observed
    src.modify(guid(9), whenChanged=ad_time(1))
    tid3 = next(tid for tid, r in tgt.store.items() if r["attributes"].get("userName") == "u3@lab.test")
    tgt.inject(Terminal("400 refused", status=400), op="update", when=lambda _op, key: key == tid3, times=1)
    report = eng.run_once()
    m.observe(report, store=eng.store, targets=("app",))

    done = report.tallied
    assert done[("app", "update", "ok")] == 2 and done[("app", "create", "ok")] == 1
    assert done[("app", "update", "failed")] == 1 and done[("app", "add_members", "ok")] == 1
    assert report.lag.count == 3  # u1's update, u5's create, g9's member add -- not u2, u3, u4
    assert 4 + 2 + 1 - 3 <= report.lag.total <= 4 + 2 + 1 + 30  # whenChanged has whole seconds; a slow machine
    lines = lag_lines(m)
    assert lines["hybridsync_lag_seconds_count"] == 3.0
    assert lines["hybridsync_lag_seconds_sum"] == report.lag.total
    assert lines['hybridsync_lag_seconds_bucket{le="0.05"}'] == 0.0
    assert lines['hybridsync_lag_seconds_bucket{le="60.0"}'] == 3.0
    assert lines['hybridsync_lag_seconds_bucket{le="+Inf"}'] == 3.0

    clock.advance(hours=2)
    again = eng.run_once()  # no new change: u3's update retried by the due pass is not observed
    m.observe(again, store=eng.store, targets=("app",))
    assert again.tallied.get(("app", "update", "ok")) == 1, again.tallied
    assert again.lag.count == 0 and lag_lines(m)["hybridsync_lag_seconds_count"] == 3.0


def test_a_dry_run_observes_no_lag():
    src = MemorySource()
    src.put(user(1))
    eng = make_engine(src, {"app": MemoryTarget("app")})
    eng.run_once()
    src.modify(guid(1), displayName="One", whenChanged=ad_time(2))
    assert eng.run_once(dry_run=True).lag.count == 0


def test_generalized_time_reads_ad_forms_and_refuses_the_rest():
    assert generalized_time("20261203123456.0Z") == datetime(2026, 12, 3, 12, 34, 56, tzinfo=UTC).timestamp()
    assert generalized_time("20261203123456Z") == datetime(2026, 12, 3, 12, 34, 56, tzinfo=UTC).timestamp()
    assert generalized_time("20261203133456.5+0100") == datetime(2026, 12, 3, 12, 34, 56, 500000,
                                                                 tzinfo=UTC).timestamp()
    for bad in (None, "", "yesterday", "20261303123456.0Z", "2026120312345.0Z"):
        assert generalized_time(bad) is None


@given(st.lists(st.floats(min_value=-5, max_value=10_000, allow_nan=False), max_size=50))
def test_lag_buckets_count_every_observation_once_and_sum_them(values):
    lag = Lag()
    for v in values:
        lag = lag.observe(v)
    assert lag.count == len(values)
    assert abs(lag.total - sum(max(0.0, v) for v in values)) < 1e-6 * (1 + len(values)) * 10_000
    cum = lag.cumulative()
    assert [b for b, _ in cum] == [*BUCKETS, float("inf")] and cum[-1][1] == len(values)
    for bound, n in cum:
        assert n == sum(1 for v in values if max(0.0, v) <= bound)
    assert (lag + lag).count == 2 * len(values)

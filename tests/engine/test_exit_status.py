"""Issue 16 (3): an honest exit status. A cycle in which a target failed as a whole is exit 3
(quarantine) or 1, a cycle in which every planned action was left undone is never 0, and the
report, the cycle log line and ``status`` name the failed target and why."""

from __future__ import annotations

import httpx
from structlog.testing import capture_logs

from hybridsync.connectors.base import RetryAfter
from hybridsync.connectors.scim import ScimTarget
from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.config import Config, ScopeConfig, SourceConfig, TargetConfig
from hybridsync.engine.core.values import ObjectKind
from hybridsync.engine.runtime.engine import Engine, ObjectOutcome, RunReport
from hybridsync.statestore import Store

from .enginekit import BASE, STAFF, Clock, group, make_engine, user


def _source() -> MemorySource:
    src = MemorySource()
    for i in range(1, 4):
        src.put(user(i))
    src.put(group(100, [1, 2]))
    return src


def test_a_scim_target_whose_collections_answer_404_is_quarantined_and_named(tmp_path):
    """The issue's run: every listing 404, nothing created, and the exit status said success."""
    sent: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(f"{request.method} {request.url.path}")
        return httpx.Response(404, json={"status": "404", "detail": "Not Found"})

    token = tmp_path / "token"
    token.write_text("t0ken")
    url = "http://127.0.0.1:9/scim/v2"
    tcfg = TargetConfig(name="app", kind="scim", url=url, token_file=str(token), object_types=("user", "group"))
    cfg = Config(sources=(SourceConfig(name="corp", kind="memory", base_dn=BASE, poll_interval=0.05,
                                       scope=ScopeConfig(include_ous=(STAFF,))),), targets=(tcfg,))
    target = ScimTarget(tcfg, client=httpx.Client(transport=httpx.MockTransport(handle)))
    engine = Engine(cfg, store=Store.open(":memory:"), sources={"corp": _source()}, targets={"app": target},
                    clock=Clock())
    with capture_logs() as logs:
        report = engine.run_once()
    assert report.exit_code() == 3, report
    assert "app" in report.failed_targets and f"{url}/Users" in report.failed_targets["app"]
    cycle_line = next(e for e in logs if e["event"] == "cycle")
    assert "app" in cycle_line["failed_targets"] and "404" in cycle_line["failed_targets"]["app"]
    shown = {t.name: t for t in engine.status().targets}["app"]
    assert shown.quarantine is not None and f"{url}/Users" in shown.quarantine.reason
    assert not any(s.startswith(("POST", "PATCH", "DELETE")) for s in sent)
    engine.close()


class _Unreadable(MemoryTarget):
    """Answers every listing and lookup with a 503: the engine can't tell what is there."""

    def list_objects(self, kind: ObjectKind):  # type: ignore[override]
        return RetryAfter(30.0, "list: 503 Service Unavailable", 503)


def test_a_cycle_where_every_planned_action_was_left_undone_is_never_0():
    target = _Unreadable("app")
    target.inject(RetryAfter(30.0, "lookup: 503 Service Unavailable", 503), times=10_000, op="lookup_by_anchor")
    target.inject(RetryAfter(30.0, "lookup: 503 Service Unavailable", 503), times=10_000, op="lookup_by_attribute")
    engine = make_engine(_source(), {"app": target})
    with capture_logs() as logs:
        report = engine.run_once()
    assert not target.store  # nothing was created
    assert report.exit_code() == 1, report
    assert "503" in report.failed_targets["app"]
    cycle_line = next(e for e in logs if e["event"] == "cycle")
    assert "503" in cycle_line["failed_targets"]["app"]
    engine.close()


def test_exit_status_rules_on_the_report_alone():
    ok = ObjectOutcome("a", "app", "create", "ok")
    skipped = ObjectOutcome("b", "app", "create", "skipped", "target lookup failed")
    other = ObjectOutcome("c", "crm", "create", "skipped", "target quarantined: 401")
    assert RunReport(outcomes=(ok,)).exit_code() == 0
    assert RunReport(outcomes=(ok, skipped)).exit_code() == 1  # left undone: not a success
    assert RunReport(outcomes=(ok, other)).failed_targets == {"crm": "target quarantined: 401"}
    assert RunReport(outcomes=(ok, other), quarantined=("crm",)).exit_code() == 3
    assert RunReport(outcomes=(ObjectOutcome("d", "app", "noop", "noop"),)).exit_code() == 0

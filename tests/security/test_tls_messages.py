"""Issue 15, finding 5: TLS messages say what actually happens; an insecure choice is logged as a
warning every time a connector starts, not only by check-config."""

from __future__ import annotations

from structlog.testing import capture_logs

from hybridsync.connectors.ad.source import AdSource
from hybridsync.connectors.scim import ScimTarget
from hybridsync.engine.core.config import SourceConfig, TargetConfig, insecure_source, insecure_target


def test_plain_ldap_is_not_called_unencrypted_it_upgrades_with_starttls():
    config = SourceConfig(name="corp", urls=("ldap://dc1.lab.test",), base_dn="DC=lab,DC=test", bind_dn="CN=x")
    assert insecure_source(config) == []
    import hybridsync.connectors.ad.connection as cx
    assert "StartTLS" in (cx.open_connection.__doc__ or "")


def test_each_start_warns_of_tls_verify_false_and_remote_http():
    remote = TargetConfig(name="app", url="http://scim.example.test/v2", auth="none")
    unverified = TargetConfig(name="app2", url="https://scim.example.test/v2", auth="none", tls_verify=False)
    source = SourceConfig(name="corp", urls=("ldaps://dc1",), base_dn="DC=lab,DC=test", tls_verify=False)
    for _ in range(2):  # every start
        with capture_logs() as logs:
            ScimTarget(remote).close()
            ScimTarget(unverified).close()
            AdSource(source)
        events = [(e["event"], e.get("key")) for e in logs if e["log_level"] == "warning"]
        assert ("insecure_target", "url") in events
        assert ("insecure_target", "tls_verify") in events
        assert ("insecure_source", "tls_verify") in events


def test_loopback_http_and_verified_https_start_quietly():
    with capture_logs() as logs:
        ScimTarget(TargetConfig(name="app", url="http://127.0.0.1:9/scim/v2", auth="none")).close()
        ScimTarget(TargetConfig(name="app", url="https://scim.example.test/v2", auth="none")).close()
    assert not [e for e in logs if e["log_level"] == "warning"]
    assert insecure_target(TargetConfig(name="app", url="https://x.test", auth="none")) == []

"""Shared test setup: Hypothesis profiles and the real lab services as session fixtures.

The Samba AD DC and scim2-server fixtures live in the installed package
(``hybridsync.engine.lab.pytest_samba`` / ``pytest_scim``) so the benchmarks and
``hybridsync lab`` use the same code.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=100, deadline=None)
settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("nightly", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))

pytest_plugins = [
    "hybridsync.engine.lab.pytest_samba",
    "hybridsync.engine.lab.pytest_scim",
    "hybridsync.engine.lab.pytest_postgres",
]

# -- the fast tier: every test that starts Samba or scim2-server carries its marker -----------

import pytest  # noqa: E402

from hybridsync.engine.lab.guard import FORBID_ENV, FORBID_TEST_ENV  # noqa: E402

SERVICE_FIXTURES = {
    "samba": {"samba_dc", "samba_seed", "ad_conn", "ad_ou", "samba_dc_factory", "_samba_lab"},
    "scim": {"scim_server", "scim_target", "scim_target_config", "scimmy_server", "scim2_server", "django_scim_server"},
    "postgres": {"pg_server", "pg_schema"},
}


def pytest_collection_modifyitems(config, items):
    """A test that asks for a service's fixture carries that service's marker."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in SERVICE_FIXTURES.items():
            if used & fixtures and item.get_closest_marker(marker) is None:
                item.add_marker(getattr(pytest.mark, marker))


@pytest.fixture(autouse=True)
def _forbid_unmarked_lab_services(request, monkeypatch):
    """A test without the samba (scim) marker cannot start a Samba DC (scim2-server), not even
    in a subprocess: ``hybridsync.engine.lab.guard`` refuses, naming the test."""
    forbidden = [m for m in SERVICE_FIXTURES if request.node.get_closest_marker(m) is None]
    if forbidden:
        monkeypatch.setenv(FORBID_ENV, " ".join(forbidden))
        monkeypatch.setenv(FORBID_TEST_ENV, request.node.nodeid)
    else:
        monkeypatch.delenv(FORBID_ENV, raising=False)

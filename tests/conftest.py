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
]

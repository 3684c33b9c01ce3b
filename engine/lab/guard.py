"""A guard the test suite sets so that its fast tier can never start a lab service unnoticed.

``tests/conftest.py`` sets ``HYBRIDSYNC_LAB_FORBID`` (e.g. ``"samba scim"``) and
``HYBRIDSYNC_LAB_FORBID_TEST`` (the test's id) for every test that does not carry the matching
pytest marker; the Samba and SCIM lab services refuse to start under it, also in a subprocess
(the environment is inherited). Outside the suite neither variable is set and this does nothing.
"""

from __future__ import annotations

import os

from hybridsync.engine.lab.errors import LabError

FORBID_ENV = "HYBRIDSYNC_LAB_FORBID"
FORBID_TEST_ENV = "HYBRIDSYNC_LAB_FORBID_TEST"


class LabServiceForbidden(LabError):
    """A test without the service's marker tried to start it."""


def refuse_if_forbidden(service: str, what: str) -> None:
    """Raise when ``service`` ("samba", "scim" or "postgres") is forbidden in this process's environment."""
    if service in os.environ.get(FORBID_ENV, "").split():
        test = os.environ.get(FORBID_TEST_ENV, "this test")
        raise LabServiceForbidden(
            f"{what}: {test} starts {service} but is not marked @pytest.mark.{service} "
            f"(mark it, so that `-m \"not {service}\"` leaves it out)")

"""Every lab SCIM server refuses to start in a test without the ``scim`` marker (fast tier)."""

from __future__ import annotations

import pytest

from hybridsync.engine.lab.guard import LabServiceForbidden
from hybridsync.engine.lab.djangoscim import DjangoScimLab
from hybridsync.engine.lab.pytest_scim import MEASURED_SCIM_SERVERS
from hybridsync.engine.lab.scim import ScimLab
from hybridsync.engine.lab.scimmy import ScimmyLab


@pytest.mark.parametrize("lab_class", [ScimLab, ScimmyLab, DjangoScimLab], ids=lambda c: c.name)
def test_an_unmarked_test_cannot_start_a_scim_server(lab_class):
    lab = lab_class()
    with pytest.raises(LabServiceForbidden, match="not marked @pytest.mark.scim"):
        lab.start()
    assert lab.port is None


def test_every_server_fixture_is_a_scim_service_fixture():
    import importlib.util
    import pathlib

    spec = importlib.util.spec_from_file_location("suite_conftest", pathlib.Path(__file__).parents[1] / "conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    assert set(MEASURED_SCIM_SERVERS.values()) <= conftest.SERVICE_FIXTURES["scim"]

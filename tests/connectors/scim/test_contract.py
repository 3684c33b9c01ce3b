"""The conformance kit's contract, run against every real SCIM server of the suite
(``SCIM_SERVERS``: scim2-server, SCIMMY, django-scim2)."""

import pytest

from hybridsync.connectors.testing.target_contract import TargetContract
from hybridsync.engine.lab.pytest_scim import SCIM_SERVERS, any_scim_server

pytestmark = pytest.mark.scim


@pytest.fixture(params=sorted(SCIM_SERVERS))
def scim_server(request):
    return any_scim_server(request)


class TestScimTargetContract(TargetContract):
    pass

"""The conformance kit's contract, run against the real scim2-server."""

import pytest

from hybridsync.connectors.testing.target_contract import TargetContract

pytestmark = pytest.mark.scim


class TestScimTargetContract(TargetContract):
    pass

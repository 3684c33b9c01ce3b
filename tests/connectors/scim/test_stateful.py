"""The kit's state machine drives ScimTarget and a model side by side on every real SCIM server
of the suite (``SCIM_SERVERS``)."""

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from hybridsync.connectors.testing.stateful import TargetStateMachine

from hybridsync.engine.lab.pytest_scim import SCIM_SERVERS, any_scim_server

pytestmark = pytest.mark.scim


@pytest.fixture(params=sorted(SCIM_SERVERS))
def scim_server(request):
    return any_scim_server(request)


def test_scim_target_keeps_the_service_equal_to_the_model(faulty_target, backdoor, faults):
    run_state_machine_as_test(
        lambda: TargetStateMachine(faulty_target, backdoor, faults),
        settings=settings(max_examples=20, stateful_step_count=15, deadline=None),
    )

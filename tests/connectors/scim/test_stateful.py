"""The kit's state machine drives ScimTarget and a model side by side on the real scim2-server."""

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from hybridsync.connectors.testing.stateful import TargetStateMachine

pytestmark = pytest.mark.scim


def test_scim_target_keeps_the_service_equal_to_the_model(faulty_target, backdoor, faults):
    run_state_machine_as_test(
        lambda: TargetStateMachine(faulty_target, backdoor, faults),
        settings=settings(max_examples=20, stateful_step_count=15, deadline=None),
    )

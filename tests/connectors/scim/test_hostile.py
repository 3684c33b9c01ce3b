"""The SCIM connector against the hostile-server kit (issue 15): every call ends within its
deadline, nothing unproven is done, no secret in any result or log line."""

from __future__ import annotations

import pytest

from hybridsync.connectors.scim import ScimTarget
from hybridsync.connectors.testing.hostile.contract import HostileContract
from hybridsync.engine.core.config import TargetConfig

pytestmark = pytest.mark.slow  # ~2 minutes: stalls and drip-feeds at a 0.5 s deadline
TOKEN = "tok-Hostile-S3cret-55"


class TestScimAgainstHostileServers(HostileContract):
    timeout = 0.5
    max_requests = 8
    secrets = (TOKEN,)

    @pytest.fixture
    def make_target(self, monkeypatch):
        monkeypatch.setenv("HS_TEST_HOSTILE_TOKEN", TOKEN)

        def make(url: str) -> ScimTarget:
            return ScimTarget(TargetConfig(name="hostile", url=url, token_env="HS_TEST_HOSTILE_TOKEN",
                                           timeout=self.timeout, max_response_bytes=1024 * 1024))
        return make

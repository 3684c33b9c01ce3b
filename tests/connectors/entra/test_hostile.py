"""The Entra connector against the hostile-server kit with a Graph-shaped server: the token
endpoint answers a token (it is not under test), every Graph request the hostile answer. Every
call ends within its deadline, nothing unproven is done (a create without an id, a listing that
never reached its deltaLink, a lookup page that is not a collection), no secret in any output."""

from __future__ import annotations

import re

import pytest

from hybridsync.connectors.entra import EntraTarget
from hybridsync.connectors.testing.hostile.contract import HostileContract
from hybridsync.connectors.testing.hostile.server import Answer, Seen
from hybridsync.engine.core.config import TargetConfig

pytestmark = pytest.mark.slow  # stalls and drip-feeds at a 0.5 s deadline
SECRET = "entra-Hostile-S3cret-91"
TOKEN = "eyJ-hostile-bearer-T0ken-42"
TENANT = "00000000-0000-0000-0000-00000000beef"
_TOKEN_PATH = re.compile(rf"^/{TENANT}/oauth2/v2\.0/token")


class TestEntraAgainstHostileServers(HostileContract):
    timeout = 0.5
    max_requests = 8
    secrets = (SECRET, TOKEN)
    path = "/v1.0"
    create_attributes = {"userPrincipalName": "a@corp.example", "displayName": "A"}

    def route(self, seen: Seen) -> Answer | None:
        if _TOKEN_PATH.match(seen.path):
            return Answer.json(200, {"token_type": "Bearer", "expires_in": 3599, "access_token": TOKEN})
        return None

    @pytest.fixture
    def make_target(self, monkeypatch):
        monkeypatch.setenv("HS_TEST_HOSTILE_ENTRA_SECRET", SECRET)

        def make(url: str) -> EntraTarget:
            root = url[: -len(self.path)]
            return EntraTarget(TargetConfig(name="hostile", kind="entra", tenant_id=TENANT, client_id="app",
                                            client_secret_env="HS_TEST_HOSTILE_ENTRA_SECRET", graph_url=url,
                                            authority_url=root, timeout=self.timeout,
                                            max_response_bytes=1024 * 1024))
        return make

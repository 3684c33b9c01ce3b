"""pytest plugin: a real scim2-server for the session, and a fresh ``ScimTarget`` per test.

- ``scim_server`` (session): a started ``ScimLab`` with ``.url`` (the SCIM base, ``.../v2``),
  ``.token``, ``.backdoor`` (``ScimBackdoor``: read back / seed / reset / request counts) and
  ``.reset()``; plus ``.token_file``, a 0600 file holding the token for ``TargetConfig``.
- ``scim_target`` (function): a ``ScimTarget`` on the reset server, closed after the test.
- ``scim_target_config`` (function): the ``TargetConfig`` it uses (``evolve`` it for variants).
"""

from __future__ import annotations

import os

import pytest

from hybridsync.engine.lab.scim import ScimLab


@pytest.fixture(scope="session")
def scim_server(tmp_path_factory):
    lab = ScimLab().start()
    token_file = tmp_path_factory.mktemp("scim") / "token"
    token_file.write_text(lab.token)
    os.chmod(token_file, 0o600)
    lab.token_file = str(token_file)
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def scim_target_config(scim_server):
    from hybridsync.engine.core.config import TargetConfig

    return TargetConfig(name="scim-lab", kind="scim", url=scim_server.url, token_file=scim_server.token_file,
                        object_types=("user", "group", "contact"))


@pytest.fixture
def scim_target(scim_server, scim_target_config):
    from hybridsync.connectors.scim import ScimTarget

    scim_server.reset()
    target = ScimTarget(scim_target_config)
    try:
        yield target
    finally:
        target.close()

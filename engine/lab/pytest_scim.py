"""pytest plugin: a real scim2-server for the session, and a fresh ``ScimTarget`` per test.

- ``scim_server`` (session): a started ``ScimLab`` with ``.url`` (the SCIM base, ``.../v2``),
  ``.token``, ``.backdoor`` (``ScimBackdoor``: read back / seed / reset / request counts) and
  ``.reset()``; plus ``.token_file``, a 0600 file holding the token for ``TargetConfig``.
- ``scimmy_server`` / ``django_scim_server`` (session): the same for SCIMMY (npm) and django-scim2
  (PyPI), base ``.../scim/v2``; ``SCIM_SERVERS`` names every server's fixture, and
  ``any_scim_server`` lets a module run against each.
- ``scim_target`` (function): a ``ScimTarget`` on the reset server, closed after the test.
- ``scim_target_config`` (function): the ``TargetConfig`` it uses (``evolve`` it for variants).
"""

from __future__ import annotations

import os

import pytest

from hybridsync.engine.lab.scim import ScimLab


def _started(lab: ScimLab, tmp_path_factory):
    lab.start()
    token_file = tmp_path_factory.mktemp("scim") / "token"
    token_file.write_text(lab.token)
    os.chmod(token_file, 0o600)
    lab.token_file = str(token_file)
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="session")
def scim2_server(tmp_path_factory):
    yield from _started(ScimLab(), tmp_path_factory)


@pytest.fixture(scope="session")
def scim_server(scim2_server):
    return scim2_server


@pytest.fixture(scope="session")
def scimmy_server(tmp_path_factory):
    """SCIMMY (npm scimmy + scimmy-routers under Express) on loopback: ``engine/lab/scimmy.py``."""
    from hybridsync.engine.lab.scimmy import ScimmyLab

    yield from _started(ScimmyLab(), tmp_path_factory)


@pytest.fixture(scope="session")
def django_scim_server(tmp_path_factory):
    """django-scim2 (PyPI, a tiny Django project) on loopback: ``engine/lab/djangoscim.py``."""
    from hybridsync.engine.lab.djangoscim import DjangoScimLab

    yield from _started(DjangoScimLab(), tmp_path_factory)


# Every real SCIM server the suite runs the conformance kit and the end-to-end scenario against:
# server name -> its session fixture. A test module overrides ``scim_server`` with
# ``params=SCIM_SERVERS`` (see ``any_scim_server``) to run against each.
SCIM_SERVERS = {"scim2-server": "scim2_server", "scimmy": "scimmy_server", "django-scim2": "django_scim_server"}
# Every server whose dialect is measured (tests/samples/measured-<server>.json).
MEASURED_SCIM_SERVERS = dict(SCIM_SERVERS)


def any_scim_server(request):
    """The body of a parametrized ``scim_server`` override: the session lab named by the param."""
    return request.getfixturevalue(MEASURED_SCIM_SERVERS[request.param])


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

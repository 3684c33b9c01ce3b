"""pytest plugin: a real Samba AD DC for the test suite (registered by tests/conftest.py).

Fixtures
- ``samba_dc`` (session): a running DC restored from the machine-wide cache
  (``samba_cache``) holding the baseline lab directory: ``seed_lab_directory`` with 200
  users (odd values included), nested groups with a cycle, contacts, and ``CN=Large Group``
  with 5,000 members. Stopped and deleted at session end. Do not stop it in a test.
- ``samba_seed`` (session): the ``SeedResult`` describing that directory (DNs by role).
- ``ad_conn`` (session): an admin ldap3 connection to it (LDAPS, CA-verified).
- ``ad_ou`` (function): a fresh ``OU=t-<uuid8>,OU=Tests,<base>`` for tests that edit AD.
- ``samba_dc_factory`` (session): ``make(*, start=True, users=200, large_group_size=5000)
  -> SambaDC`` gives a private DC (a copy of the cache for that seed spec, on a newly
  allocated loopback address) for destructive tests; all are stopped and deleted at session
  end. A small spec (e.g. ``users=20, large_group_size=0``) backs up and restores faster.
  Every copy of one cache entry shares the domain SID, GUIDs and the DC's invocationId.
  ``realm="EMEA.TEST", domain="EMEA"`` (any pair other than the lab's ``LAB.TEST``/``LAB``)
  gives a copy of a separately provisioned domain -- its own realm, NetBIOS name, SID and base
  DN (``DC=emea,DC=test``) -- cached under its own key (first run: provisioning + seeding).

If Samba is not installed the fixtures FAIL (never skip) and say to run scripts/bootstrap.sh.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hybridsync.engine.lab import debian
from hybridsync.engine.lab.samba import SambaDC, SambaNotInstalled, samba_binary
from hybridsync.engine.lab.samba_cache import (DEFAULT_DOMAIN, DEFAULT_REALM, cached_lab_dc, load_seed_result,
                                                short_tempdir)
from hybridsync.engine.lab.seed import SeedResult, add_ou


def _require_samba() -> None:
    try:
        samba_binary("samba")
        samba_binary("samba-tool")
        debian.require()
    except (SambaNotInstalled, RuntimeError) as exc:
        pytest.fail(str(exc), pytrace=False)


class _Lab:
    """Tracks every DC this session made, so all are stopped and removed at the end."""

    def __init__(self) -> None:
        self.dcs: list[SambaDC] = []
        self.dirs: list[Path] = []

    def make(self, *, start: bool = True, users: int = 200, large_group_size: int = 5000,
             realm: str = DEFAULT_REALM, domain: str = DEFAULT_DOMAIN) -> SambaDC:
        _require_samba()
        root = short_tempdir("hs-dc-")
        self.dirs.append(root)
        dc = cached_lab_dc(root / "dc", users=users, large_group_size=large_group_size, realm=realm, domain=domain)
        self.dcs.append(dc)
        if start:
            dc.start()
        return dc

    def track(self, dc: SambaDC) -> SambaDC:
        """Register a DC made another way (e.g. restored from a backup) for cleanup."""
        self.dcs.append(dc)
        self.dirs.append(dc.workdir)
        return dc

    def scratch_dir(self) -> Path:
        root = short_tempdir("hs-x-")
        self.dirs.append(root)
        return root

    def close(self) -> None:
        for dc in reversed(self.dcs):
            try:
                dc.close()
            except Exception:  # noqa: BLE001 - clean up the rest regardless
                pass
        for path in self.dirs:
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def _samba_lab() -> Iterator[_Lab]:
    lab = _Lab()
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture(scope="session")
def samba_dc(_samba_lab: _Lab) -> SambaDC:
    return _samba_lab.make()


@pytest.fixture(scope="session")
def samba_seed(samba_dc: SambaDC) -> SeedResult:
    return load_seed_result(samba_dc.workdir)


@pytest.fixture(scope="session")
def ad_conn(samba_dc: SambaDC) -> Iterator[object]:
    conn = samba_dc.connect()
    yield conn
    conn.unbind()


@pytest.fixture
def ad_ou(ad_conn, samba_dc: SambaDC) -> str:
    return add_ou(ad_conn, f"OU=Tests,{samba_dc.base_dn}", f"t-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="session")
def samba_dc_factory(_samba_lab: _Lab) -> Callable[..., SambaDC]:
    return _samba_lab.make

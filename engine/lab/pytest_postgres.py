"""pytest plugin: a private PostgreSQL for the session (registered by tests/conftest.py).

- ``pg_server`` (session): a started ``PostgresLab`` (``engine/lab/postgres.py``) on a free
  loopback port: ``.url`` (``postgresql://hybridsync@127.0.0.1:<port>/postgres``, no password),
  ``.password_file`` (0600), ``.connect_kwargs()`` / ``.connect()``. fsync is off (tests need no
  power-loss durability). Stopped and deleted at session end; dies with the test process even
  when that is killed with SIGKILL.
- ``pg_schema`` (function): a fresh, empty schema name in it, dropped after the test.

If PostgreSQL is not installed the fixture FAILS (never skips) and says to run bootstrap.
"""

from __future__ import annotations

import uuid

import pytest

from hybridsync.engine.lab.postgres import PostgresLab, PostgresLabError


@pytest.fixture(scope="session")
def pg_server():
    lab = PostgresLab(durable=False)
    try:
        lab.start()
    except PostgresLabError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def pg_schema(pg_server):
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    with pg_server.connect(autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')

"""Fixtures shared by the PostgreSQL store's statement-level tests: a store on the suite's
private PostgreSQL (a fresh schema per test) and the texts of the statements it sends."""

from __future__ import annotations

import psycopg
import pytest

from hybridsync.statestore.postgres.store import PostgresStore


@pytest.fixture
def store(pg_server, pg_schema):
    s = PostgresStore.open(pg_server.url, schema=pg_schema, password=pg_server.connect_kwargs()["password"])
    yield s
    s.close()


@pytest.fixture
def sent(monkeypatch):
    """The texts of the statements the store sends (each ``Cursor.execute``)."""
    texts: list[str] = []
    orig = psycopg.Cursor.execute

    def execute(self, query, *args, **kwargs):  # type: ignore[no-untyped-def]
        texts.append(str(query))
        return orig(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", execute)
    return texts

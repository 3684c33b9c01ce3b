"""``[state] url = "postgresql://..."`` selects the PostgreSQL store; ``path`` keeps SQLite.
The url never holds a password (password_env / password_file do), and every command that
opens the store -- sync, status, log, explain -- opens the one the config selects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hybridsync.engine.cli import main
from hybridsync.engine.config.loader import load_config
from hybridsync.engine.core.errors import ConfigError
from hybridsync.statestore import Store
from hybridsync.statestore.factory import open_existing, open_store, postgres_url, where
from hybridsync.statestore.testing.samples import G, obj

REST = """
[[source]]
name = "corp"
kind = "ad"
urls = ["ldaps://127.0.0.2:636"]
base_dn = "DC=lab,DC=test"
bind_dn = "CN=Administrator,CN=Users,DC=lab,DC=test"
password_env = "HYBRIDSYNC_TEST_PG_AD_PASSWORD"

[[target]]
name = "app"
kind = "scim"
url = "http://127.0.0.1:8100/scim/v2"
token_env = "HYBRIDSYNC_TEST_PG_TOKEN"
"""


def write(tmp_path: Path, state: str) -> Path:
    cfg = tmp_path / "hybridsync.toml"
    cfg.write_text(f"[state]\n{state}\n{REST}")
    return cfg


def test_a_url_with_a_password_or_another_scheme_is_refused_without_echoing_it(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, 'url = "postgresql://sync:hunter2@db.corp/hs"'), check_secrets=False)
    assert "password_env or password_file" in str(info.value) and "hunter2" not in str(info.value)
    with pytest.raises(ConfigError, match="postgresql://user@host"):
        load_config(write(tmp_path, 'url = "mysql://db.corp/hs"'), check_secrets=False)
    with pytest.raises(ConfigError, match="HYBRIDSYNC_TEST_PG_UNSET is not set"):
        load_config(write(tmp_path, 'url = "postgresql://sync@db/hs"\npassword_env = "HYBRIDSYNC_TEST_PG_UNSET"'))


def test_a_url_selects_postgres_with_its_secret_and_tls_files_next_to_the_config(tmp_path):
    config = load_config(write(tmp_path, 'url = "postgresql://sync@db.corp:5433/hs"\nschema = "corp"\n'
                                         'password_file = "pg.pw"\nca_file = "ca.pem"\nlease_ttl = 20'),
                         check_secrets=False)
    state = config.state
    assert (state.url, state.schema, state.lease_ttl) == ("postgresql://sync@db.corp:5433/hs", "corp", 20.0)
    assert state.password_file == str(tmp_path / "pg.pw") and "pg.pw" not in repr(state)
    assert where(state) == "postgresql://sync@db.corp:5433/hs#schema=corp"
    url = postgres_url(state)
    assert "sslmode=verify-full" in url and f"sslrootcert={tmp_path / 'ca.pem'}" in url


def test_without_a_url_the_sqlite_file_is_opened(tmp_path):
    config = load_config(write(tmp_path, 'path = "s.db"'), check_secrets=False)
    assert open_existing(config.state) is None
    with open_store(config.state) as s:
        assert isinstance(s, Store) and s.path == str(tmp_path / "s.db")


@pytest.mark.postgres
def test_the_engine_and_status_open_the_postgres_store_the_config_names(tmp_path, pg_server, pg_schema, monkeypatch):
    from hybridsync.engine.runtime.engine import Engine
    from hybridsync.statestore.postgres.store import PostgresStore

    monkeypatch.setenv("HYBRIDSYNC_TEST_PG_PASSWORD", pg_server.connect_kwargs()["password"])
    monkeypatch.setenv("HYBRIDSYNC_TEST_PG_AD_PASSWORD", "unused")
    monkeypatch.setenv("HYBRIDSYNC_TEST_PG_TOKEN", "unused")
    cfg = write(tmp_path, f'url = "{pg_server.url}"\nschema = "{pg_schema}"\npassword_env = "HYBRIDSYNC_TEST_PG_PASSWORD"')
    config = load_config(cfg)
    assert open_existing(config.state) is None  # nothing there yet, and nothing created
    engine = Engine(config, sources={}, targets={}, mappings={})
    try:
        assert isinstance(engine.store, PostgresStore)
        engine.store.put_object(obj(attributes={"sAMAccountName": "jdoe"}))
        engine.store.begin_cycle("corp", "full")
    finally:
        engine.close()
    assert main(["status", "-c", str(cfg), "--json"]) == 0
    assert main(["explain", "-c", str(cfg), "jdoe"]) == 0
    with open_existing(config.state) as s:
        assert s.get_object("corp", G) is not None

"""Which store a config selects: ``[state] url = "postgresql://..."`` the PostgreSQL store
(statestore/postgres), otherwise the SQLite file at ``[state] path``.

    store = open_store(config.state)                  # creates or migrates
    store = open_existing(config.state)               # read-only, None when there is none yet

The password comes from ``password_env`` / ``password_file`` at the moment of opening (never
from the url, which the config loader refuses when it holds one); ``ca_file`` / ``tls_verify``
become libpq's ``sslrootcert`` / ``sslmode`` like the other connections' TLS options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hybridsync.statestore.protocol import StateStore


def is_postgres(state: Any) -> bool:
    return bool(getattr(state, "url", None))


def where(state: Any) -> str:
    """What messages call the store: the url without a password, or the file path."""
    if is_postgres(state):
        from hybridsync.statestore.postgres.store import redact

        return redact(state.url) + (f"#schema={state.schema}" if state.schema else "")
    return str(state.path)


def postgres_url(state: Any) -> str:
    """The url with the TLS options of ``[state]`` added as libpq parameters."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(state.url)
    if state.ca_file:
        params["sslrootcert"] = state.ca_file
        params.setdefault("sslmode", "verify-full" if state.tls_verify else "require")
    elif not state.tls_verify:
        params.setdefault("sslmode", "require")
    if params == conninfo_to_dict(state.url):
        return str(state.url)
    return make_conninfo("", **params)


def open_store(state: Any, *, readonly: bool = False) -> StateStore:
    """The store ``state`` (a ``StateConfig``) selects, created or migrated unless ``readonly``."""
    if is_postgres(state):
        from hybridsync.statestore.postgres.store import PostgresStore

        return PostgresStore.open(postgres_url(state), schema=state.schema, password=state.password(),
                                  readonly=readonly)
    from hybridsync.statestore.store import Store

    return Store.open(state.path, readonly=readonly)


def open_existing(state: Any, *, readonly: bool = True) -> StateStore | None:
    """The store if it exists (read-only unless asked), else None; never creates one
    (``":memory:"`` is None too: it does not outlive its process)."""
    if is_postgres(state):
        store = open_store(state, readonly=True)
        if not _has_meta(store):
            store.close()
            return None
        if readonly:
            return store
        store.close()
        return open_store(state)
    p = str(state.path)
    if p == ":memory:" or not Path(p).exists():
        return None
    return open_store(state, readonly=readonly)


def _has_meta(store: Any) -> bool:
    from hybridsync.statestore.postgres import schema

    return "meta" in schema._tables(store._raw)

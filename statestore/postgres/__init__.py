"""hybridsync.statestore.postgres: the PostgreSQL state store (see statestore/README.md)."""

"""The state store: hybridsync's only memory (embedded SQLite through sqlite-utils)."""

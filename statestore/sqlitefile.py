"""Opening a state store file (checks, pragmas, migrations) and its JSON Lines dump.

The dump format is documented in README.md: a header line
``{"format": "hybridsync-statestore", "version": N, "tables": [...]}`` then one
``{"t": table, "r": {column: value}}`` line per row.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import IO, Any

from sqlite_utils import Database

from hybridsync.statestore import migrations as mig
from hybridsync.statestore.codec import opened_row, packed_row
from hybridsync.statestore.errors import StoreCorrupt
from hybridsync.statestore.handle import Db

DUMP_FORMAT = "hybridsync-statestore"
# SQLite page cache per connection. 4 MiB, not 32: the store file is read through the OS page
# cache anyway, and the 32 MiB filled up in every large full sync (28 of P5's 100k peak RSS)
# for no measurable speed: one run, both sides (bench/README.md, issue 17, 2026-12-03), 100k
# full sync 538 s with 4 MiB vs 641 s with 32 MiB, 10-change cycle at 100k 179 vs 211 ms (load 15-20).
CACHE_KIB = 4 * 1024


def open_database(p: str, *, readonly: bool, synchronous: str,
                  stop_before: str | None) -> Database:
    """Connect to, check, configure and (unless ``readonly``) migrate the store file ``p``."""
    if synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
        raise ValueError(f"synchronous must be NORMAL, FULL or EXTRA, not {synchronous!r}")
    if p != ":memory:" and Path(p).is_dir():
        raise StoreCorrupt(p, "is a directory, not a state store file")
    if readonly and p != ":memory:" and not Path(p).exists():
        raise FileNotFoundError(p)
    if p != ":memory:" and not readonly:
        Path(p).parent.mkdir(parents=True, exist_ok=True)
    try:
        if readonly:
            conn = sqlite3.connect(f"{Path(p).resolve().as_uri()}?mode=ro", uri=True,
                                   timeout=30, isolation_level=None, check_same_thread=False)
        else:
            conn = sqlite3.connect(p, timeout=30, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreCorrupt(p, f"cannot open: {exc}") from exc
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute(f"PRAGMA cache_size = {-CACHE_KIB}")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "meta" not in tables:
            raise StoreCorrupt(p, "an SQLite database, but not a hybridsync state store")
        if "meta" in tables:
            row = conn.execute("SELECT value FROM meta WHERE key='format_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > mig.FORMAT_VERSION:
                raise StoreCorrupt(
                    p, f"format version {version} is newer than this hybridsync "
                    f"understands ({mig.FORMAT_VERSION}); upgrade hybridsync")
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        db = Database(conn, execute_plugins=False)
        if not readonly:
            mig.migrations.apply(db, stop_before=stop_before)
            if stop_before is None:
                set_format_version(conn)
    except StoreCorrupt:
        conn.close()
        raise
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreCorrupt(p, str(exc)) from exc
    return db


def set_format_version(conn: sqlite3.Connection) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('format_version', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [json.dumps(mig.FORMAT_VERSION)],
    )


def write_dump(db: Db, fp: IO[str], format_version: int) -> None:
    """Every table's rows as JSON Lines, read in one transaction (one point in time)."""
    with db.atomic():
        header = {"format": DUMP_FORMAT, "version": format_version, "tables": list(mig.TABLES)}
        fp.write(json.dumps(header) + "\n")
        for table in mig.TABLES:
            for row in db.rows(f"SELECT * FROM {table}"):
                fp.write(json.dumps({"t": table, "r": opened_row(table, dict(row))}, ensure_ascii=False) + "\n")


def read_dump_header(fp: IO[str], path: str | Path) -> str | None:
    """Check a dump's header line; returns the migration to stop before when building the
    schema for it (None: the dump is of the current format)."""
    first = fp.readline()
    try:
        header = json.loads(first)
    except json.JSONDecodeError as exc:
        raise StoreCorrupt(str(path), f"not a state store dump: {exc}") from exc
    if header.get("format") != DUMP_FORMAT:
        raise StoreCorrupt(str(path), "not a hybridsync state store dump")
    version = int(header.get("version", 0))
    if version > mig.FORMAT_VERSION or version < 1:
        raise StoreCorrupt(str(path), f"dump format version {version} is not supported")
    if str(path) != ":memory:" and Path(path).exists() and Path(path).stat().st_size:
        raise FileExistsError(str(path))
    names = [m.name for m in mig.migrations._migrations]
    return names[version] if version < len(names) else None


def load_rows(db: Db, fp: IO[str], path: str | Path) -> None:
    """Insert a dump's rows (after its header) into a store whose schema is at its version."""
    columns = {t: {r[1] for r in db.conn.execute(f"PRAGMA table_info({t})")} for t in mig.TABLES}
    with db.atomic():
        db.conn.execute("DELETE FROM meta")
        for line in fp:
            if not line.strip():
                continue
            item: dict[str, Any] = json.loads(line)
            row = packed_row(item.get("t", ""), item["r"])
            if item.get("t") not in columns or not set(row) <= columns[item["t"]]:
                raise StoreCorrupt(str(path), f"dump row does not fit the schema: {line[:80]}")
            cols = ",".join(f'"{c}"' for c in row)
            db.conn.execute(
                f"INSERT INTO {item['t']} ({cols}) VALUES ({','.join('?' * len(row))})",
                list(row.values()),
            )


def compact(conn: Any, path: str, free_fraction: float) -> int:
    """Give the pages a prune freed back to the file system (``VACUUM``) when they are more
    than ``free_fraction`` of the SQLite file: a file never shrinks on its own. Returns the
    bytes released (0: not needed, or not a SQLite file). Outside any transaction."""
    if not isinstance(conn, sqlite3.Connection) or conn.in_transaction or path == ":memory:":
        return 0
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    if not pages or free / pages <= free_fraction:
        return 0
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return int((pages - conn.execute("PRAGMA page_count").fetchone()[0]) * size)

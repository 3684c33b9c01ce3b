"""Schema migrations (``sqlite_utils.Migrations``): one function per change, each in one
transaction. Never edit a released migration; add a new one and bump ``FORMAT_VERSION``.
The schema is documented in README.md.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

MIGRATION_SET = "hybridsync-statestore"
FORMAT_VERSION = 5  # 4: m004_reports_by_manager; 5: m005_compressed_recordings

migrations = Migrations(MIGRATION_SET)


@migrations()
def m001_initial_schema(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;

        CREATE TABLE objects (
            source TEXT NOT NULL, anchor TEXT NOT NULL, object_guid TEXT NOT NULL,
            kind TEXT NOT NULL, dn TEXT NOT NULL,
            dn_lower TEXT,  -- only when lower(dn) (ASCII-only) differs from Python's lower()
            sam_lower TEXT, upn_lower TEXT, attrs TEXT NOT NULL,
            usn INTEGER, deleted INTEGER NOT NULL DEFAULT 0, deleted_at TEXT,
            last_seen_round INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (source, anchor)
        );
        CREATE INDEX objects_guid ON objects (object_guid);
        CREATE INDEX objects_dn ON objects (coalesce(dn_lower, lower(dn)));
        CREATE INDEX objects_sam ON objects (sam_lower) WHERE sam_lower IS NOT NULL;
        CREATE INDEX objects_upn ON objects (upn_lower) WHERE upn_lower IS NOT NULL;
        CREATE INDEX objects_seen ON objects (source, last_seen_round) WHERE deleted = 0;

        CREATE TABLE object_members (
            source TEXT NOT NULL, group_anchor TEXT NOT NULL, member_guid TEXT NOT NULL,
            PRIMARY KEY (source, group_anchor, member_guid)
        ) WITHOUT ROWID;
        CREATE INDEX object_members_member ON object_members (source, member_guid);

        CREATE TABLE dn_history (
            source TEXT NOT NULL, anchor TEXT NOT NULL, seen_at TEXT NOT NULL, dn TEXT NOT NULL,
            PRIMARY KEY (source, anchor, seen_at, dn)
        ) WITHOUT ROWID;

        CREATE TABLE rounds (
            source TEXT NOT NULL, round_no INTEGER NOT NULL, started_at TEXT,
            finished_at TEXT, count INTEGER, complete INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (source, round_no)
        );

        CREATE TABLE target_states (
            target TEXT NOT NULL, anchor TEXT NOT NULL, kind TEXT NOT NULL, state TEXT NOT NULL,
            target_id TEXT, ownership TEXT NOT NULL, projection TEXT NOT NULL, since TEXT,
            retry_count INTEGER NOT NULL DEFAULT 0, next_retry_at TEXT, last_error TEXT,
            PRIMARY KEY (target, anchor)
        );
        CREATE INDEX target_states_tid ON target_states (target, target_id)
            WHERE target_id IS NOT NULL;
        CREATE INDEX target_states_state ON target_states (target, state);
        CREATE INDEX target_states_retry ON target_states (target, next_retry_at)
            WHERE next_retry_at IS NOT NULL;

        CREATE TABLE target_members (
            target TEXT NOT NULL, group_anchor TEXT NOT NULL, member_anchor TEXT NOT NULL,
            PRIMARY KEY (target, group_anchor, member_anchor)
        ) WITHOUT ROWID;

        CREATE TABLE watermarks (
            source TEXT NOT NULL, dc TEXT NOT NULL, cursor TEXT NOT NULL,
            version INTEGER NOT NULL, updated_at TEXT, active INTEGER NOT NULL DEFAULT 0,
            high_usn INTEGER,
            PRIMARY KEY (source, dc)
        );

        CREATE TABLE history (
            id INTEGER PRIMARY KEY, kind TEXT NOT NULL, at TEXT NOT NULL, cycle_id INTEGER,
            source TEXT, target TEXT, anchor TEXT, dn TEXT, object_kind TEXT,
            result TEXT, status INTEGER, detail TEXT, data TEXT
        );
        CREATE INDEX history_anchor ON history (anchor, id);
        CREATE INDEX history_at ON history (at);

        CREATE TABLE batches (
            id INTEGER PRIMARY KEY, cycle_id INTEGER, source TEXT NOT NULL, at TEXT NOT NULL,
            batch_json TEXT NOT NULL
        );
        CREATE INDEX batches_at ON batches (at);

        CREATE TABLE journal (
            id INTEGER PRIMARY KEY, cycle_id INTEGER, target TEXT NOT NULL, anchor TEXT NOT NULL,
            action TEXT NOT NULL, created_at TEXT NOT NULL, settled_at TEXT, result TEXT
        );
        CREATE INDEX journal_pending ON journal (id) WHERE settled_at IS NULL;

        CREATE TABLE held (
            id INTEGER PRIMARY KEY, target TEXT NOT NULL, anchor TEXT NOT NULL,
            action_kind TEXT NOT NULL, action TEXT NOT NULL, reason TEXT NOT NULL,
            held_at TEXT NOT NULL, approved_by TEXT, approved_at TEXT, released_at TEXT
        );
        CREATE INDEX held_open ON held (target, anchor) WHERE released_at IS NULL;

        CREATE TABLE quarantine (
            target TEXT PRIMARY KEY, reason TEXT NOT NULL, since TEXT, until TEXT,
            count INTEGER NOT NULL DEFAULT 1
        );

        CREATE TABLE cycles (
            id INTEGER PRIMARY KEY, source TEXT NOT NULL, mode TEXT NOT NULL,
            started_at TEXT NOT NULL, finished_at TEXT, status TEXT, counts TEXT,
            duration_s REAL
        );

        CREATE TABLE target_profiles (
            target TEXT PRIMARY KEY, profile TEXT NOT NULL, updated_at TEXT
        );
        """
    )
    db.execute("INSERT INTO meta (key, value) VALUES ('format_version', '1')")


@migrations()
def m002_target_calls(db: Database) -> None:
    """Recorded target calls (op, call key, result) per cycle, for offline replay."""
    db.executescript(
        """
        CREATE TABLE target_calls (
            id INTEGER PRIMARY KEY, cycle_id INTEGER, target TEXT NOT NULL, at TEXT NOT NULL,
            call_json TEXT NOT NULL
        );
        CREATE INDEX target_calls_cycle ON target_calls (cycle_id, id);
        CREATE INDEX batches_cycle ON batches (cycle_id, id);
        """
    )
    db.execute("UPDATE meta SET value = '2' WHERE key = 'format_version'")


@migrations()
def m003_write_only_salt(db: Database) -> None:
    """The store's write-only placeholder salt (meta ``write_only_salt``: ``{"salt": hex,
    "from_cycle": N}``): random per store, made here so it is made once, in the migration's
    transaction. ``from_cycle``: the first cycle whose placeholders use it -- a store migrated
    from format 2 made its earlier cycles with the unsalted hash (replay uses that for them)."""
    import secrets

    db.execute(
        "INSERT INTO meta (key, value) SELECT 'write_only_salt', "
        "CAST(? AS TEXT) || CAST(COALESCE(MAX(id), 0) + 1 AS TEXT) || '}' FROM cycles",
        [f'{{"salt": "{secrets.token_hex(32)}", "from_cycle": '],
    )
    db.execute("UPDATE meta SET value = '3' WHERE key = 'format_version'")


@migrations()
def m004_reports_by_manager(db: Database) -> None:
    """``objects.manager_dn``: the normalized DN (``engine.core.dn.normalize_dn``) the object's
    ``manager`` names, indexed per source: who references a manager, found without a scan (a
    report is planned again when its manager leaves or enters scope, or is deleted -- AD then
    drops the link with no change to the report). Back-filled from every stored object's
    ``manager`` value; the same Python runs on PostgreSQL (``schema._Replay``). And an index of
    ``dn_history`` by DN: a report's stale ``manager`` DN resolves through it
    (``anchors_by_former_dn``) without reading the whole history."""
    import json

    from hybridsync.statestore.objects import manager_key

    db.executescript(
        """
        ALTER TABLE objects ADD COLUMN manager_dn TEXT;
        CREATE INDEX objects_manager ON objects (source, manager_dn) WHERE manager_dn IS NOT NULL;
        CREATE INDEX dn_history_dn ON dn_history (source, lower(dn));
        """
    )
    rows = db.execute("SELECT source, anchor, attrs FROM objects WHERE attrs LIKE ?",
                      ['%"manager"%']).fetchall()
    for source, anchor, attrs in rows:
        key = manager_key(json.loads(attrs))
        if key is not None:
            db.execute("UPDATE objects SET manager_dn = ? WHERE source = ? AND anchor = ?", [key, source, anchor])
    db.execute("UPDATE meta SET value = '4' WHERE key = 'format_version'")


@migrations()
def m005_compressed_recordings(db: Database) -> None:
    """Recorded batches (``batches.batch_json``) and target calls (``target_calls.call_json``)
    may be kept compressed from now on (``codec.py``: ``~z1:`` + base64 of zlib). No row is
    rewritten: a row of an older format is plain JSON and reads as it is. The version is what
    changes, so an older hybridsync refuses the store (and its dumps) instead of misreading a
    compressed row. (A migration function runs on PostgreSQL too, through ``_Replay``: SQL only.)"""
    db.execute("UPDATE meta SET value = '5' WHERE key = 'format_version'")


# Tables dumped by ``Store.dump`` (in order); every one is secret-free by construction.
TABLES = (
    "meta",
    "objects",
    "object_members",
    "dn_history",
    "rounds",
    "target_states",
    "target_members",
    "watermarks",
    "history",
    "batches",
    "target_calls",
    "journal",
    "held",
    "quarantine",
    "cycles",
    "target_profiles",
)

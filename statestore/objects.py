"""Store part: source objects, their members, DN history and full-read rounds."""

from __future__ import annotations

import base64
import binascii
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from hybridsync.engine.core.dn import manager_dn
from hybridsync.engine.core.values import ObjectKind, ObjectState
from hybridsync.statestore.handle import Db, Query, chunks, read_members, write_member_diff
from hybridsync.statestore.convert import (
    dumps,
    object_state_from_row,
    stored_time,
    time_to_text,
    utcnow,
)

PAGE = 500  # rows per page when streaming


def guid_forms(ref: str) -> set[str]:
    """The base64 objectGUID texts ``ref`` may denote (text GUID form or base64 itself)."""
    ref = ref.strip()
    forms: set[str] = set()
    try:
        raw = base64.b64decode(ref, validate=True)
        if len(raw) == 16:
            forms.add(ref)
    except (binascii.Error, ValueError):
        pass
    try:
        # Text GUID form ({xxxxxxxx-...}) uses Microsoft's mixed-endian layout: bytes_le.
        forms.add(base64.b64encode(uuid.UUID(ref.strip("{}")).bytes_le).decode("ascii"))
    except ValueError:
        pass
    return forms


def manager_key(attributes: Mapping[str, Any]) -> str | None:
    """``objects.manager_dn``, the reports-by-manager index (migration m004): ``core.dn.manager_dn``."""
    return manager_dn(attributes)


def dn_lower(dn: str) -> str | None:
    """Python's (Unicode) lowercase DN, stored only where SQLite's ASCII lower() differs."""
    low = dn.lower()
    return None if low == _ascii_lower(dn) else low


def _ascii_lower(text: str) -> str:
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class Objects:
    """Objects (per source), members side table, DN history, rounds."""

    def __init__(self, db: Db) -> None:
        self._db = db
        # False only in a store built to an older format (``_stop_before``, in tests): no index column
        self._refs = not isinstance(db.conn, sqlite3.Connection) or any(
            r[1] == "manager_dn" for r in db.conn.execute("PRAGMA table_info(objects)"))

    def _object_members(self, source: str, anchors: list[str]) -> dict[str, set[str]]:
        return read_members(self._db, "object_members", "source", "member_guid", source, anchors)

    def _objects_from_rows(self, rows: list) -> list[ObjectState]:
        groups: dict[str, list[str]] = {}
        for row in rows:  # members of any kind are kept (the value allows them)
            groups.setdefault(row["source"], []).append(row["anchor"])
        members: dict[tuple[str, str], set[str]] = {}
        for source, anchors in groups.items():
            for group, mset in self._object_members(source, anchors).items():
                members[(source, group)] = mset
        return [
            object_state_from_row(row, members.get((row["source"], row["anchor"]), ()))
            for row in rows
        ]

    def get_object(self, source: str, anchor: str) -> ObjectState | None:
        found = self.get_objects(source, [anchor])
        return found.get(anchor)

    def get_objects(self, source: str, anchors: Iterable[str]) -> dict[str, ObjectState]:
        """Anchor -> ObjectState for those that exist (missing anchors are simply absent)."""
        out: dict[str, ObjectState] = {}
        for part in chunks(dict.fromkeys(anchors)):
            marks = ",".join("?" * len(part))
            rows = self._db.rows(
                f"SELECT * FROM objects WHERE source = ? AND anchor IN ({marks})", [source, *part]
            )
            for state in self._objects_from_rows(rows):
                out[state.anchor] = state
        return out

    def object_by_guid(self, source: str, guid: str) -> ObjectState | None:
        """By objectGUID (base64) -- differs from the anchor when mS-DS-ConsistencyGuid is used."""
        rows = self._db.rows(
            "SELECT * FROM objects WHERE object_guid = ? AND source = ? ORDER BY deleted LIMIT 1",
            [guid, source],
        )
        found = self._objects_from_rows(rows)
        return found[0] if found else None

    def find_objects(self, ref: str) -> list[ObjectState]:
        """Objects matching ``ref`` across sources: objectGUID (base64 or text GUID form),
        anchor, DN (case-insensitive), sAMAccountName or userPrincipalName (case-insensitive).
        Live objects first, then tombstones."""
        ref = ref.strip()
        if not ref:
            return []
        low = ref.lower()
        clauses = ["coalesce(dn_lower, lower(dn)) = ?", "sam_lower = ?", "upn_lower = ?",
                   "anchor = ?"]
        params: list[str] = [low, low, low, ref]
        for form in guid_forms(ref):
            clauses += ["object_guid = ?", "anchor = ?"]
            params += [form, form]
        rows = self._db.rows(
            f"SELECT * FROM objects WHERE {' OR '.join(clauses)} ORDER BY deleted, source, anchor",
            params,
        )
        return self._objects_from_rows(rows)

    def live_at_dn(self, source: str, dn: str) -> list[ObjectState]:
        """The live objects of ``source`` at ``dn`` (case-insensitive): the DN index only
        (``find_objects`` also matches anchors, which no index of its own serves: a scan)."""
        rows = self._db.rows(
            "SELECT * FROM objects WHERE coalesce(dn_lower, lower(dn)) = ? AND source = ? AND deleted = 0 "
            "ORDER BY anchor", [dn.strip().lower(), source])
        return self._objects_from_rows(rows)

    def put_object(self, state: ObjectState, *, at: datetime | None = None,
                   had_members: bool | None = None) -> None:
        """Insert or replace. Appends to DN history when the DN changed (or is new); members are
        kept in a side table and written as a diff (``had_members`` False: the caller knows none
        are stored, so they are not read; see ``StateStore.put_object``)."""
        # single values stored bare ("v", not ["v"]): the value's converter reads both
        attrs = {n: v[0] if len(v) == 1 else list(v) for n, v in state.attributes.items()}
        sam = state.attributes.get("samaccountname", ())
        upn = state.attributes.get("userprincipalname", ())
        with self._db.unit():
            old = self._db.conn.execute(
                "SELECT dn FROM objects WHERE source = ? AND anchor = ?",
                [state.source, state.anchor],
            ).fetchone()
            refs = self._refs
            self._db.conn.execute(
                f"""INSERT INTO objects (source, anchor, object_guid, kind, dn, dn_lower,
                       sam_lower, upn_lower, attrs, usn, deleted, deleted_at, last_seen_round
                       {", manager_dn" if refs else ""})
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?{", ?" if refs else ""})
                   ON CONFLICT (source, anchor) DO UPDATE SET
                       object_guid = excluded.object_guid, kind = excluded.kind,
                       dn = excluded.dn, dn_lower = excluded.dn_lower,
                       sam_lower = excluded.sam_lower, upn_lower = excluded.upn_lower,
                       attrs = excluded.attrs, usn = excluded.usn, deleted = excluded.deleted,
                       deleted_at = excluded.deleted_at,
                       last_seen_round = excluded.last_seen_round
                       {", manager_dn = excluded.manager_dn" if refs else ""}""",
                [
                    state.source,
                    state.anchor,
                    state.object_guid,
                    str(state.kind),
                    state.dn,
                    dn_lower(state.dn),
                    sam[0].lower() if sam else None,
                    upn[0].lower() if upn else None,
                    dumps(attrs),
                    state.usn,
                    int(state.deleted),
                    time_to_text(state.deleted_at),
                    state.last_seen_round,
                    *([manager_key(state.attributes)] if refs else []),
                ],
            )
            if old is None or old[0] != state.dn:
                self._db.conn.execute(
                    "INSERT OR IGNORE INTO dn_history (source, anchor, dn, seen_at) "
                    "VALUES (?, ?, ?, ?)",
                    [state.source, state.anchor, state.dn, time_to_text(at or utcnow())],
                )
            write_member_diff(
                self._db,                 "object_members", "source", "member_guid",
                state.source, state.anchor, set(state.members), is_new=old is None,
                none_stored=had_members is False,
            )

    def iter_objects(self, source: str, *, kind: ObjectKind | None = None,
                     include_deleted: bool = True) -> Iterator[ObjectState]:
        """Stream a source's objects in anchor order, a page at a time (safe to write between
        items: each page is a fresh query after the last anchor seen)."""
        where = "source = ? AND anchor > ?"
        extra: list = []
        if kind is not None:
            where += " AND kind = ?"
            extra.append(str(kind))
        if not include_deleted:
            where += " AND deleted = 0"
        last = ""
        while True:
            rows = self._db.rows(
                f"SELECT * FROM objects WHERE {where} ORDER BY anchor LIMIT {PAGE}",
                [source, last, *extra],
            )
            if not rows:
                return
            yield from self._objects_from_rows(rows)
            last = rows[-1]["anchor"]

    def count_objects(self, source: str, *, include_deleted: bool = True) -> int:
        sql = "SELECT count(*) FROM objects WHERE source = ?"
        if not include_deleted:
            sql += " AND deleted = 0"
        return int(self._db.conn.execute(sql, [source]).fetchone()[0])

    def mark_seen(self, source: str, anchors: Iterable[str], round_no: int) -> None:
        """Set last_seen_round for these anchors (a full read saw them)."""
        with self._db.unit():
            self._db.conn.executemany(
                "UPDATE objects SET last_seen_round = ? WHERE source = ? AND anchor = ?",
                [(round_no, source, a) for a in anchors],
            )

    def anchors_not_seen_since(self, source: str, round_no: int) -> list[str]:
        """Non-deleted anchors whose last_seen_round < round_no."""
        return [
            a
            for (a,) in self._db.conn.execute(
                "SELECT anchor FROM objects WHERE source = ? AND deleted = 0 "
                "AND last_seen_round < ? ORDER BY anchor",
                [source, round_no],
            )
        ]

    def groups_with_member(self, source: str, guid: str) -> list[str]:
        """Anchors of stored groups whose member set holds objectGUID ``guid``."""
        return [
            g
            for (g,) in self._db.conn.execute(
                "SELECT group_anchor FROM object_members WHERE source = ? AND member_guid = ? "
                "ORDER BY group_anchor",
                [source, guid],
            )
        ]

    def groups_with_members(self, source: str, guids: Iterable[str]) -> set[str]:
        """Anchors of stored groups whose member set holds any of the objectGUIDs ``guids``."""
        out: set[str] = set()
        wanted = sorted(set(guids))
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            out.update(g for (g,) in self._db.conn.execute(
                "SELECT DISTINCT group_anchor FROM object_members WHERE source = ? AND member_guid IN "
                f"({','.join('?' * len(chunk))})", [source, *chunk]))
        return out

    def remove_member_everywhere(self, source: str, guid: str) -> list[str]:
        """The member trap: drop ``guid`` from every stored member set; returns the groups'
        anchors (a deleted member does not bump the group's USN in AD)."""
        with self._db.unit():
            groups = self.groups_with_member(source, guid)
            self._db.conn.execute(
                "DELETE FROM object_members WHERE source = ? AND member_guid = ?", [source, guid]
            )
        return groups

    def dn_history(self, source: str, anchor: str) -> list[tuple[str, datetime]]:
        """(dn, seen_at) oldest first."""
        return [
            (dn, stored_time(seen))
            for dn, seen in self._db.conn.execute(
                "SELECT dn, seen_at FROM dn_history WHERE source = ? AND anchor = ? ORDER BY seen_at",
                [source, anchor],
            )
        ]

    def anchors_by_former_dn(self, source: str, dn: str) -> list[str]:
        """The anchors of ``source`` that had ``dn`` (compared ASCII-lowercase) at some time,
        latest first: a reference AD rewrote without an event still names a former DN."""
        return [a for (a,) in self._db.conn.execute(
            "SELECT anchor FROM dn_history WHERE source = ? AND lower(dn) = ? ORDER BY seen_at DESC",
            [source, dn.lower()])]

    def reports_of(self, source: str, anchors: Iterable[str], *, dns: Iterable[str] = ()) -> set[str]:
        """The live objects of ``source`` whose ``manager`` names one of ``anchors`` by its DN or
        a former DN (DN history: AD rewrote the reports' link without a change to them), or one
        of ``dns``. Two indexed queries per 500 anchors, never a scan."""
        if not self._refs:  # a store built to an older format (tests): no index to read
            return set()
        wanted = sorted(set(anchors))
        keys = {k for dn in dns if (k := manager_key({"manager": dn})) is not None}
        for i in range(0, len(wanted), 500):
            part = wanted[i:i + 500]
            marks = ",".join("?" * len(part))
            for (dn,) in self._db.conn.execute(
                    f"SELECT dn FROM objects WHERE source = ? AND anchor IN ({marks}) UNION "
                    f"SELECT dn FROM dn_history WHERE source = ? AND anchor IN ({marks})",
                    [source, *part, source, *part]):
                if (key := manager_key({"manager": dn})) is not None:
                    keys.add(key)
        out: set[str] = set()
        ordered = sorted(keys)
        for i in range(0, len(ordered), 500):
            part = ordered[i:i + 500]
            out.update(a for (a,) in self._db.conn.execute(
                "SELECT anchor FROM objects WHERE source = ? AND manager_dn IN "
                f"({','.join('?' * len(part))}) AND deleted = 0", [source, *part]))
        return out

    # ---------------------------------------------------------------- full-read rounds
    def begin_full_round(self, source: str, *, at: datetime | None = None) -> int:
        """Start a full-read round; returns its number (1, 2, ... per source)."""
        with self._db.unit():
            (last,) = self._db.conn.execute(
                "SELECT coalesce(max(round_no), 0) FROM rounds WHERE source = ?", [source]
            ).fetchone()
            round_no = int(last) + 1
            self._db.conn.execute(
                "INSERT INTO rounds (source, round_no, started_at) VALUES (?, ?, ?)",
                [source, round_no, time_to_text(at or utcnow())],
            )
        return round_no

    def complete_full_round(self, source: str, round_no: int, count: int,
                            *, at: datetime | None = None) -> None:
        """Mark a round's full read complete (the evidence that absence means gone)."""
        cur = self._db.conn.execute(
            "UPDATE rounds SET finished_at = ?, count = ?, complete = 1 "
            "WHERE source = ? AND round_no = ?",
            [time_to_text(at or utcnow()), count, source, round_no],
        )
        if cur.rowcount != 1:
            raise KeyError(f"source {source!r}: no full round {round_no}")

    def last_complete_round(self, source: str) -> tuple[int, int, datetime] | None:
        """(round_no, count, finished_at) of the newest complete full read, or None."""
        return self._db.ask(self.last_complete_round_query(source))  # type: ignore[no-any-return]

    def last_complete_round_query(self, source: str) -> Query:
        def answer(rows: list[Any]) -> tuple[int, int, datetime] | None:
            if not rows:
                return None
            return int(rows[0]["round_no"]), int(rows[0]["count"]), stored_time(rows[0]["finished_at"])
        return Query("SELECT round_no, count, finished_at FROM rounds WHERE source = ? AND complete = 1 "
                     "ORDER BY round_no DESC LIMIT 1", [source], answer)

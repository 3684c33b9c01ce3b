"""PostgreSQL versions of the hot writes: ``put_object``, ``put_target_state`` and ``journal_intents``.

The shared parts read before they write (the old DN, whether the row exists): on SQLite that is
free, on PostgreSQL each read is a round trip that also stalls the commit unit's pipeline.
Here each write is one statement whose result nobody waits for -- a data-modifying CTE reads
the old row in the same snapshot as the upsert -- and an empty member set is a plain DELETE,
deferred to the commit unit's batches (``PgDb.defer``: one ``executemany`` per statement);
only a group with members still reads its stored members to write the diff. Same rows, same
semantics (the store conformance kit runs against these), a fraction of the round trips.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import psycopg

from hybridsync.engine.core.values import (
    Action,
    Cursor,
    ObjectState,
    Refresh,
    TargetState,
    UsnWatermark,
    cursor_from_json,
    cursor_to_json,
)
from hybridsync.statestore.convert import dumps, object_state_from_row, target_state_from_row, time_to_text, utcnow
from hybridsync.statestore.errors import StaleWatermark
from hybridsync.statestore.facts import Facts
from hybridsync.statestore.handle import chunks, member_insert, write_member_diff
from hybridsync.statestore.log import Log
from hybridsync.statestore.objects import Objects, dn_lower, manager_key
from hybridsync.statestore.postgres.batch import BATCH_FORMS, columns, rounds
from hybridsync.statestore.postgres.handle import PgDb, translate
from hybridsync.statestore.postgres.ids import ID_TABLES, RESERVE_KNOWN
from hybridsync.statestore.postgres.reads import _WITH_MEMBERS
from hybridsync.statestore.postgres.nul import escape
from hybridsync.statestore.targets import Targets, check_names_dc, next_high_usn, same_position

CAS_LOCK = 0x68730002  # advisory lock class for the per-source watermark compare-and-swap

_OBJECT_UPSERT = """\
    ON CONFLICT (source, anchor) DO UPDATE SET
        object_guid = excluded.object_guid, kind = excluded.kind, dn = excluded.dn,
        dn_lower = excluded.dn_lower, sam_lower = excluded.sam_lower, upn_lower = excluded.upn_lower,
        attrs = excluded.attrs, usn = excluded.usn, deleted = excluded.deleted,
        deleted_at = excluded.deleted_at, last_seen_round = excluded.last_seen_round,
        manager_dn = excluded.manager_dn
"""  # one object row written over another: every column but the key

_PUT_OBJECT = f"""
WITH old AS (SELECT dn FROM objects WHERE source = ? AND anchor = ?),
up AS (
    INSERT INTO objects (source, anchor, object_guid, kind, dn, dn_lower, sam_lower, upn_lower, attrs,
                         usn, deleted, deleted_at, last_seen_round, manager_dn)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
{_OBJECT_UPSERT}    RETURNING 1)
INSERT INTO dn_history (source, anchor, dn, seen_at)
SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM old WHERE old.dn = ?)
ON CONFLICT DO NOTHING"""

_PUT_TARGET = """
INSERT INTO target_states (target, anchor, kind, state, target_id, ownership, projection, since,
                           retry_count, next_retry_at, last_error)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (target, anchor) DO UPDATE SET
    kind = excluded.kind, state = excluded.state, target_id = excluded.target_id,
    ownership = excluded.ownership, projection = excluded.projection, since = excluded.since,
    retry_count = excluded.retry_count, next_retry_at = excluded.next_retry_at,
    last_error = excluded.last_error"""


_OBJECT_COLS = ("source", "anchor", "object_guid", "kind", "dn", "dn_lower", "sam_lower", "upn_lower", "attrs",
                "usn", "deleted", "deleted_at", "last_seen_round", "manager_dn")
_PUT_OBJECTS = f"""
WITH v AS (SELECT * FROM unnest({{arrays}}) AS v({", ".join(_OBJECT_COLS)}, seen_at)),
old AS (SELECT o.source, o.anchor, o.dn FROM objects o JOIN v ON o.source = v.source AND o.anchor = v.anchor),
up AS (
    INSERT INTO objects ({", ".join(_OBJECT_COLS)})
    SELECT {", ".join(_OBJECT_COLS)} FROM v
{_OBJECT_UPSERT}    RETURNING 1)
INSERT INTO dn_history (source, anchor, dn, seen_at)
SELECT v.source, v.anchor, v.dn, v.seen_at FROM v
WHERE NOT EXISTS (SELECT 1 FROM old WHERE old.source = v.source AND old.anchor = v.anchor AND old.dn = v.dn)
ON CONFLICT DO NOTHING"""


def _put_objects(db: PgDb, cur: psycopg.Cursor[Any], rows: list[Sequence[Any]]) -> bool:
    """Many ``_PUT_OBJECT`` rows as one statement over arrays (see ``PgDb.send_many``); an object
    that comes twice goes in a later statement (``rounds``: ``old`` is read before any row of
    one statement)."""
    casts = db.array_casts("objects", _OBJECT_COLS)
    seen = db.array_casts("dn_history", ("seen_at",))
    if casts is None or seen is None:
        return False
    parts = rounds(rows, (0, 1))
    if len(parts) > 1:  # an object twice: one statement per round, in order
        for part in parts:
            if len(part) > 1:
                _put_objects(db, cur, part)
            else:
                cur.execute(translate(_PUT_OBJECT), part[0])
        return True
    casts = casts + seen
    picks = (*range(2, 16), 19)  # the row's values for _OBJECT_COLS, then seen_at
    exprs, arrays = columns(casts, rows, picks)
    cur.execute(_PUT_OBJECTS.format(arrays=", ".join(exprs)), arrays)
    return True


BATCH_FORMS[_PUT_OBJECT] = _put_objects


def _with_members(db: PgDb, rows: str, table: str, scope: str, member: str, key: str,
                  anchors: Iterable[str]) -> list[tuple[dict[str, Any], list[str]]]:
    """The rows of ``rows`` for ``key`` and ``anchors``, each with its members (``table``)."""
    out = []
    for part in chunks(dict.fromkeys(anchors)):
        sql = _WITH_MEMBERS.format(member=member, table=table, scope=scope, rows=rows, marks=",".join("?" * len(part)))
        for row in db.rows(sql, [key, *part]):
            out.append((row, row.pop("members_") or ()))
    return out


def _insert_members(db: PgDb, table: str, scope: str, member: str, key: list[str], members: Iterable[str]) -> None:
    """A group's member rows when none are stored: deferred inserts (one statement over arrays)."""
    sql = member_insert(table, scope, member)
    for m in sorted(members):
        db.defer(sql, [*key, m], (table,))


class PgObjects(Objects):
    def get_objects(self, source: str, anchors: Iterable[str]) -> dict[str, ObjectState]:
        """Rows and members in ONE statement (see ``_WITH_MEMBERS``)."""
        got = _with_members(self._db, "objects", "object_members", "source", "member_guid", source, anchors)  # type: ignore[arg-type]
        return {row["anchor"]: object_state_from_row(row, members) for row, members in got}

    def put_object(self, state: ObjectState, *, at: datetime | None = None,
                   had_members: bool | None = None) -> None:
        """One deferred upsert; members: with ``had_members`` False (none stored: see
        ``StateStore.put_object``) their rows are inserted, deferred, with no read and no DELETE
        (the blind DELETE of a memberless object was a scan + semi-join on the server, ~0.2 ms);
        else a diff against the stored members, or a blind DELETE when there are none."""
        attrs = {n: v[0] if len(v) == 1 else list(v) for n, v in state.attributes.items()}
        sam = state.attributes.get("samaccountname", ())
        upn = state.attributes.get("userprincipalname", ())
        key = [state.source, state.anchor]
        with self._db.unit():
            self._db.defer(_PUT_OBJECT, [
                *key, *key, state.object_guid, str(state.kind), state.dn, dn_lower(state.dn),
                sam[0].lower() if sam else None, upn[0].lower() if upn else None, dumps(attrs), state.usn,
                int(state.deleted), time_to_text(state.deleted_at), state.last_seen_round,
                manager_key(state.attributes), *key, state.dn, time_to_text(at or utcnow()), state.dn], ("objects", "dn_history"))
            if had_members is False:
                _insert_members(self._db, "object_members", "source", "member_guid", key, state.members)
            elif state.members:
                write_member_diff(self._db, "object_members", "source", "member_guid", state.source,  # type: ignore[arg-type]
                                  state.anchor, set(state.members), is_new=False)
            else:
                self._db.defer("DELETE FROM object_members WHERE source = ? AND group_anchor = ?", key,
                               ("object_members",))

    def mark_seen(self, source: str, anchors: Iterable[str], round_no: int) -> None:
        """One statement for all ``anchors`` (not one per anchor), and rows that already carry
        ``round_no`` (``put_object`` of a full read wrote it) are left alone: an UPDATE to the
        same value would still write a new row version and an entry in every index."""
        anchors = [escape(a) for a in anchors]
        if not anchors:
            return
        with self._db.unit():
            self._db.flush()
            self._db.conn.raw.cursor().execute(
                "UPDATE objects SET last_seen_round = %s WHERE source = %s AND anchor = ANY(%b::text[]) "
                "AND last_seen_round <> %s", [round_no, source, anchors, round_no])


_CAS_MARK = "hybridsync: watermark moved by another writer: "
# the fast CAS: the row this store last wrote, if it is still that version and active, else an
# error that fails the transaction (a marked text cast to an integer; PgDb.guards names it). The
# per-source advisory lock is taken by the same statement (its own statement until wave 7): the
# UPDATE's condition reads the materialized lock CTE, so the lock is held before the row is
# updated (and row-locked) -- the order of the shared path's lock, read, write
_CAS_GUARDED = ("WITH l AS MATERIALIZED (SELECT pg_advisory_xact_lock(%s, hashtext(%s)) AS x), "
                "u AS (UPDATE watermarks SET cursor = %s, version = %s, updated_at = %s, high_usn = %s "
                "WHERE source = %s AND dc = %s AND active = 1 AND version = %s AND (SELECT count(*) FROM l) = 1 "
                "RETURNING 1) "
                "SELECT CASE WHEN n.c = 0 THEN (%s || n.c::text)::int END FROM (SELECT count(*) AS c FROM u) AS n")
# (the marked text depends on a column: a constant would be folded, and fail, when planned)


class PgTargets(Targets):
    _seen: tuple[Any, Any] | None = None

    def get_target_states(self, target: str, anchors: Iterable[str]) -> dict[str, TargetState]:
        """Rows and members in ONE statement (see ``_WITH_MEMBERS``)."""
        got = _with_members(self._db, "target_states", "target_members", "target", "member_anchor", target, anchors)  # type: ignore[arg-type]
        return {row["anchor"]: target_state_from_row(row, members) for row, members in got}

    def put_target_state(self, state: TargetState, *, had_members: bool | None = None) -> None:
        """As ``PgObjects.put_object``: one deferred upsert, members inserted without a read or a
        DELETE when ``had_members`` is False."""
        with self._db.unit():
            self._db.defer(_PUT_TARGET, [
                state.target, state.anchor, str(state.kind), state.state, state.target_id, str(state.ownership),
                dumps(dict(state.projection)), time_to_text(state.since), state.retry_count,
                time_to_text(state.next_retry_at), state.last_error], ("target_states",))
            if had_members is False:
                _insert_members(self._db, "target_members", "target", "member_anchor", [state.target, state.anchor],
                                state.members_sent)
            elif state.members_sent:
                write_member_diff(self._db, "target_members", "target", "member_anchor", state.target,  # type: ignore[arg-type]
                                  state.anchor, set(state.members_sent), is_new=False)
            else:
                self._db.defer("DELETE FROM target_members WHERE target = ? AND group_anchor = ?",
                               [state.target, state.anchor], ("target_members",))

    def advance_watermark(self, source: str, dc: str, expected: Cursor, new: Cursor) -> int:
        """The shared compare-and-swap under a per-source advisory lock -- or, when this store's
        last committed CAS of ``source`` left the row ``expected`` names (``PgDb.watermarks``),
        the same checks against that row and ONE guarded UPDATE sent without waiting: it
        changes the row only if it still carries that version and is active, else it fails the
        transaction (``_CAS_MARK``) and the unit raises ``StaleWatermark`` at its COMMIT, having
        committed nothing (another writer moved the cursor meanwhile). A unit that does not
        commit forgets the row; a new lease epoch forgets them all."""
        db = self._db
        known = db.watermarks.pop(source, None)  # remembered again once this unit commits
        with db.unit():  # serialize the check-then-write per source across processes
            if known is None or known[0] != dc or not same_position(cursor_from_json(known[1]), expected):
                db.conn.execute("SELECT pg_advisory_xact_lock(?, hashtext(?))", [CAS_LOCK, source])
                version = super().advance_watermark(source, dc, expected, new)
                row = self._seen  # the row the shared check read (``_watermark_rows``)
                high = new.usn if isinstance(new, UsnWatermark) else (row[1] if row else None)
            else:
                check_names_dc(source, dc, new)
                high = next_high_usn(source, dc, new, known[3])
                version = known[2] + 1
                db.flush()
                db.guards[_CAS_MARK + source + " |"] = lambda: StaleWatermark(source, expected, self._stored(source))
                db.conn.raw.cursor().execute(_CAS_GUARDED, [
                    CAS_LOCK, source, cursor_to_json(new), version, time_to_text(utcnow()), high, source, dc, known[2], _CAS_MARK + source + " |"])
            state = (dc, cursor_to_json(new), version, high)
            db.after_commit.append(lambda: db.watermarks.__setitem__(source, state))
        return version

    def _stored(self, source: str) -> Cursor:
        row = self._db.conn.execute("SELECT cursor FROM watermarks WHERE source = ? AND active = 1",
                                    [source]).fetchone()
        return cursor_from_json(row[0]) if row else Refresh("no stored cursor")

    def _watermark_rows(self, source: str, dc: str) -> tuple[Any, Any]:
        """Both rows ``advance_watermark`` checks in ONE query (each read waits for the server)."""
        active = row = None
        for r_dc, cursor, version, high, is_active in self._db.conn.execute(
                "SELECT dc, cursor, version, high_usn, active FROM watermarks "
                "WHERE source = ? AND (active = 1 OR dc = ?)", [source, dc]).fetchall():
            if is_active == 1:
                active = (r_dc, cursor)
            if r_dc == dc:
                row = (version, high)
        self._seen = row
        return active, row


_JOURNAL_COLS = ("cycle_id", "target", "anchor", "action", "created_at")


# settled intents (deleted journal rows) after which the journal is vacuumed: PostgreSQL keeps a
# deleted row (and its entry in the pending intents' index) until a vacuum, and every cycle's
# opening reads the pending intents through that index -- after a 5k full sync, 5k dead entries
# and 558 heap pages, 0.6 ms per cycle until autovacuum came by (SQLite frees them at once)
VACUUM_JOURNAL_AFTER = 1000


# the journal's INSERT and, once it ran (its rows counted first: a one-time filter), the next
# unit's id blocks (``ids.RESERVE``), in one statement: (NULL, intent id, NULL) rows, then
# (table, first id, step) rows
_JOURNAL_RESERVING = ("WITH ins AS ({insert}), "
                      "r AS (SELECT q.t, nextval(q.s) AS first, p.seqincrement AS step FROM (SELECT t, "
                      "pg_get_serial_sequence(t, 'id') AS s FROM unnest(%s::text[]) AS t) q "
                      "JOIN pg_sequence p ON p.seqrelid = q.s::regclass WHERE (SELECT count(*) FROM ins) > 0) "
                      "SELECT NULL::text, id, NULL::bigint FROM ins UNION ALL SELECT t, first, step FROM r")
# the same once the handle knows the tables' steps (``ids.RESERVE_KNOWN``): no catalog join
_JOURNAL_RESERVING_KNOWN = ("WITH ins AS ({insert}), "
                            "r AS (SELECT t, nextval(pg_get_serial_sequence(t, 'id')) AS first FROM unnest(%s::text[]) "
                            "AS t WHERE (SELECT count(*) FROM ins) > 0) "
                            "SELECT NULL::text, id, NULL::bigint FROM ins UNION ALL SELECT t, first, NULL::bigint FROM r")


class PgLog(Log):
    _settled = 0  # intents settled since the journal was last vacuumed

    def journal_done(self, intent_ids: Iterable[int]) -> None:
        """The shared delete as ONE deferred statement whatever the count (``PgDb.defer``: in a
        unit it goes out with the unit's other writes, in one statement); after
        ``VACUUM_JOURNAL_AFTER`` settled intents, ``VACUUM journal`` once the unit committed (a vacuum cannot run inside a transaction; a small table's is a
        few ms, once per that many intents)."""
        ids = list(intent_ids)
        if ids and all(type(i) is int for i in ids):
            with self._db.unit():  # deferred: inside the page's unit it goes with its other writes
                self._db.defer("DELETE FROM journal WHERE id = ANY(string_to_array(?, ',')::bigint[])",
                               [",".join(map(str, ids))], ("journal",))
        else:
            super().journal_done(ids)
        self._settled += len(ids)
        if self._settled >= VACUUM_JOURNAL_AFTER:
            self._settled = 0
            if self._db.in_transaction:
                self._db.after_commit.append(self._vacuum)
            else:
                self._vacuum()

    def _vacuum(self) -> None:
        with contextlib.suppress(psycopg.Error):  # housekeeping: a failure changes nothing stored
            self._db.conn.raw.execute("VACUUM journal")

    def journal_intents(self, cycle_id: int | None, actions: Iterable[Action], *,
                        at: datetime | None = None) -> list[int]:
        """The intents in ONE statement and one wait: unfenced, ``INSERT ... RETURNING`` in
        autocommit mode (itself a durable transaction: no BEGIN / COMMIT) with the next unit's id
        blocks drawn in the same statement after its rows (``_JOURNAL_RESERVING``); fenced,
        BEGIN, the INSERT, the fence check and COMMIT go out together (the shared version
        reserves an id block first: one more round trip per unit). Ids in the order of
        ``actions``: each row's id is drawn as it is inserted, in ordinality order."""
        actions = list(actions)
        db = self._db
        casts = db.array_casts("journal", _JOURNAL_COLS) if actions and not db.conn.in_transaction else None
        if casts is None:  # nothing to write, or inside a transaction (StoreMisuse): the shared version
            return super().journal_intents(cycle_id, actions, at=at)
        when = time_to_text(at or utcnow())
        rows = [(cycle_id, a.target, a.anchor, self._intent_text(a), when) for a in actions]
        exprs, arrays = columns(casts, rows, range(len(_JOURNAL_COLS)))
        cols = ", ".join(_JOURNAL_COLS)
        cur = db.conn.raw.cursor()
        insert = (f"INSERT INTO journal ({cols}) SELECT {cols} FROM unnest({', '.join(exprs)}) "
                  f"WITH ORDINALITY AS u({cols}, n) ORDER BY n RETURNING id")
        if not db.fences:  # ONE statement in autocommit: itself a durable transaction (no BEGIN/COMMIT)
            db.flush()
            known = db.ids.reserve_sql(list(ID_TABLES)) == RESERVE_KNOWN
            shape = _JOURNAL_RESERVING_KNOWN if known else _JOURNAL_RESERVING
            cur.execute(shape.format(insert=insert), [*arrays, list(ID_TABLES)])
            rows = cur.fetchall()
            db.ids.reserved([r for r in rows if r[0] is not None])
            return sorted(int(r[1]) for r in rows if r[0] is None)
        with db.atomic(reserve_next=True):  # the page's unit that follows takes its ids without a nextval
            cur.execute(insert, arrays)
        # the unit's sync brought every answer: the ids of the committed rows
        return sorted(int(r[0]) for r in cur.fetchall())


# a cycle's bookkeeping rows are not durable on their own: the cycle's next commit unit (a
# durable COMMIT flushes the WAL up to itself, so every record before it) makes them durable.
# ``synchronous_commit`` off for the statement's own transaction (``set_config(..., true)``: it
# reverts at that transaction's end) from a one-row FROM item the statement's WHERE reads, so the
# planner cannot leave it out: the SET LOCAL of a separate statement in the same transaction
_RELAXED = "(SELECT set_config('synchronous_commit', 'off', true) AS v) AS relaxed"
_BEGIN_CYCLE = (f"INSERT INTO cycles (source, mode, started_at) SELECT %s, %s, %s FROM {_RELAXED} "
                "WHERE relaxed.v = 'off' RETURNING id")
_END_CYCLE = ("UPDATE cycles SET finished_at = %s, status = %s, counts = %s, duration_s = %s "
              f"FROM {_RELAXED} WHERE id = %s AND relaxed.v = 'off'")


class PgFacts(Facts):
    def _relaxed(self, sql: str, params: list[Any]) -> psycopg.Cursor[Any]:
        """``sql`` (one of the cycle's writes) as its own transaction: ONE statement in
        autocommit mode (no BEGIN, SET LOCAL, COMMIT: 4 statements -> 1, same one wait) -- or,
        fenced, a unit whose fence check goes with its COMMIT."""
        db = self._db
        cur = db.conn.raw.cursor()
        if db.fences:
            with db.atomic():
                cur.execute(sql, params)
        else:
            cur.execute(sql, params)
        return cur

    def begin_cycle(self, source: str, mode: str, at: datetime | None = None) -> int:
        """ONE wait (the id comes with the statement's answer; a fenced unit's check goes with its
        COMMIT) and no WAL flush of its own: ``synchronous_commit`` is off for this transaction
        only. The row is visible to every session once this returns (a crash of this process
        keeps it); the cycle's next commit unit -- its journal, before any target call -- makes
        it durable. Inside a transaction: part of the caller's unit."""
        if self._db.in_transaction:
            return super().begin_cycle(source, mode, at)
        row = self._relaxed(_BEGIN_CYCLE, [source, str(mode), time_to_text(at or utcnow())]).fetchone()
        assert row is not None
        return int(row[0])

    def end_cycle(self, cycle_id: int, *, status: str, counts: dict[str, Any],
                  duration_s: float, at: datetime | None = None) -> None:
        """One wait, no WAL flush of its own (see ``begin_cycle``): durable with the next commit
        unit of any cycle, or the WAL writer's next flush (``wal_writer_delay``)."""
        if self._db.in_transaction:
            return super().end_cycle(cycle_id, status=status, counts=counts, duration_s=duration_s, at=at)
        cur = self._relaxed(_END_CYCLE, [time_to_text(at or utcnow()), status, dumps(counts), duration_s, cycle_id])
        if cur.rowcount != 1:
            raise KeyError(f"no cycle {cycle_id}")

"""Ids for a PostgreSQL commit unit's inserts without a wait each (``PgDb.insert``): a block of
the table's sequence is reserved per unit with ONE ``nextval`` (or right after the previous
unit's COMMIT, ``PgDb.atomic(reserve_next=True)``) and handed out in increasing order."""

from __future__ import annotations

from typing import Any

import psycopg

# ids a commit unit reserves per table at once: each refill is a round trip that stalls the
# pipeline. The identity sequences step by ID_STEP (migration p004), so one nextval reserves a
# block; unused ids are gaps (4,096 per table and unit: a bigint runs out after ~2e15 units).
# A sequence stepping by 1: blocks of ID_BLOCK doubling to ID_BLOCK_MAX nextvals.
ID_STEP = 4096
ID_TABLES = ("history", "journal", "batches")  # the tables a unit inserts into with ids
ID_BLOCK, ID_BLOCK_MAX = 16, 1024
# one block of ids per table named in the text array: (table, first id, the sequence's step)
RESERVE = ("SELECT q.t, nextval(q.s), p.seqincrement FROM (SELECT t, pg_get_serial_sequence(t, 'id') "
           "AS s FROM unnest(%s::text[]) AS t) q JOIN pg_sequence p ON p.seqrelid = q.s::regclass")
# the same once the handle knows every named table's step (``IdBlocks.steps``): (table, first id,
# NULL) rows. The step lookup above -- the join with the ``pg_sequence`` catalog, which also
# evaluated ``pg_get_serial_sequence`` twice per table -- was ~0.15 ms of server CPU per
# reservation (wave 8, measured on the bench's store: 0.33-0.46 ms per BEGIN + it + ROLLBACK
# against 0.18-0.22 ms for this form). A step is a sequence's property that only migration p004
# changes (1 -> ID_STEP), run before a handle is used; a handle that learned 1 and sees a bigger
# step later would only use part of its block (safe), and no migration makes a step smaller.
RESERVE_KNOWN = "SELECT t, nextval(pg_get_serial_sequence(t, 'id')), NULL::bigint FROM unnest(%s::text[]) AS t"


class _Block:
    """The ids of the block a ``nextval`` of a sequence stepping by ``step`` reserved; ``pop()``
    hands them out in increasing order (two integers, not a list of 4,096 built per unit)."""

    __slots__ = ("_next", "_end")

    def __init__(self, first: Any, step: Any) -> None:
        self._next, self._end = int(first), int(first) + int(step)

    def __bool__(self) -> bool:
        return self._next < self._end

    def pop(self) -> int:
        if self._next >= self._end:
            raise IndexError("pop from an empty id block")
        self._next += 1
        return self._next - 1


def _block(first: Any, step: Any) -> _Block:
    return _Block(first, step)


class IdBlocks:
    """The id blocks of the open commit unit, per table."""

    def __init__(self) -> None:
        self._ids: dict[str, _Block | list[int]] = {}
        self._block: dict[str, int] = {}
        self.steps: dict[str, int] = {}  # each table's sequence step, learned once (kept by clear())

    def reserve_sql(self, tables: list[str]) -> str:
        """``RESERVE_KNOWN`` once every one of ``tables``' steps is known, else ``RESERVE``."""
        return RESERVE_KNOWN if all(t in self.steps for t in tables) else RESERVE

    def _step(self, name: str, step: Any) -> int:
        if step is None:
            return self.steps[name]
        self.steps[name] = int(step)
        return int(step)

    def clear(self) -> None:
        self._ids.clear()
        self._block.clear()

    def reserved(self, rows: list[Any]) -> None:
        """The blocks a ``RESERVE`` / ``RESERVE_KNOWN`` query drew: (table, first id, step or
        NULL for a known step) rows."""
        steps = [(name, first, self._step(name, step)) for name, first, step in rows]
        self._ids = {name: _block(first, step) for name, first, step in steps if step > 1}

    def next_id(self, conn: psycopg.Connection[Any], table: str) -> int:
        """The next id of the unit's block for ``table``. A sequence that steps by ``ID_STEP``
        (migration p004) hands out a whole block with ONE ``nextval``: the ids from the value
        to the value + step - 1 are this unit's alone (any other ``nextval`` starts past them).
        The first id a unit needs reserves a block of each of ``ID_TABLES`` in the same query
        (one round trip per unit, not per table). A block lives as long as its unit, so ids
        still grow with time under one lease and across failovers. A sequence stepping by 1 (a
        table added later): one ``nextval`` per id (blocks of ``ID_BLOCK`` doubling to
        ``ID_BLOCK_MAX``)."""
        block = self._ids.get(table)
        if not block:
            cur = conn.cursor()
            wanted = [table, *(t for t in ID_TABLES if t != table and t not in self._ids)]
            cur.execute(self.reserve_sql(wanted), [wanted])
            for name, first, step in cur.fetchall():
                step = self._step(name, step)
                if step > 1:
                    self._ids[name] = _block(first, step)
                elif name == table:
                    size = self._block.get(table, ID_BLOCK)
                    self._block[table] = min(size * 2, ID_BLOCK_MAX)  # a big unit takes bigger blocks
                    cur.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(2, %s)",
                                [table, size])
                    self._ids[table] = [int(r[0]) for r in cur.fetchall()][::-1] + [int(first)]
            block = self._ids[table]
        return block.pop()

"""Copy a state store into another (SQLite -> PostgreSQL and back), verified by dumps.

``copy_store(source, load)`` dumps ``source`` (one consistent point in time), builds the
destination with ``load(fp)`` (``Store.load`` / ``PostgresStore.load``: the destination must be
empty), dumps the destination and compares the two dumps row by row. The stores write rows in
different orders (SQLite by rowid, PostgreSQL by primary key), so the comparison is of the
header and of each table's rows as a sorted multiset; any difference raises ``CopyMismatch``
naming the first table that differs.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Callable
from typing import IO, Any

from attrs import frozen

from hybridsync.statestore.errors import StoreError


class CopyMismatch(StoreError):
    """The destination's dump differs from the source's."""


@frozen
class CopyReport:
    rows: dict[str, int]  # table -> rows copied
    format_version: int

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def canonical(fp: IO[str]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """A dump's header and, per table, its rows as sorted canonical JSON texts."""
    fp.seek(0)
    header = json.loads(fp.readline())
    tables: dict[str, list[str]] = {t: [] for t in header.get("tables", [])}
    for line in fp:
        if line.strip():
            item = json.loads(line)
            tables.setdefault(item["t"], []).append(json.dumps(item["r"], sort_keys=True, ensure_ascii=False))
    return header, {t: sorted(rows) for t, rows in tables.items()}


def compare(a: IO[str], b: IO[str]) -> dict[str, int]:
    """Raise ``CopyMismatch`` unless the two dumps hold the same rows; returns rows per table."""
    ha, ta = canonical(a)
    hb, tb = canonical(b)
    if ha != hb:
        raise CopyMismatch(f"dump headers differ: {ha} != {hb}")
    for table in sorted(set(ta) | set(tb)):
        if ta.get(table, []) != tb.get(table, []):
            only_a = Counter(ta.get(table, [])) - Counter(tb.get(table, []))
            only_b = Counter(tb.get(table, [])) - Counter(ta.get(table, []))
            raise CopyMismatch(f"table {table}: {sum(only_a.values())} row(s) only in the source, "
                               f"{sum(only_b.values())} only in the copy")
    return {t: len(rows) for t, rows in ta.items()}


def copy_store(source: Any, load: Callable[[IO[str]], Any]) -> CopyReport:
    """Copy ``source`` into the store ``load(fp)`` builds from its dump; verify; close the copy."""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as src_dump, \
            tempfile.TemporaryFile("w+", encoding="utf-8") as dst_dump:
        source.dump(src_dump)
        src_dump.seek(0)
        copy = load(src_dump)
        try:
            copy.dump(dst_dump)
            version = copy.format_version
        finally:
            copy.close()
        return CopyReport(rows=compare(src_dump, dst_dump), format_version=version)

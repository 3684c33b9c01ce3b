"""The errors the state store raises on purpose. None of them ever carries a cookie's bytes."""

from __future__ import annotations

from hybridsync.engine.core.errors import EngineError, SafetyStop
from hybridsync.engine.core.values import Cursor, DirSyncCookie, UsnWatermark


class StoreError(EngineError):
    """Base of every error the state store raises on purpose."""


class StoreCorrupt(StoreError):
    """The file is not a readable hybridsync store (not SQLite, damaged, or a newer format)."""

    def __init__(self, path: str, detail: str):
        self.path = str(path)
        self.detail = detail
        super().__init__(f"state store {self.path}: {detail}")


class StaleWatermark(StoreError, SafetyStop):
    """``advance_watermark``'s expected cursor is not the stored one; nothing was changed."""

    def __init__(self, source: str, expected: Cursor, stored: Cursor):
        self.source = source
        self.expected = expected
        self.stored = stored
        super().__init__(
            f"source {source!r}: watermark moved underneath (expected {_cursor_text(expected)}, "
            f"stored {_cursor_text(stored)})"
        )


class WatermarkRegression(StoreError, SafetyStop):
    """A USN watermark would move backwards for one DC, or switch DC without a Refresh."""

    def __init__(self, source: str, dc: str, message: str):
        self.source = source
        self.dc = dc
        super().__init__(f"source {source!r} dc {dc!r}: {message}")


class StoreMisuse(StoreError):
    """The store was called in a way that would break a guarantee (e.g. journal in a txn)."""


def _cursor_text(cursor: Cursor) -> str:
    # Never prints a DirSync cookie's bytes: only its type and length.
    name = type(cursor).__name__
    if isinstance(cursor, UsnWatermark):
        return f"{name}(dc={cursor.dc_invocation_id!r}, usn={cursor.usn})"
    if isinstance(cursor, DirSyncCookie):
        return f"{name}(dc={cursor.dc_invocation_id!r}, {len(cursor.cookie)} bytes)"
    return f"{name}({cursor.reason!r})"

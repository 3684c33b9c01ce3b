"""Pure cursor decisions: is a stored position still valid on the DC we reached?

A position is only meaningful on the DC (invocationId) that issued it. Anything doubtful answers
``Refresh(reason)`` -- a complete full read -- never "nothing changed".
"""

from __future__ import annotations

from hybridsync.engine.core.values import Cursor, DcIdentity, DirSyncCookie, Refresh, UsnWatermark


def check(cursor: Cursor, *, delta: str, dc: DcIdentity) -> Refresh | None:
    """``None`` when ``cursor`` may be continued from on ``dc``, else the reason to refresh."""
    if isinstance(cursor, Refresh):
        return cursor
    if delta == "usn":
        if not isinstance(cursor, UsnWatermark):
            return Refresh(f"delta mode is usn but the stored cursor is {type(cursor).__name__}")
        if cursor.dc_invocation_id.lower() != dc.invocation_id.lower():
            return Refresh(
                f"USN watermark was issued by DC invocationId {cursor.dc_invocation_id or '?'}, "
                f"{dc.url} is {dc.invocation_id} (another DC or a restore)"
            )
        if dc.highest_usn is not None and cursor.usn > dc.highest_usn:
            return Refresh(
                f"USN watermark {cursor.usn} is above {dc.url}'s highestCommittedUSN {dc.highest_usn} (DC rolled back)"
            )
        return None
    if delta == "dirsync":
        if not isinstance(cursor, DirSyncCookie):
            return Refresh(f"delta mode is dirsync but the stored cursor is {type(cursor).__name__}")
        if not cursor.cookie:
            return Refresh("empty DirSync cookie")
        if cursor.dc_invocation_id.lower() != dc.invocation_id.lower():
            return Refresh(
                f"DirSync cookie was issued by DC invocationId {cursor.dc_invocation_id or '?'}, "
                f"{dc.url} is {dc.invocation_id} (another DC or a restore)"
            )
        return None
    return Refresh(f"unknown delta mode {delta!r}")

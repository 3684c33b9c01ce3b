"""Compression of the store's bulky texts: recorded source batches and recorded target calls.

A recorded batch is the JSON of a page of directory objects (~430 KB per 1,000 objects); the
daily full read's pages, kept ``[state] record_days`` for replay, were most of a store's bytes.
Since format 5 (migration ``m005_compressed_recordings``) the store keeps such a text as

    ~z1:<base64 of zlib(level 6) of its UTF-8 bytes>

when that is shorter; short texts (under ``MIN_PACK`` characters) and texts that do not
shrink are kept as they are. Base64 keeps the value a plain ASCII text: the column stays
``TEXT`` in both stores, the JSON Lines dump carries it unchanged, and a dump of either store
loads into the other. A text that itself begins with ``~`` is kept as ``~=`` + text, so every
stored value decodes to exactly the text given (``unpack(pack(t)) == t`` for every string).

A dump (``Store.dump``, and so a snapshot and ``migrate-store``) writes these columns opened
(``opened_row``: decompressed), so a dump reads and greps as before and a secret scan of it sees
inside every recording; a load compresses them again (``packed_row``).

Rows written before format 5 are plain JSON (they begin with ``{``): ``unpack`` returns any
value not beginning with ``~`` unchanged, so old rows stay readable without being rewritten.
The codec is the store's own: callers (``engine.replay``, ``explain``) always get the text.
"""

from __future__ import annotations

import base64
import zlib

ZLIB = "~z1:"  # zlib (level LEVEL) + base64
VERBATIM = "~="  # escape of a text that itself begins with "~"
MIN_PACK = 512  # characters: below this, a row is kept as is (a target call, a delta page)
LEVEL = 6  # 16x on generated pages at ~9 ms per 1,000-object page; level 9: +1.5%, 5x the time


def pack(text: str) -> str:
    """The form of ``text`` the store keeps (see the module doc)."""
    if len(text) >= MIN_PACK:
        packed = ZLIB + base64.b64encode(zlib.compress(text.encode("utf-8"), LEVEL)).decode("ascii")
        if len(packed) < len(text):
            return packed
    return VERBATIM + text if text.startswith("~") else text


def unpack(stored: str) -> str:
    """The text a stored value holds: a packed one decompressed, any other as it is."""
    if not stored.startswith("~"):
        return stored  # plain: every row of format <= 4, and short rows since
    if stored.startswith(ZLIB):
        return zlib.decompress(base64.b64decode(stored[len(ZLIB):], validate=True)).decode("utf-8")
    if stored.startswith(VERBATIM):
        return stored[len(VERBATIM):]
    raise ValueError(f"stored text with an unknown codec mark {stored[:4]!r}: written by a newer hybridsync?")


def opened(stored: str) -> str:
    """A stored value with its compression undone, still a valid stored value (a text beginning
    with ``~`` escaped): for a reader that must see the text inside a dump, such as the
    snapshot's secret scrub."""
    if not stored.startswith(ZLIB):
        return stored
    text = unpack(stored)
    return VERBATIM + text if text.startswith("~") else text


PACKED = {"batches": "batch_json", "target_calls": "call_json"}  # table -> its compressed column


def opened_row(table: str, row: dict[str, object]) -> dict[str, object]:
    """A dump row of ``table`` with its compressed column opened (``opened``)."""
    col = PACKED.get(table)
    value = row.get(col) if col else None
    if isinstance(value, str) and value.startswith(ZLIB):
        return {**row, col: opened(value)}  # type: ignore[dict-item]
    return row


def packed_row(table: str, row: dict[str, object]) -> dict[str, object]:
    """A dump row of ``table`` as the store keeps it: its recording compressed (a plain row of an
    older format too, so a restore also compacts)."""
    col = PACKED.get(table)
    value = row.get(col) if col else None
    if isinstance(value, str):
        return {**row, col: pack(unpack(value))}  # type: ignore[dict-item]
    return row

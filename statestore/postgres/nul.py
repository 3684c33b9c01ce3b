"""PostgreSQL text cannot hold NUL (U+0000); SQLite text can, and the store promises to give
back any string it was given. Text values are escaped on the way in and unescaped on the way
out by psycopg adapters registered on every pooled connection: U+0000 is stored as
U+E000 "0" and U+E000 (a private-use character) as U+E000 U+E000. Strings with neither -- all
real directory data -- pass unchanged, so equality, ``lower()`` and indexes work as before.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg.types.string import StrDumperUnknown, TextBinaryLoader, TextLoader

ESC = "\ue000"
_UNESCAPE = re.compile("\ue000([\ue0000])")

def escape(s: str) -> str:
    if "\x00" in s or ESC in s:
        return s.replace(ESC, ESC + ESC).replace("\x00", ESC + "0")
    return s


def unescape(s: str) -> str:
    if ESC in s:
        return _UNESCAPE.sub(lambda m: ESC if m[1] == ESC else "\x00", s)
    return s


class NulSafeDumper(StrDumperUnknown):
    def dump(self, obj: str) -> Any:
        # one call per value: the common case (neither character) is two ``in`` tests and the
        # encode that psycopg's own dumper does, with no further call
        if "\x00" in obj or ESC in obj:
            obj = obj.replace(ESC, ESC + ESC).replace("\x00", ESC + "0")
        return obj.encode(self._encoding)


class NulSafeLoader(TextLoader):
    def load(self, data: Any) -> Any:
        value = super().load(data)
        return unescape(value) if isinstance(value, str) else value


class NulSafeBinaryLoader(TextBinaryLoader):
    def load(self, data: Any) -> Any:
        value = super().load(data)
        return unescape(value) if isinstance(value, str) else value


def register(conn: psycopg.Connection[Any]) -> None:
    conn.adapters.register_dumper(str, NulSafeDumper)
    conn.adapters.register_loader("text", NulSafeLoader)
    conn.adapters.register_loader("text", NulSafeBinaryLoader)

"""Reading one config table: the loader's context (file, base directory, problems found) and
the key/type/range check every table goes through."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hybridsync.engine.config import schema as S
from hybridsync.engine.core.errors import ConfigProblem

__all__ = ["LoadContext", "join_key", "read_table"]


class LoadContext:
    def __init__(self, file: str | None, base_dir: Path, check_secrets: bool):
        self.file = file
        self.base_dir = base_dir
        self.check_secrets = check_secrets
        self.problems: list[ConfigProblem] = []
        self.kinds: list[str] | None = None  # installed connector kinds, listed on first use

    def add(self, key: str, message: str) -> None:
        self.problems.append(ConfigProblem(self.file, key, message))

    def path(self, value: str, key: str) -> str:
        """``value`` resolved against the config file's directory (``~`` expanded)."""
        try:
            p = Path(value).expanduser()
            return str(p if p.is_absolute() else (self.base_dir / p).resolve())
        except (RuntimeError, ValueError, OSError) as exc:  # ~nosuchuser, NUL byte
            self.add(key, f"not a usable path: {exc}")
            return value


def join_key(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def read_table(ctx: LoadContext, table: Mapping[str, Any], fields: Mapping[str, S.Field], prefix: str) -> dict[str, Any]:
    """Check keys, types and ranges of one table; return only the valid entries."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        key_path = join_key(prefix, key)
        field = fields.get(key)
        if field is None:
            ctx.add(key_path, S.unknown_key_problem(key, fields))
            continue
        if not S.type_matches(field.type, value):
            ctx.add(key_path, S.type_problem(field.type, value))
            continue
        if field.choices and value not in field.choices:
            ctx.add(key_path, f"must be one of {', '.join(field.choices)} (got {value!r})")
            continue
        if field.type in ("int", "float") and (msg := S.range_problem(field, value)):
            ctx.add(key_path, msg)
            continue
        if field.type == "float":
            try:
                value = float(value)
            except OverflowError:  # TOML integers have no size limit
                ctx.add(key_path, "is too large")
                continue
        out[key] = value
    for key, field in fields.items():
        if field.required and key not in table:
            ctx.add(join_key(prefix, key), "required key is missing")
    return out

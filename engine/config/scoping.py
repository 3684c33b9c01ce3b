"""Loading ``[source.scope]``: OUs and groups (checked to be DNs under ``base_dn``), object
types and the Entra-style attribute filters (``scope.filters[g].clauses[c]``)."""

from __future__ import annotations

import re
from typing import Any

from hybridsync.engine.config import schema as S
from hybridsync.engine.config.reading import LoadContext, read_table
from hybridsync.engine.core.config import OBJECT_TYPES, ScopeClause, ScopeConfig

__all__ = ["load_scope", "object_types"]


def load_scope(ctx: LoadContext, table: dict[str, Any], prefix: str, base_dn: str | None) -> ScopeConfig:
    v = read_table(ctx, table, S.SCOPE_FIELDS, prefix)
    for key in ("include_ous", "exclude_ous", "groups"):
        for j, dn in enumerate(v.get(key, [])):
            if msg := S.dn_problem(dn):
                ctx.add(f"{prefix}.{key}[{j}]", msg)
            elif base_dn is not None and not S.is_under(dn, base_dn):
                ctx.add(f"{prefix}.{key}[{j}]", f"{dn!r} is not under base_dn {base_dn!r}")
        if key in v:
            v[key] = tuple(v[key])
    if "object_types" in v:
        v["object_types"] = object_types(ctx, v["object_types"], f"{prefix}.object_types")
    if "filters" in v:
        v["filters"] = tuple(
            _load_filter(ctx, f, f"{prefix}.filters[{i}]") for i, f in enumerate(v["filters"])
        )
    return ScopeConfig(**v)


def object_types(ctx: LoadContext, types: list[str], key: str) -> tuple[str, ...]:
    if not types:
        ctx.add(key, f"needs at least one of {', '.join(OBJECT_TYPES)}")
    for j, t in enumerate(types):
        if t not in OBJECT_TYPES:
            ctx.add(f"{key}[{j}]", f"unknown object type {t!r}; allowed: {', '.join(OBJECT_TYPES)}")
        elif types.index(t) != j:
            ctx.add(f"{key}[{j}]", f"{t!r} is listed twice")
    return tuple(dict.fromkeys(t for t in types if t in OBJECT_TYPES))


def _load_filter(ctx: LoadContext, table: dict[str, Any], prefix: str) -> tuple[ScopeClause, ...]:
    v = read_table(ctx, table, S.FILTER_FIELDS, prefix)
    clauses = v.get("clauses")
    if clauses is None:
        return ()
    if not isinstance(clauses, list) or not all(isinstance(c, dict) for c in clauses):
        ctx.add(f"{prefix}.clauses", "expected an array of inline tables {attribute = ..., operator = ..., value = ...}")
        return ()
    if not clauses:
        ctx.add(f"{prefix}.clauses", "needs at least one clause")
    out = []
    for j, c in enumerate(clauses):
        clause = _load_clause(ctx, c, f"{prefix}.clauses[{j}]")
        if clause is not None:
            out.append(clause)
    return tuple(out)


def _load_clause(ctx: LoadContext, table: dict[str, Any], prefix: str) -> ScopeClause | None:
    v = read_table(ctx, table, S.CLAUSE_FIELDS, prefix)
    op, value = v.get("operator"), v.get("value")
    if op is not None and op.upper() not in S.SCOPE_OPERATORS:
        ctx.add(f"{prefix}.operator", f"unknown operator {op!r}{S.suggestion(op.upper(), S.SCOPE_OPERATORS)}")
        return None
    if op is None or "attribute" not in v:
        return None
    op = op.upper()
    key = f"{prefix}.value"
    if op in S.NO_VALUE_OPERATORS:
        if value is not None:
            ctx.add(key, f"{op} takes no value")
        return ScopeClause(v["attribute"], op, None)
    if value is None:
        ctx.add(key, f"{op} needs a value")
        return None
    if op in S.LIST_OPERATORS and isinstance(value, list):
        if not all(isinstance(x, str) and "," not in x for x in value):
            ctx.add(key, f"{op} takes an array of strings without commas, or one comma-separated string")
            return None
        value = ",".join(value)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        ctx.add(key, f"expected a string or an integer, got {S.describe_type(value)}")
        return None
    value = str(value)
    if op in S.INTEGER_OPERATORS and not re.fullmatch(r"[+-]?\d+", value.strip()):
        ctx.add(key, f"{op} compares integers; the value must be an integer")
    if op in S.REGEX_OPERATORS:
        try:
            re.compile(value)
        except (re.error, RecursionError, OverflowError) as exc:
            ctx.add(key, f"regular expression does not compile: {exc}")
    return ScopeClause(v["attribute"], op, value)

"""Mapping-expression functions: logic, conversion, multi-valued and generated values.

Registered into ``registry.FUNCTIONS`` on import. Semantics follow Entra's reference
(https://learn.microsoft.com/en-us/entra/identity/app-provisioning/functions-for-customizing-application-data);
see ``functions`` for the null rules and deliberate deviations.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from typing import Any

from hybridsync.engine.mapping.functions.coerce import as_int, as_list, as_str, first, is_null, truthy
from hybridsync.engine.mapping.functions.registry import IGNORE, MISSING, Invocation, register

Thunk = Callable[[], Any]

# Windows password-complexity special characters (RandomString's "special characters").
SPECIALS = "~!@#$%^&*_-+=`|\\(){}[]:;\"'<>,.?/"
DIGITS = "0123456789"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LOWER = "abcdefghijklmnopqrstuvwxyz"


@register("BitAnd", 2)
def bit_and(inv: Invocation, a: Any, b: Any) -> int | None:
    x, y = as_int(inv, a, "value1"), as_int(inv, b, "value2")
    if x is None or y is None:
        return None
    return x & y


@register("CBool", 1)
def cbool(inv: Invocation, v: Any) -> bool:
    return truthy(v)


@register("Not", 1)
def not_(inv: Invocation, v: Any) -> bool:
    # "If source value is True, returns False. Otherwise, returns True." Numbers count as CBool.
    return not truthy(v)


@register("CStr", 1)
def cstr(inv: Invocation, v: Any) -> str | None:
    return as_str(v)


@register("Coalesce", 1, None, lazy=True)
def coalesce(inv: Invocation, *thunks: Thunk) -> Any:
    for t in thunks:
        v = t()
        if not is_null(v) and v != []:
            return v
    return None


@register("Count", 1)
def count(inv: Invocation, v: Any) -> int:
    return len(as_list(v))


@register("Item", 2)
def item(inv: Invocation, v: Any, index: Any) -> Any:
    i = as_int(inv, index, "index")
    if is_null(v):
        return None
    values = as_list(v)
    if i is None or i < 1 or i > len(values):
        raise inv.fail(f"index {i} is out of range 1..{len(values)} (Item counts from 1)")
    return values[i - 1]


@register("Join", 2, None, required=(0,))
def join(inv: Invocation, separator: Any, *sources: Any) -> str | None:
    sep = as_str(separator) or ""
    parts: list[str] = []
    seen = False
    for src in sources:
        for v in as_list(src):
            seen = True
            text = as_str(v)
            if text:  # null and empty values are skipped: Join(", ", "", "Doe", "John") = "Doe, John"
                parts.append(text)
    return sep.join(parts) if seen else None


@register("Split", 2)
def split(inv: Invocation, source: Any, delimiter: Any) -> list[str] | None:
    text = as_str(source)
    if text is None:
        return None
    delim = as_str(delimiter) or ""
    return [text] if delim == "" else text.split(delim)


@register("RemoveDuplicates", 1)
def remove_duplicates(inv: Invocation, v: Any) -> Any:
    if is_null(v):
        return None
    if not isinstance(v, list):
        return v
    out: list[Any] = []
    for x in v:
        if x not in out:
            out.append(x)
    return out


@register("IsNull", 1)
def is_null_(inv: Invocation, v: Any) -> bool:
    return is_null(v)


@register("IsNullOrEmpty", 1)
def is_null_or_empty(inv: Invocation, v: Any) -> bool:
    return is_null(v) or v == "" or v == []


@register("IsPresent", 1)
def is_present(inv: Invocation, v: Any) -> bool:
    return not is_null_or_empty(inv, v)


@register("IsString", 1)
def is_string(inv: Invocation, v: Any) -> bool:
    return isinstance(first(v), str)


@register("IgnoreFlowIfNullOrEmpty", 1)
def ignore_flow(inv: Invocation, v: Any) -> Any:

    return IGNORE if is_null_or_empty(inv, v) else v


@register("Redact", 1)
def redact(inv: Invocation, v: Any) -> Any:
    return v  # Entra hides the value in its provisioning logs; hybridsync never logs values.


@register("IIF", 3, lazy=True)
def iif(inv: Invocation, condition: Thunk, if_true: Thunk, if_false: Thunk) -> Any:
    c = condition()
    return if_true() if (not is_null(c) and truthy(c)) else if_false()


@register("Switch", 4, None, lazy=True, pairs_after=2, required=(0,))
def switch(inv: Invocation, source: Thunk, default: Thunk, *pairs: Thunk) -> Any:
    # Case-sensitive comparison; a null source matches the key "" (Entra's documented idiom).
    src = as_str(source()) or ""
    for i in range(0, len(pairs), 2):
        key = pairs[i]()
        if (as_str(key) or "") == src:
            v = pairs[i + 1]()
            return None if v is MISSING else v
    v = default()
    return None if v is MISSING else v


@register("SelectUniqueValue", 2, None, lazy=True, top_level_only=True, context=True)
def select_unique_value(inv: Invocation, *rules: Thunk) -> str:
    tried = 0
    for rule in rules:
        v = as_str(rule())
        if not v:
            continue
        tried += 1
        if inv.ctx.is_unique(v):
            return v
    raise inv.fail(f"every candidate value is already taken in the target ({tried} tried)")


@register("Guid", 0, context=True)
def guid(inv: Invocation) -> str:
    return str(uuid.UUID(bytes=inv.rng_bytes(16), version=4))


@register("RandomString", 5, 6, required=(0, 1, 2, 3, 4), context=True)
def random_string(
    inv: Invocation, length: Any, numbers: Any, specials: Any, capitals: Any, lowers: Any, avoid: Any = MISSING
) -> str | None:
    n = as_int(inv, length, "Length")
    given = [as_int(inv, x, what) for x, what in (
        (numbers, "MinimumNumbers"), (specials, "MinimumSpecialCharacters"),
        (capitals, "MinimumCapital"), (lowers, "MinimumLowerCase"))]
    mins = [m for m in given if m is not None]
    if n is None or len(mins) < len(given):
        return None
    if n < 1 or n > 256:
        raise inv.fail(f"Length must be 1..256, got {n}")
    if any(m < 0 for m in mins) or sum(mins) > n:
        raise inv.fail(f"the minimums ({sum(mins)}) exceed Length {n}")
    banned = set(as_str(avoid) or "")
    pools = ["".join(c for c in pool if c not in banned) for pool in (DIGITS, SPECIALS, UPPER, LOWER)]
    rng = random.Random(int.from_bytes(inv.rng_bytes(32), "big"))
    chars: list[str] = []
    for pool, m in zip(pools, mins):
        if m and not pool:
            raise inv.fail("CharactersToAvoid excludes a whole required character class")
        chars += [rng.choice(pool) for _ in range(m)]
    everything = "".join(pools)
    if not everything:
        raise inv.fail("CharactersToAvoid excludes every character")
    chars += [rng.choice(everything) for _ in range(n - len(chars))]
    rng.shuffle(chars)
    return "".join(chars)

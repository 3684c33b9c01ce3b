"""The function library of the mapping expressions, with Entra's names, argument order and
semantics (https://learn.microsoft.com/en-us/entra/identity/app-provisioning/functions-for-customizing-application-data).

This module holds the registry, the value coercions and the logical/multi-valued functions;
``functions_text`` holds the string functions and ``functions_date`` the date functions.

Null handling (null = absent attribute): functions propagate null unless Entra documents
otherwise -- Left and Word return "" for null, Coalesce/IsNull/IsNullOrEmpty/IsPresent/IsString
test it, Switch compares a null source as "", Count of null is 0, Not(null) is True ("If source
value is True, returns False. Otherwise, returns True."), CBool(null) is False.

Deliberate deviations from Entra, for predictability:
- IIF whose condition is null (a comparison with an absent attribute) takes ``valueIfFalse``;
  Entra documents that "the condition check fails".
- DateFromNum of 0 or 0x7FFFFFFFFFFFFFFF (AD's "never", e.g. accountExpires) is null.
- Guid/RandomString are derived from the injected seed, the object's anchor, the target
  attribute and the call's position, so they are stable across replays of a plan.
- SelectUniqueValue asks ``EvalContext.is_unique``; when every candidate is taken it is a
  per-object error (Entra escrows the entry).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from attrs import frozen

__all__ = ["DYNAMIC", "FUNCTIONS", "IGNORE", "MISSING", "EvalFailure", "FunctionSpec", "Invocation"]


class _Sentinel:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name

    def __bool__(self) -> bool:
        return False


MISSING = _Sentinel("MISSING")  # an omitted argument: Replace([x], , "re", , "", , )
DYNAMIC = _Sentinel("DYNAMIC")  # parse-time checks: an argument that is not a literal
IGNORE = _Sentinel("IGNORE")  # IgnoreFlowIfNullOrEmpty: leave the target attribute alone


class EvalFailure(Exception):
    """Raised by a function; ``Expr.evaluate`` turns it into a ``MappingError``."""


class Invocation:
    """One evaluation of one call (a plain slotted class: created for every call evaluated)."""

    __slots__ = ("ctx", "name", "site")

    def __init__(self, ctx: Any, name: str, site: int):
        self.ctx = ctx  # expressions.EvalContext
        self.name = name
        self.site = site

    def fail(self, message: str) -> EvalFailure:
        return EvalFailure(f"{self.name}: {message}")

    def rng_bytes(self, n: int = 32, salt: str = "") -> bytes:
        """Deterministic bytes for this call on this object and target attribute."""
        ctx = self.ctx
        material = "\x00".join((ctx.seed, ctx.source.anchor, ctx.attribute, str(self.site), salt))
        out = b""
        counter = 0
        while len(out) < n:
            out += hashlib.sha256(f"{material}\x00{counter}".encode()).digest()
            counter += 1
        return out[:n]


@frozen
class FunctionSpec:
    name: str
    impl: Callable[..., Any]
    min_args: int
    max_args: int | None  # None: unbounded
    lazy: bool = False  # impl receives thunks (IIF, Switch, Coalesce ... evaluate what they need)
    top_level_only: bool = False
    pairs_after: int | None = None  # Switch: after this many arguments, key/value pairs
    required: tuple[int, ...] = ()  # argument positions that may not be omitted
    # parse-time check of literal arguments (each a literal value, MISSING or DYNAMIC):
    # returns a problem -- text, or (argument index, text) to point at the argument -- or None,
    # so a bad regex or interval is a config error rather than a per-object one
    check: Callable[[list[Any]], str | tuple[int, str] | None] | None = None
    # the result depends on more than the arguments (clock, seed, anchor, attribute, call site or
    # the target's answers, all read through ``Invocation``): never memoized by the mapping layer
    context: bool = False

    def arity_problem(self, n: int) -> str | None:
        if self.max_args is not None and self.min_args == self.max_args and n != self.min_args:
            return f"takes {self.min_args} argument{'s' if self.min_args != 1 else ''}"
        if n < self.min_args:
            return f"takes at least {self.min_args} arguments"
        if self.max_args is not None and n > self.max_args:
            return f"takes at most {self.max_args} arguments"
        if self.pairs_after is not None and (n - self.pairs_after) % 2:
            return "takes key/value pairs after the default value (an even number of arguments)"
        return None


FUNCTIONS: dict[str, FunctionSpec] = {}


def register(
    name: str,
    min_args: int,
    max_args: int | None = -1,  # type: ignore[assignment]
    *,
    lazy: bool = False,
    top_level_only: bool = False,
    pairs_after: int | None = None,
    required: tuple[int, ...] | None = None,
    check: Callable[[list[Any]], str | tuple[int, str] | None] | None = None,
    context: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``impl(inv, *args)`` under Entra's ``name`` (looked up case-insensitively).

    ``context=True``: the result depends on more than the arguments (``inv.ctx``: clock, seed,
    anchor, ``is_unique``; ``inv.site``; ``inv.rng_bytes``). An implementation whose code reads
    any of those is flagged even without it, so a forgotten flag cannot make a memo wrong.
    """
    maxa = min_args if max_args == -1 else max_args

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        req = tuple(range(min_args)) if required is None else required
        reads = set(getattr(getattr(fn, "__code__", None), "co_names", ("ctx",)))
        uses_context = context or bool(reads & {"ctx", "site", "rng_bytes"})
        FUNCTIONS[name.lower()] = FunctionSpec(
            name, fn, min_args, maxa, lazy, top_level_only, pairs_after, req, check, uses_context
        )
        return fn

    return deco


# --------------------------------------------------------------------------------------------
# Coercions
# --------------------------------------------------------------------------------------------


def unescape_string(body: str) -> str:
    r"""A string literal's body: ``\"`` -> ``"``, ``\\`` -> ``\``; other ``\x`` stay as written."""
    return re.sub(r'\\(["\\])', r"\1", body)


def is_null(v: Any) -> bool:
    return v is None or v is MISSING or v is IGNORE


def first(v: Any) -> Any:
    """Single-valued view: a multi-valued attribute contributes its first value."""
    if isinstance(v, list):
        return v[0] if v else None
    return None if v is MISSING or v is IGNORE else v


def as_list(v: Any) -> list[Any]:
    """Multi-valued view: null is [], a single value is [value]."""
    if is_null(v):
        return []
    return list(v) if isinstance(v, list) else [v]


def as_str(v: Any) -> str | None:
    v = first(v)
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, datetime):
        from hybridsync.engine.mapping.functions.dates import format_default

        return format_default(v)
    return str(v)


def as_int(inv: Invocation, v: Any, what: str) -> int | None:
    v = first(v)
    if v is None:
        return None
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if v.is_integer():
            return int(v)
        raise inv.fail(f"{what} must be a whole number, got {v!r}")
    text = str(v).strip()
    try:
        if text[:2].lower() == "&h":
            return int(text[2:], 16)
        return int(text)
    except ValueError:
        try:
            f = float(text)
        except ValueError:
            raise inv.fail(f"{what} must be a number, got {_short(text)!r}") from None
        if f.is_integer():
            return int(f)
        raise inv.fail(f"{what} must be a whole number, got {_short(text)!r}") from None


def truthy(v: Any) -> bool:
    """CBool's rule: True, "True" (any case) or a non-zero number is true; everything else false."""
    v = first(v)
    if v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    text = str(v).strip()
    if text.lower() == "true":
        return True
    try:
        return float(text) != 0
    except ValueError:
        return False


def _short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[:n] + "..."


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    try:
        return float(str(v).strip())
    except ValueError:
        return None


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def compare(op: str, left: Any, right: Any) -> bool | None:
    """``=``, ``<>``, ``<``, ``<=``, ``>``, ``>=``. Numerically when one side is a number (a
    literal like ``5`` or a function result like DateDiff's) and the other reads as one; as dates
    when one side is a date; otherwise as text (case-sensitive, ordinal: "01" <> "1").
    A null side makes the comparison null."""
    left, right = first(left), first(right)
    if left is None or right is None:
        return None
    a: Any
    b: Any
    if isinstance(left, datetime) or isinstance(right, datetime):
        from hybridsync.engine.mapping.functions.dates import to_datetime

        a, b = to_datetime(None, left), to_datetime(None, right)
    elif (_is_num(left) or _is_num(right)) and (na := _number(left)) is not None and (nb := _number(right)) is not None:
        a, b = na, nb
    else:
        a, b = as_str(left), as_str(right)
    if op == "=":
        return a == b
    if op == "<>":
        return a != b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    return a >= b


# Register the rest (import for side effects; they import the helpers above).
from hybridsync.engine.mapping.functions import logic as _logic  # noqa: E402,F401
from hybridsync.engine.mapping.functions import text as _text  # noqa: E402,F401
from hybridsync.engine.mapping.functions import dates as _date  # noqa: E402,F401

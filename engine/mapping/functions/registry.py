"""The function library of the mapping expressions, with Entra's names, argument order and
semantics (https://learn.microsoft.com/en-us/entra/identity/app-provisioning/functions-for-customizing-application-data).

This module holds the registry (``FUNCTIONS``, ``register``, ``FunctionSpec``, ``Invocation``
and the sentinels); ``coerce`` the value coercions and comparison; ``text``, ``logic`` and
``dates`` the functions, each registering into ``FUNCTIONS`` the registry it imports. The
package (``hybridsync.engine.mapping.functions``) imports all three, so importing any part of
it yields the full table.

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
from collections.abc import Callable
from typing import Any

from attrs import frozen

from hybridsync.engine.core.errors import HybridsyncError

__all__ = ["DYNAMIC", "FUNCTIONS", "IGNORE", "MISSING", "EvalFailure", "FunctionSpec", "Invocation", "register"]


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


class EvalFailure(HybridsyncError):
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
    max_args: int | None = -1,
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

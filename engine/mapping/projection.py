"""Turns a source object into the projection a target should hold (pure, no I/O).

``compile_mapping`` parses every expression of a target once, at config load; ``project``
evaluates them for one object. The projection maps target attribute paths (the same flattened
paths as ``TargetObject.attributes``, e.g. ``name.givenName``, ``emails[type eq "work"].value``,
``urn:...:enterprise:2.0:User:manager``) to values:

- ``str``, ``bool``, ``int`` or ``list[str]``: send this value;
- ``None``: the expression yielded null -- clear the attribute at the target;
- path absent: leave the target alone (IgnoreFlowIfNullOrEmpty yielded null/empty, or a
  reference that does not resolve yet).

Reference-typed paths (``REFERENCE_PATHS``): the expression yields a source DN (the default is
``[manager]``); ``ProjectionContext.resolve_reference(dn)`` turns it into the target id of the
provisioned object, and while that is ``None`` the path is absent (the planner updates it once the
manager exists). A null expression still clears it.

Boolean paths (``active`` and every ``...primary``): "True"/"False" (any case) and numbers are
coerced to ``bool``; anything else is a mapping error. Dates print as Entra prints them
(``M/d/yyyy h:mm:ss tt``, UTC); wrap them in FormatDateTime for another format.

If any expression of an object fails, ``Projection.errors`` lists every failure and
``Projection.values`` is empty: no half-built payload can reach a target.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Any

from attrs import field, frozen

from hybridsync.engine.core.config import (
    DEFAULT_MAPPINGS,
    DEFAULT_MAPPINGS_BY_TARGET_KIND,
    SCIM_ENTERPRISE,
    TargetConfig,
)
from hybridsync.engine.core.errors import ConfigError, ConfigProblem, HybridsyncError
from hybridsync.engine.mapping.expressions import EvalContext, Expr, ExpressionError, MappingError, parse
from hybridsync.engine.mapping.functions.coerce import as_str
from hybridsync.engine.mapping.functions.registry import IGNORE
from hybridsync.engine.mapping.writeonly import WriteOnly, is_write_only, placeholder
from hybridsync.engine.core.values import ObjectKind, SourceObject, frozen_mapping

__all__ = [
    "BOOLEAN_PATHS",
    "MANAGER_PATH",
    "REFERENCE_PATHS",
    "MappingError",
    "Projection",
    "ProjectionContext",
    "Rule",
    "TargetMapping",
    "compile_mapping",
    "is_boolean_path",
    "is_reference_path",
]

MANAGER_PATH = f"{SCIM_ENTERPRISE}:manager"
# Paths whose value is a source DN resolved to a target id through ProjectionContext.
# ``manager``: the Entra target's path (a Graph navigation property; connectors/entra/manager.py).
REFERENCE_PATHS: frozenset[str] = frozenset({MANAGER_PATH.lower(), f"{MANAGER_PATH}.value".lower(), "manager"})
# SCIM booleans (RFC 7643 section 4.1): active, and "primary" of multi-valued attributes.
BOOLEAN_PATHS: frozenset[str] = frozenset({"active"})


def is_reference_path(path: str) -> bool:
    return path.lower() in REFERENCE_PATHS


def is_boolean_path(path: str) -> bool:
    p = path.lower()
    return p in BOOLEAN_PATHS or p.endswith(".primary")


def _no_reference(_dn: str) -> str | None:
    return None


def _always_unique(_path: str, _value: str) -> bool:
    return True


@frozen
class ProjectionContext:
    """What a projection may depend on besides the object: time, seed and other objects.

    ``resolve_reference(dn)`` -> the target id of the provisioned object with that DN, or None.
    ``is_unique(path, value)`` -> whether ``value`` is free for ``path`` in the target
    (SelectUniqueValue); the default accepts every value.
    """

    clock: datetime
    seed: str = ""
    resolve_reference: Callable[[str], str | None] = field(default=_no_reference, eq=False)
    is_unique: Callable[[str, str], bool] = field(default=_always_unique, eq=False)


@frozen
class Projection:
    """The values an object should have at a target, or the errors that prevent it."""

    values: Mapping[str, Any] = field(factory=dict, converter=frozen_mapping)
    errors: tuple[MappingError, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors


_PLAIN, _BOOL, _REF = 0, 1, 2
# A rule whose expression depends only on the values of the attributes it references (no Now,
# Guid, RandomString, SelectUniqueValue) keeps up to this many (those values -> result) pairs:
# ``Not(BitAnd([userAccountControl], 2))`` is then evaluated once per distinct value, not once per
# object. Only immutable results are kept; errors are never kept (they name the object).
MEMO_SIZE = 4096
_IMMUTABLE = frozenset({str, int, float, bool, type(None), datetime})


@frozen
class Rule:
    """One mapping rule: target attribute ``path`` <- ``expr``."""

    path: str
    expr: Expr
    write_only: bool = False  # computed at apply time, never stored (mapping/writeonly.py)
    # precomputed at construction: how the value is shaped, and the attribute name of a bare
    # ``[attr]`` expression (evaluated without building an EvalContext: most rules are bare)
    shape: int = field(init=False, eq=False, repr=False)
    bare: str | None = field(init=False, eq=False, repr=False)
    # for other expressions: the attributes read (the memo key), and the memo (None: the
    # expression needs the evaluation context, e.g. Now() or Guid(), and is evaluated each time)
    refs: tuple[str, ...] = field(init=False, eq=False, repr=False)
    memo: dict[Any, Any] | None = field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        shape = _REF if is_reference_path(self.path) else _BOOL if is_boolean_path(self.path) else _PLAIN
        object.__setattr__(self, "shape", shape)
        bare = self.expr.bare_attribute()
        object.__setattr__(self, "bare", bare)
        object.__setattr__(self, "refs", tuple(sorted(self.expr.references())))
        pure = bare is None and self.expr.depends_only_on_references()
        object.__setattr__(self, "memo", {} if pure else None)

    @property
    def reason(self) -> str:
        """The ``Reason.rule`` name for this rule, e.g. ``mapping.displayName``."""
        return f"mapping.{self.path}"


@frozen
class TargetMapping:
    """The compiled mapping of one target: per object kind, its rules in config order."""

    target: str
    rules: Mapping[str, tuple[Rule, ...]] = field(converter=frozen_mapping)
    salt: str = ""  # the state store's write-only placeholder salt (mapping/writeonly.py)

    def with_salt(self, salt: str) -> TargetMapping:
        """This mapping, its write-only placeholders keyed by ``salt`` (the same rules)."""
        return self if salt == self.salt else TargetMapping(self.target, self.rules, salt)

    def paths(self, kind: ObjectKind | str) -> tuple[str, ...]:
        """The target attribute paths this target maps for ``kind``."""
        return tuple(r.path for r in self.rules.get(str(kind), ()))

    def references(self, kind: ObjectKind | str) -> frozenset[str]:
        """Source attribute names (lowercased) the mappings of ``kind`` read."""
        out: frozenset[str] = frozenset()
        for r in self.rules.get(str(kind), ()):
            out |= r.expr.references()
        return out

    def rule(self, kind: ObjectKind | str, path: str) -> Rule | None:
        return next((r for r in self.rules.get(str(kind), ()) if r.path == path), None)

    def project(self, obj: SourceObject, ctx: ProjectionContext) -> Projection:
        """Evaluate every rule of ``obj.kind`` for ``obj`` (see the module docstring)."""
        if obj.kind is None:
            return Projection({}, (MappingError(obj.dn or obj.anchor, "", "", "object has no kind"),))
        values: dict[str, Any] = {}
        errors: list[MappingError] | None = None
        attributes = obj.attributes
        for rule in self.rules.get(obj.kind, ()):  # a StrEnum hashes and compares as its name
            if rule.write_only:
                values[rule.path] = _write_only(rule, obj, ctx, self.salt)
                continue
            bare = rule.bare
            if bare is not None:
                vals = attributes.get(bare)
                if not vals:
                    values[rule.path] = None  # a null value clears the path, whatever its shape
                    continue
                if len(vals) == 1:
                    raw: Any = vals[0]
                    if rule.shape == _PLAIN:
                        values[rule.path] = raw
                        continue
                else:
                    raw = list(vals)
            else:
                memo = rule.memo
                try:
                    if memo is None:
                        raw = rule.expr.evaluate(EvalContext(
                            source=obj,
                            clock=ctx.clock,
                            seed=ctx.seed,
                            attribute=rule.path,
                            is_unique=partial(ctx.is_unique, rule.path),
                        ))
                    else:
                        refs = rule.refs
                        key = attributes.get(refs[0]) if len(refs) == 1 else tuple(map(attributes.get, refs))
                        raw = memo.get(key, _NOT_YET)
                        if raw is _NOT_YET:
                            raw = rule.expr.evaluate(EvalContext(source=obj, clock=ctx.clock, seed=ctx.seed,
                                                                 attribute=rule.path))
                            if (type(raw) in _IMMUTABLE or raw is IGNORE) and len(memo) < MEMO_SIZE:
                                memo[key] = raw
                except MappingError as exc:
                    if errors is None:
                        errors = []
                    errors.append(exc)
                    continue
            try:
                present, value = _shape(rule, raw, ctx)
            except MappingError as exc:
                if errors is None:
                    errors = []
                errors.append(exc)
                continue
            except _ShapeError as exc:
                if errors is None:
                    errors = []
                errors.append(MappingError(obj.dn or obj.anchor, rule.path, rule.expr.text, str(exc)))
                continue
            if present:
                values[rule.path] = value
        if errors:
            return Projection({}, tuple(errors))
        return Projection(values, ())


def _write_only(rule: Rule, obj: SourceObject, ctx: ProjectionContext, salt: str = "") -> WriteOnly:
    """The placeholder of a write-only rule (its inputs' keyed fingerprint) and how to compute
    it; with a salt, the unsalted placeholder too (a store made before the salt holds that)."""
    inputs = {name: obj.attributes.get(name) for name in sorted(rule.expr.references())}

    def compute() -> Any:
        raw = rule.expr.evaluate(EvalContext(source=obj, clock=ctx.clock, seed=ctx.seed, attribute=rule.path))
        return None if raw is IGNORE else _shape(rule, raw, ctx)[1]

    legacy = placeholder(rule.expr.text, inputs) if salt else None
    return WriteOnly(placeholder(rule.expr.text, inputs, salt), compute, legacy, reads_inputs=bool(inputs))


class _ShapeError(HybridsyncError):
    """A value that does not fit the target attribute's shape (turned into a MappingError)."""


_NOT_YET = object()


def _shape(rule: Rule, raw: Any, ctx: ProjectionContext) -> tuple[bool, Any]:
    """(present, value) for the target: absent paths, booleans, references, plain values."""
    if raw is IGNORE:
        return False, None
    if raw is None:
        return True, None
    if rule.shape == _REF:
        dn = as_str(raw)
        if dn is None or dn == "":
            return True, None
        target_id = ctx.resolve_reference(dn)
        return (target_id is not None), target_id
    if rule.shape == _BOOL:
        return True, _to_bool(rule.path, raw)
    return True, _plain_value(raw)


def _to_bool(path: str, raw: Any) -> bool:
    v = raw[0] if isinstance(raw, list) and raw else raw
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    text = str(v).strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return float(text) != 0
    except ValueError:
        raise _ShapeError(f"{path} needs a boolean, got {text[:40]!r}") from None


def _plain_value(raw: Any) -> Any:
    if isinstance(raw, list):
        return [_text(v) for v in raw]
    if isinstance(raw, (bool, int)):
        return raw
    if isinstance(raw, float):
        return int(raw) if raw.is_integer() else _text(raw)
    return _text(raw)


def _text(v: Any) -> str:
    # Dates print as Entra does ("M/d/yyyy h:mm:ss tt", UTC); use FormatDateTime for others.
    return as_str(v) or ""


def compile_mapping(target: TargetConfig, *, file: str | None = None, index: int = 0) -> TargetMapping:
    """Parse every expression of ``target.mapping`` (kinds it lacks use ``DEFAULT_MAPPINGS``).

    An empty expression drops the attribute. Every broken expression is reported at once in
    one ``ConfigError`` with keys ``target[index].mapping.<kind>.<path>`` and the column.
    """
    problems: list[ConfigProblem] = []
    rules: dict[str, tuple[Rule, ...]] = {}
    defaults = DEFAULT_MAPPINGS_BY_TARGET_KIND.get(target.kind, DEFAULT_MAPPINGS)  # Entra's own
    kinds = list(defaults) + [k for k in target.mapping if k not in defaults]
    for kind in kinds:
        table = target.mapping.get(kind)
        if table is None:
            table = defaults[kind]
        out: list[Rule] = []
        for path, text in table.items():
            key = f"target[{index}].mapping.{kind}.{path}"
            if text is None or (isinstance(text, str) and not text.strip()):
                continue
            try:
                out.append(Rule(path, parse(text), write_only=is_write_only(path, target.write_only)))
            except ExpressionError as exc:
                problems.append(ConfigProblem(file, key, f"{exc.message} at column {exc.column}"
                                              + (f" of line {exc.line}" if (exc.line or 1) > 1 else "")))
        rules[kind] = tuple(out)
    if problems:
        raise ConfigError(problems)
    return TargetMapping(target.name, rules)

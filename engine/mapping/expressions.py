"""Attribute-mapping expressions, compatible with Microsoft Entra's provisioning expressions.

Reference followed (semantics and argument order): "Reference for writing expressions for
attribute mappings in Microsoft Entra ID",
https://learn.microsoft.com/en-us/entra/identity/app-provisioning/functions-for-customizing-application-data

Syntax (grammar in ``expressions.lark``, parsed with lark LALR)::

    Join(" ", [givenName], ToUpper([sn]))          attribute references, nested calls
    "Company: \\"Contoso\\""                        string literals, \\" and \\\\ escapes
    7   -10   1.5   &HF7                            numbers (VBA hex literals too)
    Replace([mailNickname], , "[a-zA-Z_]*", , "", , )   omitted arguments
    IIF([country]="USA", "US", "Other")             comparisons = <> < <= > >= (IIF, CBool)
    InStr("repEated", "e", 3, vbBinaryCompare)      the constants vbBinaryCompare/vbTextCompare

Function names are matched case-insensitively (Entra's reference calls the syntax case-sensitive;
accepting ``toLower`` loses nothing). ``parse`` runs once at config load and rejects syntax
errors, unknown functions, wrong arity, a nested SelectUniqueValue and bad literal arguments
(regexes, intervals, date formats, Replace's argument combination) with ``ExpressionError``
(message + 1-based column, pointing at the function or the offending argument). Evaluation is pure:
``Now``/``Guid``/``RandomString`` draw from the injected clock and seed, so a plan replays exactly.

Values during evaluation: ``None`` (null: an absent attribute), ``str``, ``bool``, ``int``,
``float``, ``datetime`` (aware, UTC) and ``list[str]`` (a multi-valued attribute). An attribute
reference with one value yields that ``str``, with several a ``list``; single-valued functions take
the first value, Join/Count/Item/RemoveDuplicates/Split work on the list. Function behaviour and
the few deliberate deviations from Entra are documented in ``functions.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Union

import lark
from attrs import field, frozen

from hybridsync.engine.core.errors import ConfigurationError, ObjectError
from hybridsync.engine.mapping.functions import FUNCTIONS
from hybridsync.engine.mapping.functions.coerce import compare, unescape_string
from hybridsync.engine.mapping.functions.registry import DYNAMIC, IGNORE, MISSING, EvalFailure, Invocation
from hybridsync.engine.core.values import SourceObject

__all__ = ["EvalContext", "Expr", "ExpressionError", "MappingError", "parse"]

MAX_LENGTH = 10_000
CONSTANTS = {"vbbinarycompare": "vbBinaryCompare", "vbtextcompare": "vbTextCompare"}


class ExpressionError(ConfigurationError, ValueError):
    """An expression that cannot be compiled: syntax, unknown function, wrong arity.

    ``column`` is 1-based (within ``line``, 1-based, for multi-line expressions).
    """

    def __init__(self, message: str, column: int | None, line: int | None = 1):
        self.message = message
        self.column = column
        self.line = line
        where = f"column {column}" if line == 1 else f"line {line} column {column}"
        super().__init__(f"{message} (at {where})")

    def __reduce__(self) -> tuple[Any, ...]:  # picklable despite the custom signature
        return (type(self), (self.message, self.column, self.line))


class MappingError(ObjectError):
    """Evaluating one mapping for one object failed; the object is not provisioned this cycle."""

    def __init__(self, object_ref: str, attribute: str, expression: str, message: str):
        self.expression = expression
        self.message = message
        super().__init__(
            f"{message} in {expression!r}", object_ref=object_ref, stage="mapping", attribute=attribute
        )

    def __reduce__(self) -> tuple[Any, ...]:  # keep it picklable/copyable despite the custom signature
        return (type(self), (self.object_ref, self.attribute, self.expression, self.message))


def _accept_all(_value: str) -> bool:
    return True


@frozen
class EvalContext:
    """Everything an evaluation may look at besides the expression itself.

    ``attribute`` names the target attribute being computed (errors name it; Guid/RandomString
    mix it into their seed). ``is_unique(value)`` answers SelectUniqueValue's question "is this
    value free in the target?"; the default accepts the first candidate.
    """

    source: SourceObject
    clock: datetime
    seed: str = ""
    attribute: str = ""
    is_unique: Callable[[str], bool] = field(default=_accept_all, eq=False)


# --------------------------------------------------------------------------------------------
# Nodes
# --------------------------------------------------------------------------------------------


@frozen
class _Attr:
    name: str  # lowercased

    def eval(self, ctx: EvalContext) -> Any:
        vals = ctx.source.get(self.name)
        if not vals:
            return None
        return vals[0] if len(vals) == 1 else list(vals)

    def refs(self) -> frozenset[str]:
        return frozenset({self.name})

    def needs_context(self) -> bool:
        return False


@frozen
class _Literal:
    value: Any

    def eval(self, ctx: EvalContext) -> Any:
        return self.value

    def refs(self) -> frozenset[str]:
        return frozenset()

    def needs_context(self) -> bool:
        return False


@frozen
class _Compare:
    op: str
    left: Node
    right: Node

    def eval(self, ctx: EvalContext) -> Any:
        return compare(self.op, _plain(self.left.eval(ctx)), _plain(self.right.eval(ctx)))

    def refs(self) -> frozenset[str]:
        return self.left.refs() | self.right.refs()

    def needs_context(self) -> bool:
        return self.left.needs_context() or self.right.needs_context()


def _plain(value: Any) -> Any:
    """IgnoreFlowIfNullOrEmpty only matters at the top; as an argument it is just null."""
    return None if value is IGNORE else value


@frozen
class _Call:
    name: str  # canonical spelling
    args: tuple[Node | None, ...]
    site: int  # position among the calls of the expression (distinct seeds per Guid() call)
    impl: Callable[..., Any] = field(eq=False, repr=False)
    lazy: bool = field(default=False, eq=False, repr=False)
    context: bool = field(default=False, eq=False, repr=False)  # FunctionSpec.context

    def eval(self, ctx: EvalContext) -> Any:
        inv = Invocation(ctx, self.name, self.site)
        if self.lazy:
            thunks = [(lambda a=a: _plain(a.eval(ctx)) if a is not None else MISSING) for a in self.args]
            return self.impl(inv, *thunks)
        values = [_plain(a.eval(ctx)) if a is not None else MISSING for a in self.args]
        return self.impl(inv, *values)

    def refs(self) -> frozenset[str]:
        out: frozenset[str] = frozenset()
        for a in self.args:
            if a is not None:
                out |= a.refs()
        return out

    def needs_context(self) -> bool:
        return self.context or any(a.needs_context() for a in self.args if a is not None)


Node = Union[_Attr, _Literal, _Compare, _Call]  # a compiled expression's tree


@frozen
class Expr:
    """A compiled expression. ``text`` is what the admin wrote."""

    text: str
    root: Node = field(repr=False)

    def evaluate(self, ctx: EvalContext) -> Any:
        """The value for ``ctx.source``; raises ``MappingError`` naming object, attribute, text.

        The result may be the ``functions.IGNORE`` sentinel (IgnoreFlowIfNullOrEmpty: leave the
        target attribute alone); the mapping layer turns it into an absent path.
        """
        try:
            return self.root.eval(ctx)
        except EvalFailure as exc:
            ref = ctx.source.dn or ctx.source.anchor
            raise MappingError(ref, ctx.attribute, self.text, str(exc)) from None

    def references(self) -> frozenset[str]:
        """Source attribute names (lowercased) the expression reads."""
        return self.root.refs()

    def depends_only_on_references(self) -> bool:
        """True if the value is a function of ``references()``'s values alone: no function reads
        the clock, seed, anchor, target attribute, call site or the target (Now, Guid,
        RandomString, SelectUniqueValue do). Such a value may be memoized by those values."""
        return not self.root.needs_context()

    def bare_attribute(self) -> str | None:
        """The lowercased name if the whole expression is one ``[attribute]``, else None."""
        return self.root.name if isinstance(self.root, _Attr) else None

    def __str__(self) -> str:
        return self.text


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _parser() -> lark.Lark:
    grammar = (Path(__file__).with_name("expressions.lark")).read_text(encoding="utf-8")
    return lark.Lark(grammar, parser="lalr", maybe_placeholders=False, propagate_positions=True)


class _Builder:
    def __init__(self, text: str):
        self.text = text
        self.sites = 0

    def build(self, tree: Any, top: bool = True) -> Node:
        if isinstance(tree, lark.Token):  # pragma: no cover - grammar always wraps tokens
            raise ExpressionError("unexpected token", tree.column or 1, tree.line or 1)
        kind = tree.data
        ch = tree.children
        if kind == "start":
            return self.build(ch[0], top)
        if kind == "attr":
            name = ch[0][1:-1].strip()
            if not name:
                raise ExpressionError("empty attribute name", ch[0].column, ch[0].line)
            return _Attr(name.lower())
        if kind == "string":
            return _Literal(unescape_string(ch[0][1:-1]))
        if kind == "number":
            tok = str(ch[0])
            return _Literal(float(tok) if "." in tok else int(tok))
        if kind == "hexnumber":
            return _Literal(int(str(ch[0])[2:], 16))
        if kind == "constant":
            canonical = CONSTANTS.get(str(ch[0]).lower())
            if canonical is None:
                raise ExpressionError(
                    f"unknown name {str(ch[0])!r} (strings need double quotes, attributes brackets)",
                    ch[0].column,
                    ch[0].line,
                )
            return _Literal(canonical)
        if kind == "compare":
            left, op, right = ch
            return _Compare(str(op), self.build(left, False), self.build(right, False))
        if kind == "call":
            return self._call(ch[0], ch[1], top)
        raise ExpressionError(f"unexpected {kind}", 1)  # pragma: no cover

    def _call(self, name_tok: lark.Token, args_tree: Any, top: bool) -> _Call:
        spec = FUNCTIONS.get(str(name_tok).lower())
        col, line = name_tok.column, name_tok.line
        if spec is None:
            raise ExpressionError(f"unknown function {str(name_tok)!r}", col, line)
        if spec.top_level_only and not top:
            raise ExpressionError(f"{spec.name} must be the whole expression, not nested", col, line)
        site = self.sites
        self.sites += 1
        args: list[Node | None] = [self.build(a.children[0], False) if a.children else None for a in args_tree.children]
        if len(args) == 1 and args[0] is None:
            args = []  # Name() has no arguments, not one omitted argument
        problem = spec.arity_problem(len(args))
        if problem:
            raise ExpressionError(f"{spec.name} {problem}, got {len(args)}", col, line)
        for i in spec.required:
            if i < len(args) and args[i] is None:
                raise ExpressionError(f"{spec.name}: argument {i + 1} may not be omitted", col, line)
        if spec.check is not None:
            literals = [MISSING if a is None else a.value if isinstance(a, _Literal) else DYNAMIC for a in args]
            if found := spec.check(literals):
                if isinstance(found, tuple):  # (argument index, message): point at the argument
                    index, text = found
                    meta = args_tree.children[index].meta
                    if not meta.empty:
                        col, line = meta.column, meta.line
                else:
                    text = found
                raise ExpressionError(f"{spec.name}: {text}", col, line)
        return _Call(spec.name, tuple(args), site, spec.impl, spec.lazy, spec.context)


def parse(text: str) -> Expr:
    """Compile ``text``; raise ``ExpressionError`` (with ``.column``) if it cannot be evaluated."""
    if not isinstance(text, str):
        raise ExpressionError(f"an expression must be text, not {type(text).__name__}", 1)
    if not text.strip():
        raise ExpressionError("empty expression", 1)
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters", MAX_LENGTH + 1)
    try:
        tree = _parser().parse(text)
    except lark.UnexpectedCharacters as exc:
        raise ExpressionError(f"unexpected character {text[exc.pos_in_stream or 0]!r}", exc.column, exc.line) from None
    except lark.UnexpectedEOF:
        line = text.count("\n") + 1
        col = len(text) - (text.rfind("\n") + 1) + 1
        raise ExpressionError("unexpected end of expression (unbalanced parenthesis?)", col, line) from None
    except lark.UnexpectedToken as exc:
        tok = exc.token
        if tok.type == "$END":
            line = text.count("\n") + 1
            col = len(text) - (text.rfind("\n") + 1) + 1
            raise ExpressionError("unexpected end of expression (unbalanced parenthesis?)", col, line) from None
        raise ExpressionError(f"unexpected {str(tok)!r}", tok.column or 1, tok.line or 1) from None
    except lark.LarkError as exc:  # pragma: no cover - any other parser failure
        raise ExpressionError(f"cannot parse: {exc}", 1) from None
    except RecursionError:
        raise ExpressionError("expression nested too deeply", 1) from None
    try:
        return Expr(text, _Builder(text).build(tree))
    except ValueError as exc:  # e.g. a number literal too long to convert
        if isinstance(exc, ExpressionError):
            raise
        raise ExpressionError(f"invalid literal: {exc}", 1) from None
    except RecursionError:
        raise ExpressionError("expression nested too deeply", 1) from None

"""Scoping: which source objects a target sees, and the clause that decided it. Pure.

Order of evaluation (the first clause that excludes decides; otherwise the last that admitted):
object type (``scope.object_types``), excluded OUs (``scope.exclude_ous[i]``), included OUs
(``scope.include_ous[i]``), group scope with nested membership (``scope.groups``), attribute
filters Entra style (``scope.filters[g][c]``: clauses ANDed inside a group, groups ORed).

DNs are compared as parsed RDN sequences (RFC 4514: escaped commas, hex escapes, multi-valued
RDNs, case-insensitive, unicode casefolded), never as raw text; AD's extended form
``<GUID=..>;<SID=..>;CN=..`` is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from attrs import field, frozen

from hybridsync.engine.core.config import ScopeClause, ScopeConfig
from hybridsync.engine.core.dn import DnError, ParsedDn, dn_within, normalize_dn, parse_dn  # noqa: F401 - re-exported (DN parsing lives in core)
from hybridsync.engine.core.errors import ConfigError, ConfigProblem
from hybridsync.engine.core.values import Reason, SourceObject


@frozen
class ScopeDecision:
    """In or out, and the clause that decided it (``rule``) with a human detail."""

    in_scope: bool
    rule: str
    detail: str = ""
    # the Reason, made once: a decision shared by every object of one OU shares it too
    _reason: Reason | None = field(default=None, init=False, eq=False, repr=False)

    def reason(self) -> Reason:
        r = self._reason
        if r is None:
            r = Reason(self.rule, self.detail)
            object.__setattr__(self, "_reason", r)
        return r


@frozen
class GroupScope:
    """The transitive members of the scoping groups (objectGUIDs), and which group let each in."""

    members: frozenset[str]
    via: Mapping[str, int] = field(factory=dict)  # guid -> index in ScopeConfig.groups
    missing: tuple[str, ...] = ()  # scoping group DNs not found in the store
    # scoping groups missing, renamed/moved out of their DN or unreadable: while there is one,
    # no object leaves scope through ``scope.groups`` (its disable is blocked and reported)
    problems: tuple[str, ...] = ()

    def blocks(self, decision: "ScopeDecision") -> str | None:
        """Why a scope exit decided by ``decision`` is blocked, or None."""
        if decision.in_scope or not self.problems or not decision.rule.endswith(".groups"):
            return None
        return "; ".join(self.problems)


def expand_group_scope(group_dns: Iterable[str], guid_by_dn: Mapping[str, str],
                       members_by_guid: Mapping[str, Iterable[str]]) -> GroupScope:
    """Transitive closure over stored group members (objectGUIDs), cycles tolerated.

    ``guid_by_dn`` is keyed by ``normalize_dn``; the scoping groups themselves are in scope.
    Only ``.get`` is called on both mappings.
    """
    via: dict[str, int] = {}
    missing: list[str] = []
    for index, dn in enumerate(group_dns):
        root = guid_by_dn.get(normalize_dn(dn))
        if root is None:
            missing.append(dn)
            continue
        stack = [root]
        while stack:
            guid = stack.pop()
            if guid in via:
                continue
            via[guid] = index
            stack.extend(sorted(members_by_guid.get(guid) or ()))
    return GroupScope(frozenset(via), via, tuple(missing))


_OPERATORS = ("EQUALS", "NOT EQUALS", "IS TRUE", "IS FALSE", "IS NULL", "IS NOT NULL", "REGEX MATCH",
              "NOT REGEX MATCH", "GREATER THAN", "GREATER THAN OR EQUALS", "LESS THAN", "INCLUDES",
              "IS IN", "IS NOT IN")
_NEEDS_VALUE = {"EQUALS", "NOT EQUALS", "REGEX MATCH", "NOT REGEX MATCH", "GREATER THAN",
                "GREATER THAN OR EQUALS", "LESS THAN", "INCLUDES", "IS IN", "IS NOT IN"}


def _op(name: str) -> str:
    return " ".join(name.upper().replace("_", " ").split())


def _int(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


@frozen
class _Clause:
    rule: str
    attribute: str
    op: str
    value: str | None
    regex: re.Pattern[str] | None
    choices: frozenset[str]
    number: int | None

    def test(self, obj: SourceObject) -> bool:
        vals = obj.get(self.attribute)
        op = self.op
        if op == "IS NULL":
            return not vals
        if op == "IS NOT NULL":
            return bool(vals)
        if op == "IS TRUE":
            return bool(vals) and vals[0].strip().lower() in ("true", "1")
        if op == "IS FALSE":
            return bool(vals) and vals[0].strip().lower() in ("false", "0")
        if op in ("EQUALS", "NOT EQUALS"):
            hit = any(v.casefold() == (self.value or "").casefold() for v in vals)
            return hit if op == "EQUALS" else not hit
        if op in ("REGEX MATCH", "NOT REGEX MATCH"):
            hit = any(self.regex.search(v) for v in vals)  # type: ignore[union-attr]
            return hit if op == "REGEX MATCH" else not hit
        if op == "INCLUDES":
            return any((self.value or "") in v for v in vals)
        if op in ("IS IN", "IS NOT IN"):
            hit = any(v.casefold() in self.choices for v in vals)
            return hit if op == "IS IN" else not hit
        nums = [x for x in (_int(v) for v in vals) if x is not None]
        if not nums or self.number is None:
            return False
        if op == "GREATER THAN":
            return nums[0] > self.number
        if op == "GREATER THAN OR EQUALS":
            return nums[0] >= self.number
        return nums[0] < self.number  # LESS THAN

    def describe(self) -> str:
        val = "" if self.value is None else f" {self.value!r}"
        return f"{self.attribute} {self.op}{val}"


def _compile_clause(rule: str, clause: ScopeClause, problems: list[ConfigProblem],
                    file: str | None) -> _Clause | None:
    op = _op(clause.operator)
    if op not in _OPERATORS:
        problems.append(ConfigProblem(file, rule, f"unknown operator {clause.operator!r}; "
                                      f"expected one of {', '.join(_OPERATORS)}"))
        return None
    if op in _NEEDS_VALUE and clause.value is None:
        problems.append(ConfigProblem(file, rule, f"operator {op} needs a value"))
        return None
    regex = None
    if op in ("REGEX MATCH", "NOT REGEX MATCH"):
        try:
            regex = re.compile(clause.value or "")
        except re.error as exc:
            problems.append(ConfigProblem(file, rule, f"invalid regular expression: {exc}"))
            return None
    number = None
    if op in ("GREATER THAN", "GREATER THAN OR EQUALS", "LESS THAN"):
        number = _int(clause.value or "")
        if number is None:
            problems.append(ConfigProblem(file, rule, f"operator {op} needs an integer value"))
            return None
    choices = frozenset(c.strip().casefold() for c in (clause.value or "").split(",") if c.strip())
    return _Clause(rule, clause.attribute.lower(), op, clause.value, regex, choices, number)


# AD's own critical system objects are never provisioned (as in Entra Connect / Cloud Sync).
_CRITICAL = ScopeDecision(False, "scope.critical_system_object",
                          "isCriticalSystemObject is TRUE: AD's built-in accounts are never provisioned")


class CompiledScope:
    """A ``ScopeConfig`` compiled once (parsed DNs, compiled regexes). Immutable after init."""

    def __init__(self, config: ScopeConfig, *, file: str | None = None, prefix: str = "scope"):
        problems: list[ConfigProblem] = []
        self.config = config
        self.prefix = prefix
        self.object_types = frozenset(config.object_types)

        def parse_all(key: str, dns: tuple[str, ...]) -> tuple[ParsedDn, ...]:
            out = []
            for i, dn in enumerate(dns):
                try:
                    out.append(parse_dn(dn))
                except DnError as exc:
                    problems.append(ConfigProblem(file, f"{prefix}.{key}[{i}]", str(exc)))
                    out.append(())
            return tuple(out)

        self.include = parse_all("include_ous", config.include_ous)
        self.exclude = parse_all("exclude_ous", config.exclude_ous)
        # an object whose first RDN type no base starts with can only be within a base through
        # its parent: the OU verdict can be shared by every object of one parent
        self._base_heads = frozenset(b[0][0][0] for b in self.include + self.exclude if b)
        self._ou_cache: dict[str, ScopeDecision] = {}
        groups = []
        for g, group in enumerate(config.filters):
            clauses = []
            for c, clause in enumerate(group):
                compiled = _compile_clause(f"{prefix}.filters[{g}][{c}]", clause, problems, file)
                if compiled is not None:
                    clauses.append(compiled)
            groups.append(tuple(clauses))
        self.filters = tuple(groups)
        if problems:
            raise ConfigError(problems)

    def _verdict(self, dn: ParsedDn) -> ScopeDecision:
        p = self.prefix
        for i, base in enumerate(self.exclude):
            if dn_within(dn, base):
                return ScopeDecision(False, f"{p}.exclude_ous[{i}]", f"under {self.config.exclude_ous[i]}")
        if not self.include:
            return ScopeDecision(True, f"{p}.default", "no scoping rule excludes it")
        for i, base in enumerate(self.include):
            if dn_within(dn, base):
                return ScopeDecision(True, f"{p}.include_ous[{i}]", f"under {self.config.include_ous[i]}")
        return ScopeDecision(False, f"{p}.include_ous", "under none of the included OUs")

    def _ous(self, raw: str) -> ScopeDecision:
        """The OU verdict, memoized by parent DN for plain DNs (objects of one OU share it)."""
        head, sep, parent = raw.partition(",")
        if (not sep or "\\" in raw or '"' in raw or raw.startswith("<")
                or head.partition("=")[0].strip().lower() in self._base_heads):
            return self._verdict(parse_dn(raw))
        key = parent.casefold()
        hit = self._ou_cache.get(key)
        if hit is None:
            if len(self._ou_cache) >= 4096:
                self._ou_cache.clear()
            hit = self._ou_cache[key] = self._verdict(parse_dn(parent))
        return hit

    def decide(self, obj: SourceObject, group_scope: GroupScope | None = None) -> ScopeDecision:
        p = self.prefix
        if obj.kind not in self.object_types:  # a StrEnum hashes and compares as its name
            kind = str(obj.kind) if obj.kind is not None else None
            return ScopeDecision(False, f"{p}.object_types", f"{kind} is not among {sorted(self.object_types)}")
        critical = obj.attributes.get("iscriticalsystemobject")
        if critical and critical[0].upper() == "TRUE":  # Administrator, krbtgt, Guest, ...
            return _CRITICAL
        try:
            decided = self._ous(obj.dn)
        except DnError as exc:
            return ScopeDecision(False, f"{p}.dn", str(exc))
        if not decided.in_scope:
            return decided
        if self.config.groups:
            if group_scope is None or obj.object_guid not in group_scope.members:
                return ScopeDecision(False, f"{p}.groups", "not a (nested) member of any scoping group")
            idx = group_scope.via.get(obj.object_guid, 0)
            decided = ScopeDecision(True, f"{p}.groups[{idx}]", f"(nested) member of {self.config.groups[idx]}")
        if self.filters:
            first_failure: ScopeDecision | None = None
            for g, clauses in enumerate(self.filters):
                failed = next((c for c in clauses if not c.test(obj)), None)
                if failed is None:
                    return ScopeDecision(True, f"{p}.filters[{g}]",
                                         " and ".join(c.describe() for c in clauses) or "empty group")
                if first_failure is None:
                    first_failure = ScopeDecision(False, failed.rule, f"{failed.describe()} is false")
            assert first_failure is not None
            return first_failure
        return decided

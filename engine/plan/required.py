"""Attributes a target cannot do without: a mapping that yields no value for one is a per-object
error naming the attribute and the expression (never a create the target answers with 400,
then retried from escrow for ever). Pure.

SCIM (RFC 7643): a User needs ``userName``, a Group ``displayName``; a contact is written as a
User. Entra (Graph v1.0): a user needs ``userPrincipalName``, ``displayName`` and
``mailNickname``; a group and a contact ``displayName``. Only paths the target's mapping maps are
checked (a mapping without the path is the config's choice, refused by the target if wrong).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hybridsync.engine.core.values import ObjectKind
from hybridsync.engine.mapping.expressions import MappingError
from hybridsync.engine.plan.inputs import Projector

REQUIRED: Mapping[str, tuple[str, ...]] = {"user": ("userName",), "group": ("displayName",),
                                           "contact": ("userName",)}
REQUIRED_BY_TARGET_KIND: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "entra": {"user": ("userPrincipalName", "displayName", "mailNickname"), "group": ("displayName",),
              "contact": ("displayName",)},
}

__all__ = ["REQUIRED", "REQUIRED_BY_TARGET_KIND", "missing_required"]


def _empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple)):
        return not value or all(_empty(v) for v in value)
    return False


def missing_required(target_kind: str, mapping: Projector, kind: ObjectKind, values: Mapping[str, Any],
                     ref: str, *, creating: bool) -> tuple[MappingError, ...]:
    """A ``MappingError`` per required path of ``kind`` the projection ``values`` leaves without a
    value: null or blank, or (``creating``: a create or adoption sends the whole projection)
    left out."""
    paths = REQUIRED_BY_TARGET_KIND.get(target_kind, REQUIRED).get(str(kind), ())
    rule_of = getattr(mapping, "rule", None)  # a TargetMapping's; a planner test's projector may have none
    if rule_of is None:
        return ()
    out = []
    for path in paths:
        rule = rule_of(kind, path)
        if rule is None or rule.write_only:
            continue
        if path in values:
            if not _empty(values[path]):
                continue
        elif not creating:
            continue
        out.append(MappingError(ref, path, rule.expr.text,
                                f"the target requires {path} and the mapping yields no value for it"))
    return tuple(out)

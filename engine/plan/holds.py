"""What the planner holds for an admin, besides the lifecycle table's own edges. Pure.

- **The threshold's limit** (``effective_limit``): ``[safety] delete_threshold`` access-removing
  actions per target and rolling window, or -- with ``delete_threshold_percent`` -- that percent
  of the objects hybridsync owns at the target, whichever is smaller.
- **Adoption approval** (``[matching] adopt = "approve"``): a soft match of a target object that
  is not ours yet (``match.soft.*``) is not applied but held, as a HOLD action that names the
  target object and carries the adoption's attributes; ``to_state`` is None, so no state is
  recorded for it (the foreign object stays unowned) and the delete threshold is not tripped.
  ``engine.runtime.holds`` stores it as a held ``adopt``; ``approve-adoptions`` approves it, and
  the next plan of the object adopts -- if it still matches the same target object.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hybridsync.engine.core.config import SafetyConfig
from hybridsync.engine.core.states import State
from hybridsync.engine.core.values import Action, ActionKind, ObjectKind, Reason, TargetState

ADOPT_RULE = "safety.adopt_approval"  # the reason that marks a HOLD as a pending adoption


def effective_limit(safety: SafetyConfig, owned: int | None) -> int:
    """The most access-removing actions a target may take within the window: ``delete_threshold``,
    or ``delete_threshold_percent`` of ``owned`` (rounded down) when that is smaller."""
    limit = safety.delete_threshold
    pct = safety.delete_threshold_percent
    if pct is not None and owned is not None:
        limit = min(limit, math.floor(owned * pct / 100.0 + 1e-9))
    return max(0, limit)


def limit_reason(safety: SafetyConfig, limit: int) -> str:
    """How ``limit`` came about, for the reason of a hold."""
    if safety.delete_threshold_percent is not None and limit < safety.delete_threshold:
        return f"{limit} ({safety.delete_threshold_percent:g}% of the owned objects)"
    return f"delete_threshold {limit}"


def adoption_waits(safety: SafetyConfig, reasons: tuple[Reason, ...]) -> bool:
    """An adoption an admin must approve first: ``adopt = "approve"`` and a soft match (not the
    object's own externalId, not a re-created object taking over its predecessor)."""
    return safety.adopt == "approve" and any(r.rule.startswith("match.soft.") for r in reasons)


def pending_adoption(target: str, anchor: str, kind: ObjectKind, dn: str | None, ts: TargetState | None,
                     target_id: str, attributes: Mapping[str, Any], reasons: list[Reason]) -> Action:
    """The HOLD that stands for an adoption waiting for ``approve-adoptions``."""
    return Action(kind=ActionKind.HOLD, target=target, anchor=anchor, object_kind=kind, target_id=target_id,
                  attributes=attributes, from_state=ts.state if ts is not None else State.NEW, to_state=None, dn=dn,
                  reasons=(*reasons, Reason(ADOPT_RULE, f"[matching] adopt = \"approve\": adopting target object "
                                                        f"{target_id} waits for approve-adoptions")))


def is_pending_adoption(action: Action) -> bool:
    return action.kind == ActionKind.HOLD and any(r.rule == ADOPT_RULE for r in action.reasons)


__all__ = ["ADOPT_RULE", "adoption_waits", "effective_limit", "is_pending_adoption", "limit_reason",
           "pending_adoption"]

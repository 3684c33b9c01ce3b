"""What a cycle came to, for its exit status and its log line (issue 16, 3): pure.

A target *failed* in a cycle when actions were planned for it and not one of them was done: each
was skipped (quarantined, or its lookups failed), failed or asked to retry. ``failed_targets``
names each such target with the first reason given. The exit status (``RunReport.exit_code``,
docs/interface.md) never says success for a cycle that left planned work undone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

UNDONE = frozenset({"skipped", "failed", "retry"})


def failed_targets(outcomes: Iterable[Sequence[Any]]) -> dict[str, str]:
    """target -> why, for every target with planned actions none of which was done.

    ``outcomes`` are ``(anchor, target, action, result, detail, ...)`` tuples (or ``ObjectOutcome``s)."""
    done: set[str] = set()
    why: dict[str, str] = {}
    for o in outcomes:
        target, result, detail = o[1], o[3], o[4]
        if result == "ok":
            done.add(target)
        elif result in UNDONE and target not in why:
            why[target] = str(detail or result)
    return {t: w for t, w in why.items() if t not in done}


def exit_code(*, outcomes: Iterable[Sequence[Any]], quarantined: Sequence[str], held: int,
              status: Mapping[str, str], failed: int, source_errors: Mapping[str, str]) -> int:
    """0 every planned action done; 1 some left undone or failed (or a source unread);
    3 stopped by a safety rule (a quarantined target, a held delete, an unsafe watermark)."""
    if quarantined or held or any(s == "unsafe_watermark" for s in status.values()):
        return 3
    if failed or source_errors or any(o[3] in UNDONE for o in outcomes):
        return 1
    return 0

"""``read_page``: what the engine reads for one page of a source read, answered at once.

A page's merge reads the stored objects of its anchors (``get_objects``) and, a planner step
later, its plan reads their target states (``get_target_states``, per target). On PostgreSQL
each is a round trip to the server; here they are one call (PostgreSQL: ONE statement,
postgres/reads.py), the engine keeping the target states for the plan that follows
(engine/runtime/planning.py). SQLite asks them one after the other. Same queries, same
conversions: each field equals what the single-question methods answer at that moment (the
conformance kit, ``testing/pageread.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from attrs import frozen

from hybridsync.engine.core.values import ObjectState, TargetState


@frozen
class PageRead:
    """``objects``: ``get_objects(source, anchors)``; ``target_states``: per target asked,
    ``get_target_states(target, anchors)`` (a missing anchor is absent, as there)."""

    objects: dict[str, ObjectState]
    target_states: Mapping[str, dict[str, TargetState]]


def read_page(store: Any, source: str, anchors: Iterable[str], targets: Iterable[str]) -> PageRead:
    """The single questions one after the other (the SQLite store; any store without better)."""
    anchors = list(dict.fromkeys(anchors))
    return PageRead(objects=store.get_objects(source, anchors),
                    target_states={t: store.get_target_states(t, anchors) for t in dict.fromkeys(targets)})


__all__ = ["PageRead", "read_page"]

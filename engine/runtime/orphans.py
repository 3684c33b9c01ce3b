"""A create settled from the journal after a crash, for an object the store never recorded.

A run killed after a create landed but before its page's commit leaves the target holding the
object, the journal holding the intent, and the store holding no ``ObjectState`` for it (the
page's object states were in the lost commit). Settlement records the ``TargetState`` (found by
anchor); without an ``ObjectState`` the object would then be invisible to the source side: a later
tombstone of it is dropped by ``merge`` ("an object never seen"), and a complete full read cannot
find it absent (absence is computed from the objects table). Deleted in AD before the next run, it
would stay active at the target forever (found by bench/crash_soak.py).

So settlement also records a placeholder ``ObjectState`` for the cycle's source: kind and DN from
the intent, no attributes, never seen by a full round. The next read completes it (a delta after a
lost commit re-reads the object's creation with all its attributes; a full read reads it whole),
a tombstone of it is planned as a delete, and a complete full read without it finds it vanished.
"""

from __future__ import annotations

from datetime import datetime
from hybridsync.engine.core.values import ObjectState
from hybridsync.statestore.protocol import StateStore
from hybridsync.statestore.records import Intent


def intent_source(store: StateStore, cycle_id: int | None) -> str | None:
    """The source whose cycle journaled an intent (None: unknown cycle)."""
    if cycle_id is None:
        return None
    return store.cycle_source(cycle_id)


def remember_settled_create(store: StateStore, intent: Intent, at: datetime) -> ObjectState | None:
    """Record a placeholder ObjectState for a settled create/adopt whose object the store lacks.

    Call it inside the settlement's transaction; returns the placeholder written, if any."""
    action = intent.action
    source = intent_source(store, intent.cycle_id)
    if source is None or store.get_object(source, action.anchor) is not None:
        return None
    if store.object_by_guid(source, action.anchor) is not None:
        return None
    st = ObjectState(source=source, anchor=action.anchor, object_guid=action.anchor, kind=action.object_kind,
                     dn=action.dn or "", attributes={}, members=frozenset(), usn=None, last_seen_round=0)
    store.put_object(st, at=at)
    return st

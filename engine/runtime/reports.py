"""A manager's reports follow their manager in and out of the targets (issue 20).

AD keeps ``manager`` as a link, and edits it behind the reports' back: a rename or move of the
manager rewrites the reports' value, a delete drops it, neither with a change to the report in
a delta, DirSync or USN (``tests/connectors/ad/test_samba_manager_delete.py`` shows it on
Samba). The reports' stored copies therefore keep naming the old DN; the planner resolves a
renamed manager through its DN history (``planning.PagePlanner._anchors_by_dn``). What this
module adds:

- ``drop_deleted_managers`` -- the manager trap, like the member trap of groups: a tombstoned
  object's reports lose their ``manager`` in the store, as AD dropped it (a new object later
  given the same DN is not their manager), and are planned in the same page: their target
  manager is cleared.
- ``presence_changed`` / ``reports_of`` -- a user whose target object appears or goes at a
  target (created, restored, soft-deleted, deleted: a move across the scope boundary, a scoping
  group's change, a delete, an absence) has its reports planned again in the cycle's follow-up
  round (``cycle.followup_groups``): their manager is cleared when it went, set when it came
  back. The reports come from the store's index (``StateStore.reports_of``: by the manager's DN
  and its DN history, no scan) and from the page in progress (not committed yet).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from hybridsync.engine.core.dn import manager_dn
from hybridsync.engine.core.values import ObjectState, SourceObject, TargetState
from hybridsync.engine.plan.members import stored_present
from hybridsync.engine.plan.merge import to_state
from hybridsync.statestore.protocol import StateStore

__all__ = ["drop_deleted_managers", "manager_of", "presence_changed", "reports_of"]


def manager_of(attributes: Mapping[str, object]) -> str | None:
    """The normalized DN ``attributes``' ``manager`` names (None: none, or not a DN)."""
    return manager_dn(attributes)


def _without_manager(attributes: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    return {n: v for n, v in attributes.items() if n.lower() != "manager"}


def presence_changed(prev: TargetState | None, new: TargetState) -> bool:
    """The object's target object appeared or went (what a report's manager resolves to changed)."""
    return stored_present(prev) != stored_present(new) or (prev.target_id if prev else None) != new.target_id


def reports_of(store: StateStore, source: str, managers: Iterable[ObjectState],
               page: Mapping[str, ObjectState]) -> set[str]:
    """The anchors of the live objects whose ``manager`` names one of ``managers``: stored (by
    the index, the manager's DN history included) and written by the page in progress (by the
    manager's DN in the page). A few indexed queries for all of them, never a scan."""
    managers = list(managers)
    if not managers:
        return set()
    dns = [m.dn for m in managers]  # this page's DN, maybe not stored yet (a move in this page)
    out = {a for a in store.reports_of(source, [m.anchor for m in managers], dns=dns) if a not in page}
    keys = {k for dn in dns if (k := manager_of({"manager": dn})) is not None}
    if keys:
        out.update(a for a, st in page.items() if not st.deleted and manager_of(st.attributes) in keys)
    return out


def _dns_of(store: StateStore, source: str, dead: ObjectState) -> set[str]:
    """The normalized DNs a deleted object's reports may still name: its last live DN, and a
    former DN no live object holds now (AD rewrote the reports' link to each new DN)."""
    keys = {k for k in [manager_of({"manager": dead.dn})] if k is not None}
    for dn, _ in store.dn_history(source, dead.anchor):
        k = manager_of({"manager": dn})
        if k is None or k in keys:
            continue
        if not any(o.anchor != dead.anchor for o in store.live_at_dn(source, dn)):
            keys.add(k)
    return keys


def drop_deleted_managers(store: StateStore, source: str, dead: Iterable[ObjectState],
                          merged: dict[str, SourceObject], to_store: list[ObjectState],
                          page: dict[str, ObjectState], read: Iterable[SourceObject] = ()) -> set[str]:
    """The manager trap (see the module docstring): each report of a ``dead`` object (its last
    live state) that still names it loses its ``manager`` -- in ``merged`` when it was read in
    this page, else as a new stored state added to ``merged`` to be planned; returns them. A
    report whose ``manager`` this page ``read`` (a whole object, or a delta carrying it), or
    stored with a USN above the delete's (read in an earlier page, after the delete), is left as
    read: AD gave its value after the delete (it may name a new object at the dead one's DN)."""
    dead = [d for d in dead if not d.deleted]
    if not dead:
        return set()
    current = {o.anchor for o in read if not o.partial or "manager" in o.attributes}
    keys: dict[str, int | None] = {}  # normalized DN -> the delete's USN (None: not known)
    for d in dead:
        tomb = merged.get(d.anchor)
        usn = tomb.usn if tomb is not None and tomb.deleted and tomb.usn != d.usn else None
        for k in _dns_of(store, source, d):
            keys[k] = usn if k not in keys else max(keys[k] or 0, usn or 0) or None
    gone = {d.anchor for d in dead}
    candidates = set(store.reports_of(source, gone)) | {a for a, st in page.items() if not st.deleted}
    candidates |= {a for a, o in merged.items() if not o.deleted}
    touched: set[str] = set()
    for anchor in sorted(candidates - gone - current):
        if anchor in merged:
            obj = merged[anchor]
            if obj.deleted or manager_of(obj.attributes) not in keys:
                continue
            merged[anchor] = SourceObject(anchor=obj.anchor, object_guid=obj.object_guid, kind=obj.kind, dn=obj.dn,
                                          attributes=_without_manager(obj.attributes), members=obj.members,
                                          usn=obj.usn)
            prev = next((s for s in to_store if s.anchor == anchor), None)
            to_store[:] = [s for s in to_store if s.anchor != anchor]
            to_store.append(attrs.evolve(prev, attributes=merged[anchor].attributes) if prev is not None
                            else to_state(source, merged[anchor]))
        else:
            st = page.get(anchor) or store.get_object(source, anchor)
            if st is None or st.deleted or (key := manager_of(st.attributes)) not in keys:
                continue
            if st.usn is not None and (after := keys[key]) is not None and st.usn > after:
                continue  # read after the delete (an earlier page): AD's value then, maybe a new object at the DN
            new = ObjectState(source=st.source, anchor=st.anchor, object_guid=st.object_guid, kind=st.kind, dn=st.dn,
                              attributes=_without_manager(st.attributes), members=st.members, usn=st.usn,
                              deleted=st.deleted, deleted_at=st.deleted_at, last_seen_round=st.last_seen_round)
            to_store.append(new)
            page[anchor] = new
            merged[anchor] = new.as_source_object()
        touched.add(anchor)
    return touched

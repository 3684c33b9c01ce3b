"""The planner's first phase: name every stored fact ``plan()`` will read. Pure.

Like a sans-I/O protocol core, the planner never pulls: ``questions(inp)`` says which stored
states, references and kinds the plan of ``inp`` needs and are not answered in it yet; the engine
answers them from its store in bulk and merges the answers with ``answer(inp, answers)``; then it
asks again (an answer can raise a question: a member's anchor, then that member's state) until
nothing is missing. ``plan()`` then runs over plain values only. A key answered "not stored"
is recorded as None, so it is not asked twice.

What is asked (for the deduplicated objects of ``inp``):

- per target, the ``TargetState`` of every object, every absent anchor, every member and every
  referenced object (a manager);
- ``anchor_by_guid`` for each member objectGUID of a group not in ``inp``; ``kind_by_anchor``
  for those anchors; ``members_by_guid`` for nested groups when a target flattens them -- except,
  in a page of a full read with more to come, the members of a group naming one the store does
  not know (``members.unread_members``: its member change waits for the due pass);
- ``anchor_by_dn`` for each normalized DN a reference path (``manager``) of a present object
  yields. Finding those DNs means projecting the objects, so pass ``dns=False`` once they are
  answered (the DNs depend on the objects only, which answers do not change).

Target questions (soft-match lookups) come after, from ``planner.lookups(inp)``: they need the
states answered first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs
from attrs import field, frozen

from hybridsync.engine.core.values import ObjectKind, SourceObject, TargetState
from hybridsync.engine.mapping.projection import is_reference_path
from hybridsync.engine.plan.inputs import PlanInput, References, compiled_scope, dedupe, make_context
from hybridsync.engine.plan.members import defers_members, unread_members
from hybridsync.engine.core.dn import normalize_dn

__all__ = ["Answers", "Questions", "answer", "questions"]


@frozen
class Questions:
    """Stored facts a plan needs (each set holds the keys to answer)."""

    states: Mapping[str, frozenset[str]] = field(factory=dict)  # target -> anchors
    anchor_by_guid: frozenset[str] = frozenset()  # objectGUIDs
    anchor_by_dn: frozenset[str] = frozenset()  # normalized DNs
    kind_by_anchor: frozenset[str] = frozenset()  # anchors
    members_by_guid: frozenset[str] = frozenset()  # group objectGUIDs

    def __bool__(self) -> bool:
        return bool(any(self.states.values()) or self.anchor_by_guid or self.anchor_by_dn
                    or self.kind_by_anchor or self.members_by_guid)


@frozen
class Answers:
    """The store's answers to ``Questions``: every key asked, None when nothing is stored."""

    states: Mapping[str, Mapping[str, TargetState | None]] = field(factory=dict)
    anchor_by_guid: Mapping[str, str | None] = field(factory=dict)
    anchor_by_dn: Mapping[str, str | None] = field(factory=dict)
    kind_by_anchor: Mapping[str, ObjectKind | None] = field(factory=dict)
    members_by_guid: Mapping[str, frozenset[str] | None] = field(factory=dict)


def answer(inp: PlanInput, answers: Answers) -> PlanInput:
    """``inp`` with ``answers`` merged into its plain mappings."""
    r = inp.refs
    refs = References(anchor_by_guid={**r.anchor_by_guid, **answers.anchor_by_guid},
                      anchor_by_dn={**r.anchor_by_dn, **answers.anchor_by_dn},
                      kind_by_anchor={**r.kind_by_anchor, **answers.kind_by_anchor},
                      members_by_guid={**r.members_by_guid, **answers.members_by_guid})
    targets = tuple(attrs.evolve(t, states={**t.states, **answers.states[t.config.name]})
                    if answers.states.get(t.config.name) else t for t in inp.targets)
    return attrs.evolve(inp, refs=refs, targets=targets)


def questions(inp: PlanInput, *, dns: bool = True) -> Questions:
    """The stored facts ``plan(inp)`` reads that ``inp`` does not answer yet."""
    objects = dedupe(inp.objects)
    by_guid = {o.object_guid: o for o in objects}
    refs = inp.refs
    scope = compiled_scope(inp.scope)
    present = [o for o in objects if not o.deleted and scope.decide(o, inp.group_scope).in_scope]
    anchors: set[str] = {o.anchor for o in objects} | set(inp.absent)
    guids: set[str] = set()
    kinds: set[str] = set()
    nested: set[str] = set()
    flatten = any(t.config.nested_groups == "flatten" for t in inp.targets)
    groups = present
    if defers_members(inp):  # their member changes wait for the due pass: their members' states are not read
        groups = [o for o in present if o.kind != ObjectKind.GROUP or not unread_members(o, by_guid, refs)]
    for guid in _member_guids(groups, refs, by_guid, flatten):
        obj = by_guid.get(guid)
        if obj is not None:  # in this plan: its anchor and kind are known, its state is asked above
            if flatten and obj.deleted and obj.kind == ObjectKind.GROUP and guid not in refs.members_by_guid:
                nested.add(guid)  # a deleted group's members come from the store
            continue
        if guid not in refs.anchor_by_guid:
            guids.add(guid)
            continue
        anchor = refs.anchor_by_guid[guid]
        if anchor is None:
            continue
        anchors.add(anchor)
        if anchor not in refs.kind_by_anchor:
            kinds.add(anchor)
        elif flatten and refs.kind_by_anchor[anchor] == ObjectKind.GROUP and guid not in refs.members_by_guid:
            nested.add(guid)
    wanted_dns: set[str] = set()
    if dns:
        wanted_dns = {dn for dn in _reference_dns(inp, present) if dn not in refs.anchor_by_dn}
    for dn, anchor in refs.anchor_by_dn.items():
        if anchor is not None:
            anchors.add(anchor)
    states = {t.config.name: frozenset(a for a in anchors if a not in t.states) for t in inp.targets}
    return Questions(states=states, anchor_by_guid=frozenset(guids), anchor_by_dn=frozenset(wanted_dns),
                     kind_by_anchor=frozenset(kinds), members_by_guid=frozenset(nested))


def _member_guids(objects: Iterable[SourceObject], refs: References, by_guid: Mapping[str, SourceObject],
                  flatten: bool) -> set[str]:
    """Every member objectGUID a group of ``objects`` (those in scope) may resolve to: the direct
    members, and with ``flatten`` the members of nested groups, as far as the answers so far reach."""
    out: set[str] = set()
    stack = [g for o in objects if o.kind == ObjectKind.GROUP and not o.deleted for g in (o.members or ())]
    while stack:
        guid = stack.pop()
        if guid in out:
            continue
        out.add(guid)
        if not flatten:
            continue
        obj = by_guid.get(guid)
        if obj is not None:
            if obj.kind == ObjectKind.GROUP and not obj.deleted:
                stack.extend(obj.members or ())
            elif obj.kind == ObjectKind.GROUP:
                stack.extend(refs.members_by_guid.get(guid) or ())
            continue
        stack.extend(refs.members_by_guid.get(guid) or ())
    return out


def _reference_dns(inp: PlanInput, objects: Iterable[SourceObject]) -> set[str]:
    """The normalized DNs the reference paths (``manager``) of ``objects`` (those in scope) name:
    the planner projects no other object."""
    out: set[str] = set()

    def note(dn: str) -> None:
        try:
            out.add(normalize_dn(dn))
        except ValueError:
            pass  # the planner clears nothing for an unparsable DN either: it resolves to nothing
        return None

    ctx = None
    for t in inp.targets:
        with_refs = {kind for kind in t.config.object_types
                     if any(is_reference_path(p) for p in t.mapping.paths(kind))}
        if not with_refs:
            continue
        for obj in objects:
            if obj.deleted or obj.kind is None or str(obj.kind) not in with_refs:
                continue
            if ctx is None:
                ctx = make_context(inp, note)
            t.mapping.project(obj, ctx)
    return out

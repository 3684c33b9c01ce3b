"""What a service does not keep as sent, learned from its own answers to our writes (issue 16).

Servers in the wild drop attributes they don't model (django-scim2 keeps no ``userType``, no
``title`` and no email ``type``) or compute them (its User ``displayName`` is made from the
name parts, whatever was sent). ``learn`` compares what a create, a PUT or a PATCH answered with
the resource sent, path by path, and records ``<kind>:<path>`` in ``Dialect.dropped`` (answered
without it) or ``Dialect.computed`` (answered with another value). Pure: no I/O.

The engine never loops on them (the state store remembers what was written, a second cycle
plans nothing), the conformance kit does not count them as lost (they are documented by
``describe()``), and only what the service itself answered teaches the dialect: a service that
answers "kept" and loses the value later still fails the kit.

Two uses inside the connector:

- ``typeless``: the multi-valued attributes (``emails``) whose ``type`` the service drops; a
  GET + PUT replacing ``emails[type eq "work"].value`` replaces the untyped entry the service
  answers too (else the old address stays first and the service keeps it);
- a contact is an inactive ``userType=Contact`` User: where ``userType`` is dropped, contacts
  cannot be told from users (``target.py`` refuses them, naming the fix).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hybridsync.connectors.scim import check
from hybridsync.connectors.scim.dialect import Dialect
from hybridsync.connectors.scim.prepare import PrepareError, coerce, parse_path
from hybridsync.engine.core.values import ObjectKind

IDENTITY = frozenset({"externalId", "id", "userName"})  # a service that drops these is not usable


def sent_paths(body: Mapping[str, Any], kind: ObjectKind) -> dict[str, Any]:
    """The flat paths and values of a resource body as sent."""
    return dict(check.flatten(body, kind).attributes)


def learn(dialect: Dialect, kind: ObjectKind, sent: Mapping[str, Any], answer: Any) -> dict[str, tuple[str, ...]]:
    """New ``dropped`` / ``computed`` entries from the resource ``answer`` to a write of ``sent``
    (flat path -> value); {} when the answer is no resource or teaches nothing new. Fields the
    config set are left alone."""
    if not isinstance(answer, Mapping) or not answer.get("id"):
        return {}
    return learn_flat(dialect, kind, sent, check.flatten(answer, kind).attributes)


def learn_flat(dialect: Dialect, kind: ObjectKind, sent: Mapping[str, Any],
               got: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """``learn`` from the flat attributes the service holds (a lookup after a lost answer)."""
    dropped, computed = list(dialect.dropped), list(dialect.computed)
    for path, raw in sent.items():
        if raw is None or raw == "" or raw == [] or path in IDENTITY:
            continue
        entry = f"{kind}:{path}"
        if entry in dropped or entry in computed:
            continue
        try:
            value = coerce(path, raw)
        except PrepareError:
            continue
        have = got.get(path)
        if have is None or have == "":
            dropped.append(entry)
        elif have != value:
            computed.append(entry)
    out: dict[str, tuple[str, ...]] = {}
    for name, now in (("dropped", tuple(dropped)), ("computed", tuple(computed))):
        if now != getattr(dialect, name) and dialect.sources.get(name) != "config":
            out[name] = now
    return out


def typeless(dialect: Dialect, kind: ObjectKind) -> frozenset[str]:
    """Multi-valued attributes (``emails``) whose ``type`` the service drops for ``kind``."""
    out = set()
    for path in dialect.not_kept(str(kind)):
        try:
            parsed = parse_path(path)
        except PrepareError:
            continue
        if parsed.filter and parsed.filter[0] == "type" and not parsed.urn:
            out.add(parsed.attr)
    return frozenset(out)

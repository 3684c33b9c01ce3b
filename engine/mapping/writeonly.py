"""Write-only attributes (``password``, and every path a target lists in ``write_only``): their
values are computed at apply time, sent, and never stored.

At plan time a write-only rule projects a ``WriteOnly`` value instead of its result: a ``str``
whose text is a placeholder, ``(write-only <fingerprint>)``, where the fingerprint is an
HMAC-SHA256, keyed by the state store's random salt (meta ``SALT_KEY``), of the expression and
the values of the source attributes it reads. That placeholder is what goes into plans, target
states, history, recordings, ``explain`` and snapshots, so:

- a create sends the attribute; an update sends it only when its expression's inputs change
  (the placeholder changes with them; ``RandomString`` reads nothing, so it is sent on create
  only -- an adopt leaves such a value out, ``reveal(generated=False)``);
- replay reproduces every decision: the recorded placeholder is recomputed exactly, with the
  recorded store's salt (unsalted for the cycles of a store from before the salt).

``strip`` removes write-only attributes from what a target *answers* (a server may echo them),
at any depth, before it is recorded.

``reveal`` (called by the runtime just before the target call) swaps each ``WriteOnly`` for a
``Revealed`` value: a ``str`` holding the real value, whose ``repr`` and ``placeholder`` are the
placeholder (recordings key calls by it). A bare placeholder string without its ``WriteOnly``
(an action read back from the journal after a crash) cannot be revealed and is dropped: the
attribute is not sent rather than sent as the placeholder.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

PREFIX = "(write-only "
ALWAYS = frozenset({"password"})  # SCIM's password: returned "never", write-only by definition


class WriteOnly(str):
    """A placeholder that knows how to compute the real value (``reveal()``).

    ``legacy``: the unsalted placeholder of the same expression and inputs (stores made before
    placeholders were keyed). A stored legacy placeholder compares *equal* to it, so upgrading
    re-sends nothing: the stored text stays until the attribute is next sent for a real change."""

    _compute: Callable[[], Any]
    legacy: str | None
    reads_inputs: bool  # False: a generated value (RandomString) -- set at creation only

    def __new__(cls, placeholder: str, compute: Callable[[], Any], legacy: str | None = None,
                reads_inputs: bool = True) -> WriteOnly:
        obj = super().__new__(cls, placeholder)
        obj._compute = compute
        obj.legacy = legacy
        obj.reads_inputs = reads_inputs
        return obj

    def __eq__(self, other: object) -> bool:
        return str.__eq__(self, other) or (self.legacy is not None and other == self.legacy)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = str.__hash__

    def reveal(self) -> Any:
        value = self._compute()
        if isinstance(value, str):
            return Revealed(value, str(self))
        if isinstance(value, list):
            return RevealedList(value, str(self))
        return value


class Revealed(str):
    """The real value of a write-only attribute, on its way to the target; its repr is the
    placeholder."""

    placeholder: str

    def __new__(cls, value: str, placeholder: str) -> Revealed:
        obj = super().__new__(cls, value)
        obj.placeholder = placeholder
        return obj

    def __repr__(self) -> str:
        return repr(self.placeholder)


class RevealedList(list[Any]):
    """A multi-valued write-only value on its way to the target; recordings key it by
    ``placeholder``."""

    placeholder: str

    def __init__(self, values: Iterable[Any], placeholder: str):
        super().__init__(values)
        self.placeholder = placeholder

    def __repr__(self) -> str:
        return repr(self.placeholder)


def placeholder(expression: str, inputs: Mapping[str, Any], salt: str = "") -> str:
    """``(write-only <fingerprint>)``: HMAC-SHA256 keyed by the store's ``salt`` (hex) of the
    expression and its inputs; without a salt, the unsalted SHA-256 of stores made before
    placeholders were keyed (``legacy``)."""
    material = json.dumps([expression, sorted((k, repr(v)) for k, v in inputs.items())],
                          ensure_ascii=False).encode()
    if salt:
        digest = hmac.new(bytes.fromhex(salt), material, hashlib.sha256).hexdigest()
    else:
        digest = hashlib.sha256(material).hexdigest()
    return f"{PREFIX}{digest[:16]})"


# ------------------------------------------------------------------ the store's placeholder salt

SALT_KEY = "write_only_salt"  # meta key: {"salt": hex, "from_cycle": the first cycle that used it}


def salt_for_cycle(meta: Any, cycle_id: int | None = None) -> str:
    """The salt of a store's meta value ``SALT_KEY`` (``""``: none, the legacy unsalted hash);
    for a recorded ``cycle_id`` older than the salt (a store migrated from before it), ``""``."""
    if not isinstance(meta, Mapping) or not isinstance(meta.get("salt"), str):
        return ""
    salt = str(meta["salt"])
    if not re.fullmatch(r"(?:[0-9a-f]{2})+", salt):
        return ""
    if cycle_id is not None and cycle_id < int(meta.get("from_cycle") or 0):
        return ""
    return salt


def is_placeholder(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX) and not isinstance(value, Revealed)


def reveal(attributes: Mapping[str, Any], *, generated: bool = True) -> dict[str, Any]:
    """``attributes`` ready to send: write-only values computed; placeholders that cannot be
    computed (no ``WriteOnly`` behind them) left out. ``generated=False`` (an adopt: the object
    exists already): a value that reads no input (a generated password) is left out too -- it is
    set once, at creation, never reset because a store was rebuilt."""
    out: dict[str, Any] = {}
    for path, value in attributes.items():
        if isinstance(value, WriteOnly):
            if generated or value.reads_inputs:
                out[path] = value.reveal()
        elif is_placeholder(value):
            continue
        else:
            out[path] = value
    return out


def is_write_only(path: str, configured: frozenset[str] | tuple[str, ...] = ()) -> bool:
    return path in ALWAYS or path in configured


def revealed_values(value: Any) -> list[str]:
    """Every real write-only text in ``value`` (call arguments): what a result that echoes the
    request must not carry into a record."""
    if isinstance(value, Revealed):
        return [str.__str__(value)]
    if isinstance(value, RevealedList):
        return [str(v) for v in value if isinstance(v, str)]
    if isinstance(value, Mapping):
        return [t for v in value.values() for t in revealed_values(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in revealed_values(v)]
    return []


# ------------------------------------------------------------------ stripping what a target echoes

Step = tuple[str, Any]  # (attribute name casefolded, filter: None | (attr, value) | raw text)
Steps = tuple[Step, ...]
_TOKEN = re.compile(r'([^.:\[]+)(\[[^\]]*\])?')
_EQ = re.compile(r'\[\s*([\w.$-]+)\s+eq\s+"([^"]*)"\s*\]', re.IGNORECASE)


def steps(path: str) -> tuple[Step, ...]:
    """A flattened attribute path as steps: ``urn:...:User:pin`` -> urn, ..., User, pin;
    ``emails[type eq "work"].value`` -> emails (filtered on type = work), value. Both the paths a
    target lists and the keys a connector reads are split the same way, so they compare."""
    out: list[Step] = []
    for m in _TOKEN.finditer(path):
        name, flt = m.group(1).strip().casefold(), m.group(2)
        if not name:
            continue
        eq = _EQ.fullmatch(flt) if flt else None
        out.append((name, (eq.group(1).casefold(), eq.group(2).casefold()) if eq else flt))
    return tuple(out)


def _matches(item: Any, flt: Any) -> bool:
    if not isinstance(flt, tuple):
        return True  # a filter we do not read: assume it may select this item
    if not isinstance(item, Mapping):
        return False
    attr, want = flt
    return any(str(k).casefold() == attr and str(v).casefold() == want for k, v in item.items())


def _remove(value: Any, rest: tuple[Step, ...]) -> Any:
    """``value`` without what ``rest`` points at inside it (lists: in every item)."""
    if isinstance(value, (list, tuple)):
        return [_remove(v, rest) for v in value]
    if not rest or not isinstance(value, Mapping):
        return value
    (name, flt), tail = rest[0], rest[1:]
    out: dict[str, Any] = {}
    for k, v in value.items():
        if str(k).casefold() != name:
            out[k] = v
        elif flt is None:
            if tail:
                out[k] = _remove(v, tail)
        elif isinstance(v, (list, tuple)):
            if tail:
                out[k] = [_remove(i, tail) if _matches(i, flt) else i for i in v]
            else:
                out[k] = [i for i in v if not _matches(i, flt)]
        elif tail and _matches(v, flt):
            out[k] = _remove(v, tail)
        elif tail:
            out[k] = v
    return out


def _strip_one(key: Steps, value: Any, path: tuple[Step, ...]) -> tuple[bool, Any]:
    """(drop, value) of one flattened ``key`` against one write-only ``path``."""
    for i, (name, flt) in enumerate(path):
        if i == len(key):  # the key holds the path: remove it inside the value
            return False, _remove(value, path[i:])
        kname, kflt = key[i]
        if kname != name or (flt is not None and kflt is not None and kflt != flt):
            return False, value  # another attribute, or another item of it
        if flt is not None and kflt is None:  # the key holds every item, the path some
            if i == len(key) - 1:
                return False, _remove({name: value}, path[i:]).get(name)
            return True, value  # e.g. ``emails.value`` flattened across items: drop it whole
    return True, value  # the key is the path or inside it


def strip(attributes: Mapping[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """``attributes`` (a target's read, flattened or not) without any write-only value: a key
    that is a write-only path or inside one is dropped; a key holding one (an extension schema's
    dict, a complex or multi-valued attribute) keeps the rest of its value."""
    wanted = [steps(p) for p in paths]
    out: dict[str, Any] = {}
    for k, v in attributes.items():
        key, drop = steps(str(k)), False
        for path in wanted:
            drop, v = _strip_one(key, v, path)
            if drop:
                break
        if not drop:
            out[k] = v
    return out

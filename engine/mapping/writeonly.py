"""Write-only attributes (``password``, and every path a target lists in ``write_only``): their
values are computed at apply time, sent, and never stored.

At plan time a write-only rule projects a ``WriteOnly`` value instead of its result: a ``str``
whose text is a placeholder, ``(write-only <fingerprint>)``, where the fingerprint is a hash of
the expression and the values of the source attributes it reads. That placeholder is what goes
into plans, target states, history, recordings, ``explain`` and snapshots, so:

- a create sends the attribute; an update sends it only when its expression's inputs change
  (the placeholder changes with them; ``RandomString`` reads nothing, so it is sent on create
  only);
- replay reproduces every decision: the recorded placeholder is recomputed exactly.

``reveal`` (called by the runtime just before the target call) swaps each ``WriteOnly`` for a
``Revealed`` value: a ``str`` holding the real value, whose ``repr`` and ``placeholder`` are the
placeholder (recordings key calls by it). A bare placeholder string without its ``WriteOnly``
(an action read back from the journal after a crash) cannot be revealed and is dropped: the
attribute is not sent rather than sent as the placeholder.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

PREFIX = "(write-only "
ALWAYS = frozenset({"password"})  # SCIM's password: returned "never", write-only by definition


class WriteOnly(str):
    """A placeholder that knows how to compute the real value (``reveal()``)."""

    _compute: Callable[[], Any]

    def __new__(cls, placeholder: str, compute: Callable[[], Any]) -> WriteOnly:
        obj = super().__new__(cls, placeholder)
        obj._compute = compute
        return obj

    def reveal(self) -> Any:
        value = self._compute()
        return Revealed(value, str(self)) if isinstance(value, str) else value


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


def placeholder(expression: str, inputs: Mapping[str, Any]) -> str:
    material = json.dumps([expression, sorted((k, repr(v)) for k, v in inputs.items())], ensure_ascii=False)
    return f"{PREFIX}{hashlib.sha256(material.encode()).hexdigest()[:16]})"


def is_placeholder(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX) and not isinstance(value, Revealed)


def reveal(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """``attributes`` ready to send: write-only values computed; placeholders that cannot be
    computed (no ``WriteOnly`` behind them) left out."""
    out: dict[str, Any] = {}
    for path, value in attributes.items():
        if isinstance(value, WriteOnly):
            out[path] = value.reveal()
        elif is_placeholder(value):
            continue
        else:
            out[path] = value
    return out


def is_write_only(path: str, configured: frozenset[str] | tuple[str, ...] = ()) -> bool:
    return path in ALWAYS or path in configured

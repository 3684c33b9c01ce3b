"""Redaction of secret values wherever the engine records text (history, recordings, snapshots,
exception text, log fields).

A secret can reach a record in more than its raw form: an HTTP library quotes the header it
refused (``b'Bearer abc\\n'``), ``repr`` escapes it, JSON escapes it again. ``forms`` lists every
spelling the engine checks; ``redact`` replaces each with ``[REDACTED]``.

Secrets read through ``core.config.resolve_secret`` are registered here as they are read
(``remember``), so a recording point needs no wiring to know what to look for; ``known()`` is
that set. Values shorter than 4 characters are not registered (they would redact at random).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "[REDACTED]"
MIN_LENGTH = 4

_known: set[str] = set()
_lock = threading.Lock()


def remember(value: str | None) -> None:
    """Register a secret value this process holds (called by ``resolve_secret``)."""
    if value and len(value) >= MIN_LENGTH:
        with _lock:
            _known.add(value)


def known() -> frozenset[str]:
    with _lock:
        return frozenset(_known)


def forget_all() -> None:
    """Tests only: start from no known secrets."""
    with _lock:
        _known.clear()


def forms(secret: str) -> list[str]:
    """The spellings under which ``secret`` can appear in recorded text, longest first."""
    out = {secret, secret.strip()}
    out.add(repr(secret)[1:-1])
    out.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    out.add(json.dumps(secret)[1:-1])
    out.add(repr(secret.encode("utf-8", "backslashreplace"))[2:-1])
    doubled = json.dumps(json.dumps(secret, ensure_ascii=False)[1:-1], ensure_ascii=False)[1:-1]
    out.add(doubled)
    return sorted((f for f in out if len(f) >= MIN_LENGTH), key=len, reverse=True)


def _all_forms(secrets: Iterable[str] | None) -> list[str]:
    values = set(known() if secrets is None else secrets) | (known() if secrets is not None else set())
    found: set[str] = set()
    for s in values:
        if s and len(s) >= MIN_LENGTH:
            found.update(forms(s))
    return sorted(found, key=len, reverse=True)


def redact_count(text: str, secrets: Iterable[str] | None = None) -> tuple[str, int]:
    """``text`` with every form of every secret masked, and how many were masked."""
    n = 0
    for f in _all_forms(secrets):
        if f in text:
            n += text.count(f)
            text = text.replace(f, MASK)
    return text, n


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """``text`` with every form of every secret (``secrets`` plus the known ones) masked."""
    return redact_count(text, secrets)[0]


def redact_deep(value: Any, secrets: Iterable[str] | None = None) -> tuple[Any, int]:
    """``value`` (JSON-like: dicts, lists, strings) with every string redacted, recursively."""
    if isinstance(value, str):
        return redact_count(value, secrets)
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        total = 0
        for k, v in value.items():
            out[k], n = redact_deep(v, secrets)
            total += n
        return out, total
    if isinstance(value, (list, tuple)):
        items: list[Any] = []
        total = 0
        for v in value:
            item, n = redact_deep(v, secrets)
            items.append(item)
            total += n
        return items, total
    return value, 0


def log_processor(_logger: Any, _method: str, event: Any) -> Any:
    """A structlog processor masking every known secret in an event's values. The library never
    configures logging; the CLI puts this first in its pipeline (``cli/logsetup.py``), and a host
    application may do the same."""
    if not known():
        return event
    clean, n = redact_deep(dict(event))
    return clean if n else event

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

import functools
import json
import threading
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "[REDACTED]"
MIN_LENGTH = 4

_known: frozenset[str] = frozenset()  # replaced, never changed in place: read without the lock
_lock = threading.Lock()


def remember(value: str | None) -> None:
    """Register a secret value this process holds (called by ``resolve_secret``)."""
    global _known
    if value and len(value) >= MIN_LENGTH:
        with _lock:
            _known = _known | {value}


def known() -> frozenset[str]:
    return _known


def forget_all() -> None:
    """Tests only: start from no known secrets."""
    global _known
    with _lock:
        _known = frozenset()


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


def _all_forms(secrets: Iterable[str] | None) -> tuple[str, ...]:
    values = known() if secrets is None else known() | frozenset(secrets)
    return _forms_of(values)


@functools.lru_cache(maxsize=64)
def _forms_of(values: frozenset[str]) -> tuple[str, ...]:
    """Every form of every secret in ``values``, longest first: computed once per set of secrets
    (a log event redacts each of its values; forms() is a few json.dumps per secret)."""
    found: set[str] = set()
    for s in values:
        if s and len(s) >= MIN_LENGTH:
            found.update(forms(s))
    return tuple(sorted(found, key=len, reverse=True))


def redact_count(text: str, secrets: Iterable[str] | None = None) -> tuple[str, int]:
    """``text`` with every form of every secret masked, and how many were masked. A text that
    *ends* in the first characters of a secret (at least ``MIN_LENGTH``) is masked there too:
    an error message cut to a length before it was redacted must not keep half a token."""
    n = 0
    all_forms = _all_forms(secrets)
    for f in all_forms:
        if f in text:
            n += text.count(f)
            text = text.replace(f, MASK)
    for f in all_forms:
        cut = _cut_prefix_at(text, f)
        if cut is not None:
            text, n = text[:cut] + MASK, n + 1
    return text, n


def _cut_prefix_at(text: str, secret: str) -> int | None:
    """Where ``text`` ends in a proper prefix of ``secret`` (at least MIN_LENGTH long), or None."""
    tail_start = max(0, len(text) - len(secret) + 1)
    head = secret[:MIN_LENGTH]
    i = text.find(head, tail_start)
    while i != -1:
        if secret.startswith(text[i:]):
            return i
        i = text.find(head, i + 1)
    return None


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """``text`` with every form of every secret (``secrets`` plus the known ones) masked."""
    return redact_count(text, secrets)[0]


_PLAIN = (int, float, bool, type(None))


def redact_deep(value: Any, secrets: Iterable[str] | None = None, *, objects: bool = False) -> tuple[Any, int]:
    """``value`` (JSON-like: dicts, lists, strings) with every string redacted, recursively.
    ``objects``: any other value (an exception, a URL, a config object) is looked at as the
    text it prints as, and replaced by that text, redacted, when it holds a secret."""
    if isinstance(value, str):
        return redact_count(value, secrets)
    if objects and not isinstance(value, (Mapping, list, tuple, _PLAIN)):
        text = f"{type(value).__name__}: {value}" if isinstance(value, BaseException) else str(value)
        clean, n = redact_count(text, secrets)
        return (clean, n) if n else (value, 0)
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        total = 0
        for k, v in value.items():
            out[k], n = redact_deep(v, secrets, objects=objects)
            total += n
        return out, total
    if isinstance(value, (list, tuple)):
        items: list[Any] = []
        total = 0
        for v in value:
            item, n = redact_deep(v, secrets, objects=objects)
            items.append(item)
            total += n
        return items, total
    return value, 0


def log_processor(_logger: Any, _method: str, event: Any) -> Any:
    """A structlog processor masking every known secret in an event's values -- strings, and any
    other value by the text it prints as (an exception passed as a field), and an ``exc_info``
    traceback, rendered here as ``exception``. The library never
    configures logging; the CLI puts this first in its pipeline (``cli/logsetup.py``), and a host
    application may do the same."""
    if not known():
        return event
    event = dict(event)
    exc_info = event.pop("exc_info", None)
    if exc_info:  # rendered here, so the traceback's text is redacted like every other value
        event["exception"] = _format_exception(exc_info)
    clean, _n = redact_deep(event, objects=True)
    return clean


def _format_exception(exc_info: Any) -> str:
    import sys
    import traceback

    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    elif not isinstance(exc_info, tuple):
        exc_info = sys.exc_info()
    if exc_info[0] is None:
        return ""
    return "".join(traceback.format_exception(*exc_info))

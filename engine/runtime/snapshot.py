"""Snapshots: one self-contained, versioned file for offline debugging and replay.

Format (version 1), JSON Lines, gzip-compressed when the name ends in ``.gz``:

1. a header ``{"format": "hybridsync-snapshot", "version": 1, "created_at": ...,
   "hybridsync": <version>, "config_toml": <the config file's text>, "redactions": N}``;
2. then, unchanged, the state store's own dump (``Store.dump``: its header line, then one
   ``{"t": table, "r": row}`` line per row) -- objects, target states, watermarks, the history of
   observations and decisions, the recorded source batches.

No secret: the config holds only the *names* of environment variables and files (a literal
secret is a config error), and the store holds none. As a second guard every line is scanned
for the configured secrets' current values and for password-like AD attributes, which are
removed at every depth (nested JSON in batches, calls and history included); ``redactions``
counts them (0 is expected). Compatibility promise: a reader of version N
reads every version <= N; the embedded store dump follows the store's own promise
(statestore/README.md).
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from attrs import frozen

from hybridsync.engine.core.redact import redact_count
from hybridsync.engine.mapping.writeonly import is_placeholder

FORMAT = "hybridsync-snapshot"
VERSION = 1

# AD attributes that hold credentials or their hashes: never in a snapshot, whatever happens.
PASSWORD_ATTRIBUTES = frozenset(
    a.lower()
    for a in (
        "unicodePwd", "userPassword", "dBCSPwd", "ntPwdHistory", "lmPwdHistory",
        "supplementalCredentials", "msDS-ManagedPassword", "msDS-KeyCredentialLink",
        "ms-Mcs-AdmPwd", "msLAPS-Password", "msLAPS-EncryptedPassword", "clearTextPassword",
        "initialAuthIncoming", "initialAuthOutgoing", "trustAuthIncoming", "trustAuthOutgoing",
        "currentValue", "priorValue",
        "password",  # the SCIM write-only attribute (docs/security.md)
    )
)


class SnapshotError(ValueError):
    pass


@frozen
class Snapshot:
    header: dict[str, Any]
    store: Any  # a Store loaded from the snapshot

    @property
    def config_toml(self) -> str:
        return str(self.header.get("config_toml", ""))


def _open_text(path: Path, mode: str) -> IO[str]:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.GzipFile(path, mode + "b"), encoding="utf-8")
    return open(path, mode, encoding="utf-8")


def _scrub_value(value: Any, secrets: list[str]) -> tuple[Any, int]:
    """``value`` with password-like attributes dropped and secret values redacted, at every depth:
    dicts and lists are walked, and a string holding JSON (a recorded batch, a target call, a
    history row's detail) is parsed, scrubbed and written back."""
    if isinstance(value, str):
        if value[:1] in "{[":
            try:
                data = json.loads(value)
            except ValueError:
                data = None
            if isinstance(data, (dict, list)):
                clean, n = _scrub_value(data, secrets)
                if n:
                    return json.dumps(clean, ensure_ascii=False), n
        return redact_count(value, secrets)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        total = 0
        for k, v in value.items():
            if isinstance(k, str) and k.lower() in PASSWORD_ATTRIBUTES and not is_placeholder(v):
                total += 1  # a write-only placeholder is no secret, and replay needs it
                continue
            out[k], n = _scrub_value(v, secrets)
            total += n
        return (out, total) if total else (value, 0)
    if isinstance(value, list):
        items, total = [], 0
        for v in value:
            item, n = _scrub_value(v, secrets)
            items.append(item)
            total += n
        return (items, total) if total else (value, 0)
    return value, 0


def _scrub_line(line: str, secrets: list[str]) -> tuple[str, int]:
    item = json.loads(line)
    clean, total = _scrub_value(item, secrets)
    return (json.dumps(clean, ensure_ascii=False) + "\n", total) if total else (line, 0)


@frozen
class SnapshotWritten:
    """What ``Engine.snapshot`` wrote: the file, its size and how many secret-like values it
    redacted (0 is the normal case)."""

    path: str
    size: int
    redactions: int


def write_snapshot(store: Any, out: str | Path, *, config_text: str, secrets: Iterable[str] = (),
                   version: str = "") -> int:
    """Write the snapshot; returns the number of redactions made (0 is the normal case)."""
    secrets = [s for s in secrets if s and len(s) >= 4]
    buf = io.StringIO()
    store.dump(buf)
    buf.seek(0)
    first = buf.readline()
    lines, redactions = [first], 0
    for line in buf:
        clean, n = _scrub_line(line, secrets)
        lines.append(clean)
        redactions += n
    config_clean, n = _scrub_value(config_text, secrets)
    redactions += n
    header = {"format": FORMAT, "version": VERSION, "created_at": datetime.now(UTC).isoformat(),
              "hybridsync": version, "config_toml": config_clean, "redactions": redactions}
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    with _open_text(tmp if out.suffix != ".gz" else out, "w") as fp:
        fp.write(json.dumps(header, ensure_ascii=False) + "\n")
        fp.writelines(lines)
    if out.suffix != ".gz":
        tmp.replace(out)
    return redactions


def read_snapshot(path: str | Path, *, store_path: str | Path = ":memory:") -> Snapshot:
    """Load a snapshot: its header and its store (in memory unless ``store_path`` is given)."""
    from hybridsync.statestore.store import Store

    path = Path(path)
    if not path.exists():
        raise SnapshotError(f"{path}: no such snapshot file")
    with _open_text(path, "r") as fp:
        try:
            header = json.loads(fp.readline())
        except (ValueError, OSError) as exc:
            raise SnapshotError(f"{path}: not a hybridsync snapshot ({exc})") from exc
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise SnapshotError(f"{path}: not a hybridsync snapshot")
        if int(header.get("version", 0)) > VERSION:
            raise SnapshotError(f"{path}: snapshot version {header.get('version')} is newer than this "
                                f"hybridsync reads ({VERSION})")
        store = Store.load(fp, store_path)
    return Snapshot(header=header, store=store)

"""Recording at the connector boundary, so a cycle can be replayed offline.

The engine wraps its connectors: ``RecordingSource`` keeps every batch the engine consumed and
``RecordingTarget`` every target call with its result, both tagged with the cycle that made
them. Together with the config and the cycle's clock, that is all the input the engine has:
``engine.replay`` feeds it back through the same engine code and compares the decisions.

Recorded values are plain JSON (the codecs below). Nothing secret passes here: batches carry
only the attributes the source was asked for, the connectors never put credentials in results,
and every target read is stripped of the target's write-only attributes (``password`` and its
``write_only`` paths, at any depth: ``mapping.writeonly.strip``) before it is recorded -- a
server that echoes them back does not get them into recordings, snapshots or ``explain``. The
write-only values a call sent are masked in what it answered (an error quoting the request).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from hybridsync.connectors.base import Done, Result, RetryAfter, Terminal
from hybridsync.engine.core.redact import redact
from hybridsync.engine.mapping.writeonly import ALWAYS, Revealed, RevealedList, revealed_values, strip
from hybridsync.engine.core.values import (
    Cursor,
    DcIdentity,
    ObjectKind,
    ReadMode,
    SourceBatch,
    SourceObject,
    SourceObjectError,
    TargetObject,
    cursor_from_json,
    cursor_to_json,
)

# ------------------------------------------------------------------------------ codecs


def object_to_dict(o: SourceObject) -> dict[str, Any]:
    return {
        "anchor": o.anchor,
        "guid": o.object_guid,
        "kind": str(o.kind) if o.kind else None,
        "dn": o.dn,
        "attributes": o.attributes,  # a dict of tuples: written as JSON arrays, no copy per object
        "members": sorted(o.members) if o.members is not None else None,
        "added": sorted(o.members_added),
        "removed": sorted(o.members_removed),
        "usn": o.usn,
        "deleted": o.deleted,
        "partial": o.partial,
    }


def object_from_dict(d: Mapping[str, Any]) -> SourceObject:
    return SourceObject(
        anchor=d["anchor"],
        object_guid=d["guid"],
        kind=ObjectKind(d["kind"]) if d.get("kind") else None,
        dn=d["dn"],
        attributes={k: tuple(v) for k, v in (d.get("attributes") or {}).items()},
        members=frozenset(d["members"]) if d.get("members") is not None else None,
        members_added=frozenset(d.get("added") or ()),
        members_removed=frozenset(d.get("removed") or ()),
        usn=d.get("usn"),
        deleted=bool(d.get("deleted")),
        partial=bool(d.get("partial")),
    )


def batch_to_json(b: SourceBatch) -> str:
    return json.dumps(
        {
            "objects": [object_to_dict(o) for o in b.objects],
            "cursor": cursor_to_json(b.cursor),
            "mode": str(b.mode),
            "dc": {"url": b.dc.url, "invocation_id": b.dc.invocation_id, "host": b.dc.host,
                   "highest_usn": b.dc.highest_usn},
            "errors": [{"dn": e.dn, "attribute": e.attribute, "message": e.message, "guid": e.object_guid}
                       for e in b.errors],
            "last": b.last,
            "complete": b.complete,
        },
        ensure_ascii=False,
        sort_keys=True,
    )


def batch_from_json(text: str) -> SourceBatch:
    d = json.loads(text)
    return SourceBatch(
        objects=tuple(object_from_dict(o) for o in d["objects"]),
        cursor=cursor_from_json(d["cursor"]),
        mode=ReadMode(d["mode"]),
        dc=DcIdentity(**d["dc"]),
        errors=tuple(SourceObjectError(e["dn"], e.get("attribute"), e["message"], e.get("guid"))
                     for e in d.get("errors", ())),
        last=bool(d.get("last")),
        complete=bool(d.get("complete")),
    )


def target_object_to_dict(t: TargetObject, write_only: frozenset[str] = ALWAYS) -> dict[str, Any]:
    attributes = strip(t.attributes, write_only | ALWAYS)  # never a password, at any depth
    return {"target_id": t.target_id, "kind": str(t.kind), "external_id": t.external_id,
            "attributes": attributes, "active": t.active, "etag": t.etag}


def target_object_from_dict(d: Mapping[str, Any]) -> TargetObject:
    return TargetObject(target_id=d["target_id"], kind=ObjectKind(d["kind"]), external_id=d.get("external_id"),
                        attributes=d.get("attributes") or {}, active=d.get("active"), etag=d.get("etag"))


def result_to_dict(r: Result, write_only: frozenset[str] = ALWAYS) -> dict[str, Any]:
    if isinstance(r, Done):
        return {"type": "done", "target_id": r.target_id, "etag": r.etag, "status": r.status,
                "found": [target_object_to_dict(t, write_only) for t in r.found]}
    if isinstance(r, RetryAfter):
        return {"type": "retry", "seconds": r.seconds, "why": r.why, "status": r.status}
    if isinstance(r, Terminal):
        return {"type": "terminal", "why": r.why, "status": r.status, "scim_type": r.scim_type,
                "detail": r.detail}
    raise TypeError(f"not a target result: {r!r}")


def result_from_dict(d: Mapping[str, Any]) -> Result:
    kind = d["type"]
    if kind == "done":
        return Done(target_id=d.get("target_id"), etag=d.get("etag"), status=d.get("status"),
                    found=tuple(target_object_from_dict(t) for t in d.get("found") or ()))
    if kind == "retry":
        return RetryAfter(seconds=d["seconds"], why=d["why"], status=d.get("status"))
    if kind == "terminal":
        return Terminal(why=d["why"], status=d.get("status"), scim_type=d.get("scim_type"), detail=d.get("detail"))
    raise ValueError(f"unknown recorded result type {kind!r}")


WRITE_ONLY_MARK = "(write-only)"


def mask_sent(result: Result, sent: Sequence[str]) -> Result:
    """``result`` with the write-only values a call ``sent`` (and every known secret) masked in
    its text (a target that quotes the request in an error must not get a password into
    history or ``last_error``)."""
    if isinstance(result, RetryAfter):
        return attrs.evolve(result, why=redact(result.why, sent))
    if isinstance(result, Terminal):
        return attrs.evolve(result, why=redact(result.why, sent),
                            detail=redact(result.detail, sent) if result.detail is not None else None)
    return result


def call_key(op: str, args: Sequence[Any], kwargs: Mapping[str, Any], write_only: frozenset[str] = ALWAYS) -> str:
    """A stable text key for one target call (what was asked, not when). A write-only value is
    keyed by its placeholder, never stored; one that has none (a number) by a fixed mark."""
    hidden = write_only | ALWAYS

    def plain(v: Any) -> Any:
        if isinstance(v, (Revealed, RevealedList)):
            return v.placeholder
        if isinstance(v, Mapping):
            return {str(k): (WRITE_ONLY_MARK if str(k) in hidden and x is not None
                             and not isinstance(x, (Revealed, RevealedList)) else plain(x))
                    for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))}
        if isinstance(v, (list, tuple, set, frozenset)):
            items = [plain(x) for x in v]
            return sorted(items, key=repr) if isinstance(v, (set, frozenset)) else items
        if isinstance(v, ObjectKind):
            return str(v)
        return v

    return json.dumps([op, plain(list(args)), plain(dict(kwargs))], sort_keys=True, ensure_ascii=False,
                      default=str)


# ------------------------------------------------------------------------------ wrappers


class Recorder:
    """Collects what wrapped connectors report during a cycle; the engine flushes it into the
    store inside each page's commit unit, so the recording moves with the state it explains.

    Recording is off during dry runs (a dry run writes nothing anywhere).
    """

    def __init__(self) -> None:
        self.enabled = True
        self.write_only: dict[str, frozenset[str]] = {}  # target -> its write-only paths
        self._batches: list[tuple[str, str]] = []
        self._calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def batch(self, source: str, batch: SourceBatch) -> None:
        if self.enabled:
            doc = redact(batch_to_json(batch))
            with self._lock:
                self._batches.append((source, doc))

    def call(self, target: str, op: str, key: str, result: Result, sent: Sequence[str] = ()) -> None:
        """Record one call. Its result is stripped of the target's write-only attributes, and
        ``sent`` (the write-only values the call carried) is masked wherever the answer quotes it."""
        if self.enabled:
            # each text on its own first: one cut mid-token before it got here is masked at its end
            answer = result_to_dict(mask_sent(result, sent), self.write_only.get(target, ALWAYS))
            doc = redact(json.dumps({"op": op, "key": key, "result": answer}, ensure_ascii=False))
            with self._lock:
                self._calls.append((target, doc))

    def mark(self) -> int:
        """The calls collected so far (``flush(upto=)``: the next page's calls, started before
        this page commits, stay for the next page's commit unit)."""
        with self._lock:
            return len(self._calls)

    def flush(self, store: Any, cycle_id: int | None, at: Any = None, *, upto: int | None = None) -> None:
        """Write what was collected (call inside the commit unit it belongs to); ``upto``: only
        the calls collected before that ``mark``."""
        with self._lock:
            batches, calls = self._batches, self._calls
            self._batches, self._calls = [], []
            if upto is not None:
                calls, self._calls = calls[:upto], calls[upto:]
        for source, doc in batches:
            store.record_batch(cycle_id, source, doc, at=at)
        if calls:
            store.record_calls([(cycle_id, t, doc) for t, doc in calls], at=at)

    def discard(self) -> None:
        with self._lock:
            self._batches.clear()
            self._calls.clear()


class RecordingSource:
    """A Source that reports every batch it yields to a Recorder; otherwise the inner source."""

    def __init__(self, inner: Any, recorder: Recorder, name: str):
        self.inner, self.recorder, self.name = inner, recorder, name

    def read(self, cursor: Cursor) -> Iterator[SourceBatch]:
        for batch in self.inner.read(cursor):
            self.recorder.batch(self.name, batch)
            yield batch

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)


_TARGET_OPS = ("lookup_by_anchor", "lookup_by_attribute", "create", "update", "disable", "restore", "delete",
               "add_members", "remove_members")


class RecordingTarget:
    """A Target that reports every call and its result to a Recorder. ``write_only``: the
    target's configured write-only paths (``password`` is always one), stripped from every
    object it reads back before that is recorded."""

    def __init__(self, inner: Any, recorder: Recorder, name: str, write_only: Sequence[str] = ()):
        self.inner, self.recorder, self.name = inner, recorder, name
        self.write_only = ALWAYS | frozenset(write_only)
        recorder.write_only[name] = self.write_only

    def _wrap(self, op: str) -> Callable[..., Result]:
        fn = getattr(self.inner, op)

        def call(*args: Any, **kwargs: Any) -> Result:
            result: Result = fn(*args, **kwargs)
            self._record(op, args, kwargs, result)
            return result

        return call

    def _record(self, op: str, args: Sequence[Any], kwargs: Mapping[str, Any], result: Result) -> None:
        self.recorder.call(self.name, op, call_key(op, args, kwargs, self.write_only), result,
                           sent=revealed_values([args, kwargs]))

    def create_many(self, items: Sequence[tuple[ObjectKind, str, Mapping[str, Any]]]) -> list[Result]:
        """Creates sent together (SCIM Bulk) are recorded as the single ``create`` each one
        answers for: a replay (whose target takes no bulk) asks for them one by one."""
        results: list[Result] = list(self.inner.create_many(items))
        for (kind, anchor, attributes), result in zip(items, results):
            self._record("create", (kind, anchor, attributes), {}, result)
        return results

    def list_owned(self, kind: ObjectKind) -> Iterator[TargetObject]:
        items = list(self.inner.list_owned(kind))
        self.recorder.call(self.name, "list_owned", call_key("list_owned", [kind], {}, self.write_only),
                           Done(found=tuple(items)))
        return iter(items)

    def __getattr__(self, attr: str) -> Any:
        if attr in _TARGET_OPS:
            return self._wrap(attr)
        return getattr(self.inner, attr)

"""SCIM Bulk creates (RFC 7644 §3.7): ``create_many`` sends runs of creates as ``/Bulk`` requests.

The promise is that of ``create()`` for each item, whatever the answer: an op answered 2xx with a
``location`` (or a resource ``id``) is ``Done`` exactly as a single create would be (what the
answer teaches, the contacts check, the filter probes); every other item goes through the single
``create()`` path, which adopts on 409 and looks an uncertain item up before it creates:

- an op answered 5xx or 2xx without a usable id, or missing from the answer: uncertain, then
  ``create()`` (a lookup by externalId first: never created twice);
- an op answered 4xx (409 included): ``create()`` (a 409 there is adopted when it is ours);
- the whole request failed (transport error, timeout, 5xx, 429, 413, an answer that is not a
  BulkResponse): every item uncertain, then ``create()``;
- a 400/404/405/501 to ``/Bulk`` itself: the service has no usable bulk; the dialect learns it
  (``bulk_max_operations = 0``, ``probe:bulk-refused``, logged once) and every item goes singly.

The first create of each kind goes singly (its full answer teaches the dialect what the service
keeps, ``notkept.py``; bulk answers usually carry no resource). ``bulk_size()`` says how many
creates the engine may hand over in one call (0: no bulk); a chunk is split further here so that
no request exceeds ``bulk_max_payload``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import structlog

from hybridsync.connectors.base import Done, Result, RetryAfter, Terminal
from hybridsync.connectors.scim import check, notkept, prepare
from hybridsync.connectors.scim.plumbing import ScimPlumbing
from hybridsync.connectors.scim.prepare import PrepareError, Request
from hybridsync.connectors.scim.transport import Response
from hybridsync.engine.core.config import TargetConfig
from hybridsync.engine.core.values import ObjectKind

log = structlog.get_logger(__name__)
REFUSED = (400, 404, 405, 501)  # /Bulk itself refused: the service has no usable bulk
ENVELOPE = 200  # bytes of a BulkRequest beyond its operations' data (schemas, keys, commas)
Item = tuple[ObjectKind, str, Mapping[str, Any]]


class _Op:
    __slots__ = ("index", "kind", "anchor", "attributes", "body", "bid", "size")

    def __init__(self, index: int, kind: ObjectKind, anchor: str, attributes: Mapping[str, Any],
                 body: dict[str, Any], path: str):
        self.index, self.kind, self.anchor, self.attributes, self.body = index, kind, anchor, attributes, body
        self.bid = prepare.bulk_id(kind, anchor)
        self.size = len(json.dumps(body, ensure_ascii=False).encode()) + len(path) + len(self.bid) + 60


class BulkMixin(ScimPlumbing):
    config: TargetConfig
    _uncertain: set[tuple[ObjectKind, str]]
    _problem: str | None

    if TYPE_CHECKING:  # supplied by ScimTarget and LookupMixin
        def create(self, kind: ObjectKind, anchor: str, attributes: Mapping[str, Any]) -> Result:
            ...

        def _learn(self, kind: ObjectKind, sent: Mapping[str, Any], answer: Any, *, flat: bool = False) -> None:
            ...

        def _contacts_unkeepable(self, kind: ObjectKind, what: str) -> Terminal | None:
            ...

        def _undo_create(self, kind: ObjectKind, target_id: str, what: str) -> None:
            ...

        def probe_filters(self, kind: ObjectKind, anchor: str, attributes: Mapping[str, Any], target_id: str) -> None:
            ...

    def bulk_size(self) -> int:
        """How many creates one ``create_many`` call may take to one request (0: no bulk)."""
        size = min(self.config.bulk_chunk, self.dialect.bulk_max_operations)
        return size if size >= 2 and not self._problem else 0

    def create_many(self, items: Sequence[Item]) -> list[Result]:
        """``create()`` of each item, by ``/Bulk`` where the service takes it (one result each,
        in order)."""
        results: list[Result | None] = [None] * len(items)
        ops: list[_Op] = []
        taught: set[ObjectKind] = self.__dict__.setdefault("_bulk_taught", set())
        for i, (kind, anchor, attributes) in enumerate(items):
            if not self.bulk_size() or (kind, anchor) in self._uncertain:
                continue  # singly, below
            if kind not in taught:  # the first of its kind: a full answer to learn from
                taught.add(kind)
                results[i] = self.create(kind, anchor, attributes)
                continue
            if self._contacts_unkeepable(kind, "") is not None:
                continue  # create() answers why
            sent = {k: v for k, v in attributes.items() if self.dialect.sends(k)}
            try:
                body = prepare.create_body(kind, anchor, sent, base_url=self.config.url)
            except PrepareError:
                continue  # create() answers why
            ops.append(_Op(i, kind, anchor, sent, body, self._endpoint(kind)))
        for chunk in self._chunks(ops):
            if len(chunk) < 2 or not self.bulk_size():
                continue
            for op, result in self._send(chunk):
                results[op.index] = result
        return [r if r is not None else self.create(*items[i]) for i, r in enumerate(results)]

    def _chunks(self, ops: list[_Op]) -> list[list[_Op]]:
        most, payload = self.bulk_size(), self.dialect.bulk_max_payload
        out: list[list[_Op]] = []
        size = ENVELOPE
        for op in ops:
            if not out or len(out[-1]) >= most or (payload and size + op.size > payload):
                out.append([])
                size = ENVELOPE
            out[-1].append(op)
            size += op.size
        return out

    def _send(self, chunk: list[_Op]) -> list[tuple[_Op, Result]]:
        """One /Bulk request: the ops it made (``Done``); the others are left to ``create()``."""
        what = f"bulk create of {len(chunk)}"
        body = prepare.bulk_body([(op.bid, self._endpoint(op.kind), op.body) for op in chunk])
        resp = self._exchange(Request("POST", "/Bulk", json=body), what)
        if isinstance(resp, Terminal):
            return []  # the target as a whole (misconfigured): create() says so per item
        if isinstance(resp, Response) and resp.status in REFUSED:
            with self._lock_bulk():
                if self.dialect.bulk_max_operations:
                    self._probe("bulk-refused", bulk_max_operations=0)
            return []
        whats = {op.bid: f"create {op.kind} {op.anchor}" for op in chunk}
        answers = check.bulk_results(resp.body, whats=whats) if isinstance(resp, Response) and \
            200 <= resp.status < 300 else {}
        if not answers:  # the whole request failed, or no answer to read: any op may have landed
            log.warning("scim.bulk.failed", target=self.name, operations=len(chunk),
                        status=getattr(resp, "status", None), why=getattr(resp, "why", None))
            self._uncertain.update((op.kind, op.anchor) for op in chunk)
            return []
        made: list[tuple[_Op, Result]] = []
        for op in chunk:
            result, response = answers.get(op.bid, (None, None))
            if isinstance(result, Done) and result.target_id:
                made.append((op, self._made(op, result, response)))
            elif result is None or isinstance(result, RetryAfter):  # it may exist: look it up first
                self._uncertain.add((op.kind, op.anchor))
        if len(made) < len(chunk):
            log.info("scim.bulk.singly", target=self.name, operations=len(chunk), done=len(made))
        return made

    def _made(self, op: _Op, done: Done, response: Any) -> Result:
        """What ``create()`` does after a 2xx with an id."""
        what = f"create {op.kind} {op.anchor}"
        assert done.target_id is not None
        if isinstance(response, Mapping) and response.get("id"):
            self._learn(op.kind, notkept.sent_paths(op.body, op.kind), response)
            if (refused := self._contacts_unkeepable(op.kind, what)) is not None:
                self._undo_create(op.kind, done.target_id, what)
                return refused
        self.probe_filters(op.kind, op.anchor, op.attributes, done.target_id)
        return done

    def _lock_bulk(self) -> Any:
        return self.__dict__.setdefault("_bulk_lock", threading.Lock())

"""``ScimTarget``: the SCIM 2.0 target connector (prepare -> transport -> check).

Every method returns ``Done | RetryAfter | Terminal`` and never sleeps or raises for a remote
refusal. The dialect is discovered on first contact (``discover.py``: endpoints resolved against
the base URL and each collection probed once; a 404 there makes every call a ``Terminal`` of the
whole target naming the URL), logged once, shown by
``describe()``, and corrected by safe probes on objects hybridsync manages (a refused member
removal style or a ``noTarget`` on a value-path replace switches the style and retries once; a
501/405 to PATCH switches to GET + PUT with ``If-Match``).

Idempotent create: a create whose answer was lost (transport failure, 5xx, 429) is remembered;
the next create of the same anchor looks the anchor up first. A 409 on create also looks the
anchor up: when the conflicting object is ours (same externalId) the create is ``Done``.

Members: PATCH deltas only, chunked by ``member_chunk`` (and the dialect's hard cap); one member
change is one PATCH. The connector never GETs a group's member list (except to PUT a full
resource on a service without PATCH, where there is no other way).

Bulk: ``create_many`` (``bulk.py``) sends creates as ``/Bulk`` requests where the dialect allows.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any, overload

import attrs
import httpx
import structlog

from hybridsync.connectors.base import MISCONFIGURED, Done, Result, RetryAfter, Terminal
from hybridsync.connectors.scim import check, notkept, prepare
from hybridsync.connectors.scim.bulk import BulkMixin
from hybridsync.connectors.scim.dialect import Dialect, DialectError, base_dialect, with_overrides
from hybridsync.connectors.scim.discover import discover
from hybridsync.connectors.scim.lookup import LookupMixin
from hybridsync.connectors.scim.nested import NestedMixin
from hybridsync.connectors.scim.prepare import PrepareError, Request
from hybridsync.connectors.scim.transport import Response, Transport
from hybridsync.engine.core import errors
from hybridsync.engine.core.config import TargetConfig
from hybridsync.engine.core.redact import redact
from hybridsync.engine.core.values import ObjectKind

log = structlog.get_logger(__name__)
_UNIQUE_BY_KIND = {ObjectKind.USER: "userName", ObjectKind.CONTACT: "userName", ObjectKind.GROUP: "displayName"}


class ScimTarget(BulkMixin, LookupMixin, NestedMixin):
    """A SCIM 2.0 service provider as a hybridsync target (``kind = "scim"``)."""

    kind = "scim"

    def __init__(self, config: TargetConfig, *, client: httpx.Client | None = None):
        self.name = config.name
        self.config = config
        self.call_grace = float(config.timeout)  # connectors/base.py: Target, call_grace
        try:
            self._base = with_overrides(base_dialect(config.dialect), config.dialect)
        except DialectError as exc:
            raise errors.ConfigError.single(None, f"target.{config.name}.{exc.key}", str(exc)) from None
        self._transport = Transport(config, client)
        self._dialect: Dialect | None = None
        self._lock = threading.Lock()
        self._uncertain: set[tuple[ObjectKind, str]] = set()
        self._problem: str | None = None  # misconfigured as a whole (discover.py): every call answers it

    def __repr__(self) -> str:
        return f"ScimTarget(name={self.name!r}, url={self.config.url!r})"

    # -- dialect ------------------------------------------------------------------------------

    @property
    def dialect(self) -> Dialect:
        if self._dialect is None:
            with self._lock:
                if self._dialect is None:
                    self._dialect = self._discover()
        return self._dialect

    def _discover(self) -> Dialect:
        found = discover(self._transport, self._base, self.config)
        if not found.reached:  # not cached: discover again on the next call
            return found.dialect
        self._problem = found.problem
        log.info("scim.dialect", target=self.name, **{k: v for k, v in found.dialect.to_dict().items() if k != "sources"})
        if found.problem:
            log.error("scim.misconfigured", target=self.name, problem=found.problem)
        return found.dialect

    def _probe(self, origin: str, **changes: Any) -> None:
        with self._lock:
            self._dialect = self.dialect.set(f"probe:{origin}", **changes)
        log.info("scim.dialect.probe", target=self.name, origin=origin, **changes)

    def describe(self) -> Mapping[str, Any]:
        shown = {"kind": self.kind, "url": self.config.url, **self.dialect.to_dict()}
        return {**shown, "problem": self._problem} if self._problem else shown

    # -- plumbing -----------------------------------------------------------------------------

    def _endpoint(self, kind: ObjectKind) -> str:
        return self.dialect.endpoint(prepare.resource_type_name(kind, self.config.contact_resource_type))

    def _exchange(self, request: Request, what: str) -> Response | RetryAfter | Terminal:
        if self.dialect and self._problem:
            return Terminal(f"{what}: {self._problem}", 404, MISCONFIGURED)
        wait = self._transport.wait_needed()
        if wait > 0:
            return RetryAfter(wait, f"{what}: rate limit {self.config.rate_limit}/s reached")
        try:
            return self._transport.send(request)
        except httpx.RequestError as exc:
            return self._scrub(check.transport_failure(exc, what=what))

    @overload
    def _scrub(self, result: RetryAfter) -> RetryAfter: ...
    @overload
    def _scrub(self, result: Result) -> Result: ...

    def _scrub(self, result: Result) -> Result:
        if isinstance(result, Done):
            return result
        changes: dict[str, Any] = {}
        for name in ("why", "detail"):
            text = getattr(result, name, None)
            if text and (clean := redact(text, self._transport.secrets())) != text:
                changes[name] = clean
        if changes:
            return attrs.evolve(result, **changes)
        return result

    def _fail(self, resp: Response, what: str, conflict: str | None = None) -> Result:
        return self._scrub(check.classify(resp.status, resp.headers, resp.body, what=what, conflict=conflict))

    def _patch(self, path: str, ops: list[dict[str, Any]], what: str) -> Response | RetryAfter | Terminal:
        body = prepare.patch_body(ops, self.dialect)
        resp = self._exchange(Request("PATCH", path, json=body), what)
        if isinstance(resp, Response) and 200 <= resp.status < 300 and self.dialect.patch_response == "unknown":
            self._probe("patch-answer", patch_response="resource" if resp.body else "no-content")
        return resp

    # -- writes -------------------------------------------------------------------------------

    def create(self, kind: ObjectKind, anchor: str, attributes: Mapping[str, Any]) -> Result:
        what = f"create {kind} {anchor}"
        key = (kind, anchor)
        attributes = {k: v for k, v in attributes.items() if self.dialect.sends(k)}
        try:
            body = prepare.create_body(kind, anchor, attributes, base_url=self.config.url)
        except PrepareError as exc:
            return Terminal(f"{what}: {exc}", None, "invalidValue", str(exc))
        if key in self._uncertain:  # an earlier answer was lost: it may exist already
            found = self.lookup_by_anchor(kind, anchor)
            if not isinstance(found, Done):
                return found
            if found.found:
                self._uncertain.discard(key)
                self._learn(kind, notkept.sent_paths(body, kind), found.found[0].attributes, flat=True)
                return Done(found.target_id, found.etag, found.found, 200)
        if (refused := self._contacts_unkeepable(kind, what)) is not None:
            return refused
        resp = self._exchange(Request("POST", self._endpoint(kind), json=body), what)
        if isinstance(resp, Terminal):
            return resp
        if isinstance(resp, RetryAfter) or resp.status >= 500 or resp.status == 429:
            self._uncertain.add(key)
            return resp if isinstance(resp, RetryAfter) else self._fail(resp, what)
        if 200 <= resp.status < 300:
            done = check.created(resp.status, resp.headers, resp.body, what=what)
            (self._uncertain.discard if isinstance(done, Done) else self._uncertain.add)(key)
            if isinstance(done, Done) and done.target_id:
                self._learn(kind, notkept.sent_paths(body, kind), resp.body)
                if (refused := self._contacts_unkeepable(kind, what)) is not None:
                    self._undo_create(kind, done.target_id, what)
                    return refused
                self.probe_filters(kind, anchor, attributes, done.target_id)
            return done
        if resp.status == 409:
            found = self.lookup_by_anchor(kind, anchor)
            if isinstance(found, Done) and found.found:
                self._uncertain.discard(key)
                return Done(found.target_id, found.etag, found.found, 200)
            attr = _UNIQUE_BY_KIND[kind]
            value = attributes.get(attr)
            conflict = f"{attr} {json.dumps(value, ensure_ascii=False)}" if value is not None else None
            return self._fail(resp, what, conflict)
        return self._fail(resp, what)

    def update(self, kind: ObjectKind, target_id: str, changes: Mapping[str, Any], *,
               anchor: str | None = None) -> Result:
        what = f"update {kind} {target_id}"
        changes = {k: v for k, v in changes.items() if self.dialect.sends(k)}
        if not changes and anchor is None:
            return Done(target_id)
        path = f"{self._endpoint(kind)}/{target_id}"
        tries = 2
        while tries > 0:
            tries -= 1
            if not self.dialect.patch or str(kind) in self.dialect.update_by_put:
                return self._put(kind, target_id, changes, anchor, what)
            try:
                ops = prepare.patch_operations(changes, self.dialect, anchor=anchor, base_url=self.config.url)
            except PrepareError as exc:
                return Terminal(f"{what}: {exc}", None, "invalidValue", str(exc))
            resp = self._patch(path, ops, what)
            if isinstance(resp, (RetryAfter, Terminal)):
                return resp
            if 200 <= resp.status < 300:
                self._learn(kind, changes, resp.body)
                return Done(target_id, resp.headers.get("etag"), status=resp.status)
            scim_type = check.error_of(resp.status, resp.body).scim_type
            if resp.status in (405, 501):  # members still go by PATCH: only this kind's updates by PUT
                self._probe(f"{kind}-patch-refused", update_by_put=(*self.dialect.update_by_put, str(kind)))
                tries += 1  # the switch is not a try: a 412 before it still gets its retry
                continue
            if resp.status == 400 and scim_type == "noTarget" and self.dialect.value_path_update == "replace":
                self._probe("value-path-noTarget", value_path_update="remove-add")
                continue
            if resp.status == 412:
                continue
            return self._fail(resp, what)
        assert isinstance(resp, Response)  # every try above either returned or got an answer
        return self._fail(resp, what)

    def _put(self, kind: ObjectKind, target_id: str, changes: Mapping[str, Any], anchor: str | None,
             what: str) -> Result:
        path = f"{self._endpoint(kind)}/{target_id}"
        for _ in range(2):  # 412: re-read once, then let the loop re-plan
            current = self._exchange(Request("GET", path), what)
            if isinstance(current, (RetryAfter, Terminal)):
                return current
            if not 200 <= current.status < 300:
                return self._fail(current, what)
            try:
                body = prepare.replace_body(current.body, changes, anchor=anchor, base_url=self.config.url,
                                            typeless=notkept.typeless(self.dialect, kind))
            except PrepareError as exc:
                return Terminal(f"{what}: {exc}", None, "invalidValue", str(exc))
            etag = current.headers.get("etag") or check.get_path(current.body, "meta", "version")
            headers = {"If-Match": etag} if self.dialect.etag and etag else {}
            resp = self._exchange(Request("PUT", path, json=body, headers=headers), what)
            if isinstance(resp, (RetryAfter, Terminal)):
                return resp
            if 200 <= resp.status < 300:
                self._learn(kind, changes, resp.body)
                return Done(target_id, resp.headers.get("etag"), status=resp.status)
            if resp.status != 412:
                return self._fail(resp, what)
        return RetryAfter(0.0, f"{what}: changed at the target twice while writing (412)", 412)

    # -- what the service does not keep (notkept.py) ---------------------------------------

    def _learn(self, kind: ObjectKind, sent: Mapping[str, Any], answer: Any, *, flat: bool = False) -> None:
        learn = notkept.learn_flat if flat else notkept.learn
        try:
            changes = learn(self.dialect, kind, sent, answer)
        except (TypeError, ValueError, AttributeError) as exc:  # an odd answer teaches nothing; the write stands
            log.debug("scim.dialect.unlearned", target=self.name, error=str(exc)[:200])
            return
        if changes:
            self._probe(f"{kind}-answer", **changes)

    def _contacts_unkeepable(self, kind: ObjectKind, what: str) -> Terminal | None:
        """Contacts are inactive ``userType=Contact`` Users: where the service drops ``userType``
        they would be read back as users (and a user as a contact's twin)."""
        if kind is not ObjectKind.CONTACT or self.config.contact_resource_type != "User":
            return None
        if "userType" not in self.dialect.not_kept(str(kind)):
            return None
        why = (f"{what}: target {self.name} drops a User's userType, so a contact could not be told "
               "from a user; set contact_resource_type to a resource type it has, or leave contact "
               "out of object_types")
        return Terminal(why, None, None, why)  # this object only: users still sync

    def _undo_create(self, kind: ObjectKind, target_id: str, what: str) -> None:
        """Delete the object this very create made (the answer showed it can't be kept apart)."""
        resp = self._exchange(Request("DELETE", f"{self._endpoint(kind)}/{target_id}"), what)
        log.warning("scim.create.undone", target=self.name, kind=str(kind), target_id=target_id,
                    status=getattr(resp, "status", None))

    def disable(self, kind: ObjectKind, target_id: str) -> Result:
        if kind is ObjectKind.GROUP:  # SCIM groups have no `active`
            return Done(target_id)
        return self.update(kind, target_id, {"active": False})

    def restore(self, kind: ObjectKind, target_id: str) -> Result:
        if kind is ObjectKind.GROUP:
            return Done(target_id)
        return self.update(kind, target_id, {"active": True})

    def delete(self, kind: ObjectKind, target_id: str) -> Result:
        what = f"delete {kind} {target_id}"
        resp = self._exchange(Request("DELETE", f"{self._endpoint(kind)}/{target_id}"), what)
        if isinstance(resp, (RetryAfter, Terminal)):
            return resp
        if 200 <= resp.status < 300:
            return Done(target_id, status=resp.status)
        return self._fail(resp, what)

    # -- members ------------------------------------------------------------------------------

    def add_members(self, group_id: str, members: Sequence[tuple[ObjectKind, str]]) -> Result:
        ids = self._members_sent(group_id, members)  # nested groups: only where kept (nested.py)
        return self._members("add", group_id, ids) if isinstance(ids, list) else ids

    def remove_members(self, group_id: str, members: Sequence[tuple[ObjectKind, str]]) -> Result:
        ids = self._members_sent(group_id, members)
        return self._members("remove", group_id, ids) if isinstance(ids, list) else ids

    def _members(self, op: str, group_id: str, ids: list[str]) -> Result:
        what = f"{op} members of group {group_id}"
        if not ids:
            return Done(group_id)
        if not self.dialect.patch:
            return Terminal(f"{what}: the target supports no PATCH; member deltas need it", 501)
        size = min(self.config.member_chunk, self.dialect.member_chunk_max or self.config.member_chunk)
        path = f"{self._endpoint(ObjectKind.GROUP)}/{group_id}"
        etag = None
        for chunk in prepare.chunks(ids, size):
            for attempt in range(2):
                resp = self._patch(path, prepare.member_operations(op, chunk, self.dialect), what)
                if isinstance(resp, (RetryAfter, Terminal)):
                    return resp
                if 200 <= resp.status < 300:
                    etag = resp.headers.get("etag")
                    break
                if op == "remove" and resp.status in (400, 501) and attempt == 0:
                    other = "value-array" if self.dialect.member_removal == "path-filter" else "path-filter"
                    self._probe("member-removal-refused", member_removal=other)
                    continue
                return self._fail(resp, what)
            else:
                assert isinstance(resp, Response)  # every try above either returned or got an answer
                return self._fail(resp, what)
        return Done(group_id, etag, status=resp.status)

    def close(self) -> None:
        self._transport.close()

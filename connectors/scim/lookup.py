"""Lookups and listings of ``ScimTarget`` (a mixin: the target supplies the plumbing).

A filter answer is taken as the truth only when the dialect vouches for the filter on that
attribute (``Dialect.vouches``): servers in the wild answer a filter on an attribute they don't
map, or compare case-sensitively where RFC 7643 says caseExact=false, with 200 and 0 results,
silently (issue 16). An empty answer the dialect can't vouch for falls back to a listing compared
here, and says so (``scim.lookup.unvouched``). A vouch comes from the profile, the config, or a
read-only probe on an object hybridsync just created (``probe_filters``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import structlog

from hybridsync.connectors.base import Done, Result, RetryAfter, Terminal
from hybridsync.connectors.scim import check, prepare
from hybridsync.connectors.scim.plumbing import ScimPlumbing
from hybridsync.connectors.scim.prepare import PrepareError, Request
from hybridsync.connectors.scim.transport import Response
from hybridsync.engine.core import errors
from hybridsync.engine.core.config import TargetConfig
from hybridsync.engine.core.values import ObjectKind, TargetObject

log = structlog.get_logger(__name__)


class LookupMixin(ScimPlumbing):
    config: TargetConfig

    def _fail(self, resp: Response, what: str, conflict: str | None = None) -> Result:
        raise NotImplementedError

    # -- lookups ------------------------------------------------------------------------------

    def lookup_by_anchor(self, kind: ObjectKind, anchor: str) -> Result:
        return self._find(kind, "externalId", anchor)

    def lookup_by_attribute(self, kind: ObjectKind, attribute: str, value: str) -> Result:
        return self._find(kind, attribute, value)

    def _find(self, kind: ObjectKind, attribute: str, value: str) -> Result:
        what = f"lookup {kind} {attribute}={value!r}"
        excluded = ("members",) if kind is ObjectKind.GROUP else ()
        try:
            flt = prepare.lookup_filter(attribute, value, self.dialect)
        except PrepareError as exc:
            return Terminal(f"{what}: {exc}", None, "invalidPath", str(exc))
        matches: list[TargetObject] = []
        if flt is not None:
            resp = self._exchange(Request("GET", self._endpoint(kind), prepare.search_params(flt, count=50, excluded=excluded)), what)
            if isinstance(resp, (RetryAfter, Terminal)):
                return resp
            if 200 <= resp.status < 300:
                page = check.listing(resp.status, resp.body, what)
                if isinstance(page, RetryAfter):
                    return page
                resources = page[0]
                matches = [self._flat(r, kind, attribute) for r in resources if check.matches(r, attribute, value)]
                if not matches and not self.dialect.vouches(attribute):
                    self._probe_existing(kind)  # once per kind: may vouch without a listing
                if matches or self.dialect.vouches(attribute):
                    return self._found(kind, matches)
                log.info("scim.lookup.unvouched", target=self.name, attribute=attribute,
                         why="an empty filter answer is not proof of absence here: comparing a listing")
            elif resp.status not in (400, 501):
                return self._fail(resp, what)
            else:
                self._probe("filter-refused", filter=False)  # read-only probe: page and compare
        for resource in self._pages(kind, None, what):
            if isinstance(resource, (RetryAfter, Terminal)):
                return resource
            if check.matches(resource, attribute, value):
                matches.append(self._flat(resource, kind, attribute))
        return self._found(kind, matches)

    def probe_filters(self, kind: ObjectKind, anchor: str, attributes: Mapping[str, Any], target_id: str) -> None:
        """Read-only probe on an object just created: does ``attr eq`` find it (``userName`` in
        another case, as RFC 7643 says caseExact=false)? Each attribute is probed once. A
        rate-limited target is not probed (its requests are counted): ``dialect.filter_vouched``
        in the config says what to trust there."""
        if self.config.rate_limit:
            return
        unique = "displayName" if kind is ObjectKind.GROUP else "userName"
        asks = [("externalId", anchor)]
        if isinstance(attributes.get(unique), str):
            value = str(attributes[unique])
            asks.append((unique, value.swapcase() if unique == "userName" else value))
        probed: set[str] = self.__dict__.setdefault("_filters_probed", set())
        for attribute, value in asks:
            if self.dialect.vouches(attribute) or attribute in probed or not self.dialect.filter:
                continue
            probed.add(attribute)
            try:
                flt = prepare.lookup_filter(attribute, value, self.dialect)
            except PrepareError:
                continue
            if flt is None:
                continue
            resp = self._exchange(Request("GET", self._endpoint(kind), prepare.search_params(flt, count=5)), "probe")
            if isinstance(resp, Response) and 200 <= resp.status < 300:
                if any(r.get("id") == target_id for r in check.list_page(resp.body)[0]):
                    vouched = tuple(sorted({*(self.dialect.filter_vouched or ()), attribute}))
                    self._probe(f"filter-{attribute}", filter_vouched=vouched)

    def _probe_existing(self, kind: ObjectKind) -> None:
        """The read-only probe of ``probe_filters`` on an object the target already holds (one
        ``count=1`` read, once per kind), for an engine that has created nothing yet: without it
        the first lookup after a restart compares a whole listing."""
        done: set[ObjectKind] = self.__dict__.setdefault("_existing_probed", set())
        if kind in done or self.config.rate_limit or not self.dialect.filter:
            return
        done.add(kind)
        excluded = ("members",) if kind is ObjectKind.GROUP else ()
        resp = self._exchange(Request("GET", self._endpoint(kind), prepare.search_params(None, count=1, excluded=excluded)),
                              "probe")
        if not isinstance(resp, Response) or not 200 <= resp.status < 300:
            return
        page = check.listing(resp.status, resp.body, "probe")
        if isinstance(page, RetryAfter) or not page[0]:
            return
        first = page[0][0]
        if isinstance(first.get("id"), str) and isinstance(first.get("externalId"), str) and first["externalId"]:
            self.probe_filters(kind, first["externalId"], first, first["id"])

    def _flat(self, resource: Mapping[str, Any], kind: ObjectKind, *paths: str) -> TargetObject:
        return check.flatten(resource, kind, [p for p in paths if p != "externalId"])

    def _found(self, kind: ObjectKind, matches: list[TargetObject]) -> Done:
        if kind is not ObjectKind.GROUP and self.config.contact_resource_type == "User":
            is_contact = [m.attributes.get("userType") == "Contact" for m in matches]
            matches = [m for m, c in zip(matches, is_contact) if c == (kind is ObjectKind.CONTACT)] or matches
        return Done(target_id=matches[0].target_id if matches else None,
                    etag=matches[0].etag if matches else None, found=tuple(matches))

    def _pages(self, kind: ObjectKind, flt: str | None, what: str) -> Iterator[Any]:
        count = min(self.dialect.max_results or 100, 500)
        start = 1
        excluded = ("members",) if kind is ObjectKind.GROUP else ()
        seen: set[str] = set()
        while True:
            params = prepare.search_params(flt, start_index=start, count=count, excluded=excluded)
            resp = self._exchange(Request("GET", self._endpoint(kind), params), what)
            if isinstance(resp, (RetryAfter, Terminal)):
                yield resp
                return
            if not 200 <= resp.status < 300:
                yield self._fail(resp, what)
                return
            page = check.listing(resp.status, resp.body, what)
            if isinstance(page, RetryAfter) or not check.advances(seen, page[0]):
                yield page if isinstance(page, RetryAfter) else check.untrusted(resp.status, what, "paging does not advance")
                return
            resources, total = page
            yield from resources
            start += len(resources)
            if not resources or (total is not None and start > total):
                return

    def list_owned(self, kind: ObjectKind) -> Iterator[TargetObject]:
        """Every object of ``kind`` that carries an externalId. The protocol makes this an
        iterator, which cannot carry a failure: a failed listing raises ``TargetUnavailable`` /
        ``TargetRefused`` (the engine asks ``list_objects``, which answers a result value)."""
        flt = "externalId pr" if self.dialect.supports("pr") else None
        result = self._listing(kind, flt)
        if isinstance(result, RetryAfter):
            raise errors.TargetUnavailable(result.why, where=self.name, stage="scim_list")
        if isinstance(result, Terminal):
            raise errors.TargetRefused(result.why, where=self.name, stage="scim_list")
        return (o for o in result.found if o.external_id)

    def list_objects(self, kind: ObjectKind) -> Result:
        """Every object of ``kind``, owned or not, as ``Done(found=...)``: a complete listing, so
        the engine can answer soft-match questions from it (no candidate in it means no
        candidate at all); a failed page answers its ``RetryAfter`` / ``Terminal``."""
        return self._listing(kind, None)

    def _listing(self, kind: ObjectKind, flt: str | None) -> Result:
        what = f"list {kind}"
        found: list[TargetObject] = []
        for item in self._pages(kind, flt, what):
            if isinstance(item, (RetryAfter, Terminal)):
                return item
            obj = check.flatten(item, kind)
            if kind is not ObjectKind.GROUP and self.config.contact_resource_type == "User":
                if (obj.attributes.get("userType") == "Contact") != (kind is ObjectKind.CONTACT):
                    continue
            found.append(obj)
        return Done(found=tuple(found))

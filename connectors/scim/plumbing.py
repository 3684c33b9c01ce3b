"""What ``ScimTarget`` supplies to its mixins (``LookupMixin``, ``NestedMixin``): declared once,
so each mixin names only what it needs beyond it."""

from __future__ import annotations

from typing import Any

from hybridsync.connectors.base import RetryAfter, Terminal
from hybridsync.connectors.scim.dialect import Dialect
from hybridsync.connectors.scim.prepare import Request
from hybridsync.connectors.scim.transport import Response
from hybridsync.engine.core.values import ObjectKind


class ScimPlumbing:
    name: str

    @property
    def dialect(self) -> Dialect:
        raise NotImplementedError

    def _endpoint(self, kind: ObjectKind) -> str:
        raise NotImplementedError

    def _exchange(self, request: Request, what: str) -> Response | RetryAfter | Terminal:
        raise NotImplementedError

    def _probe(self, origin: str, **changes: Any) -> None:
        raise NotImplementedError


__all__ = ["ScimPlumbing"]

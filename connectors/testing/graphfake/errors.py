"""Graph's error answer and the small response value every handler returns.

Error body shape -- ``{"error": {"code": ..., "message": ..., "innerError": {...}}}`` -- from
https://learn.microsoft.com/graph/errors ("Error resource type": code, message, innerError;
the top-level ``code`` is the one callers should branch on, ``message`` is for people).
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Mapping
from typing import Any

from attrs import field, frozen


@frozen
class Reply:
    """One HTTP answer (also one ``$batch`` item answer)."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(factory=dict)

    def with_headers(self, extra: Mapping[str, str]) -> "Reply":
        return Reply(self.status, self.body, {**self.headers, **extra})


def error_body(code: str, message: str, details: list[dict[str, str]] | None = None) -> dict[str, Any]:
    inner = {"date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
             "request-id": str(uuid.uuid4()), "client-request-id": str(uuid.uuid4())}
    err: dict[str, Any] = {"code": code, "message": message, "innerError": inner}
    if details:
        err["details"] = details
    return {"error": err}


class GraphError(Exception):
    """Raised by a rule; the server turns it into ``Reply(status, error_body(...))``."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None,
                 details: list[dict[str, str]] | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.details = details

    def reply(self) -> Reply:
        return Reply(self.status, error_body(self.code, self.message, self.details), self.headers)


def not_found(object_id: str) -> GraphError:
    # The 404 Graph's directory answers for a missing object (group-delete-members,
    # user-get, group-get): code Request_ResourceNotFound.
    return GraphError(404, "Request_ResourceNotFound",
                      f"Resource '{object_id}' does not exist or one of its queried reference-property "
                      "objects are not present.")


def bad_request(message: str, code: str = "Request_BadRequest") -> GraphError:
    return GraphError(400, code, message)

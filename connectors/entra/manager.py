"""A user's manager through Graph: a navigation property, written only through its ``$ref``.

- set: ``PUT /users/{id}/manager/$ref`` with ``{"@odata.id": "<graph_url>/users/{managerId}"}`` -> 204
  (https://learn.microsoft.com/graph/api/user-post-manager); it replaces any manager the user had;
- clear: ``DELETE /users/{id}/manager/$ref`` -> 204 (https://learn.microsoft.com/graph/api/user-delete-manager);
  a user that has no manager (404 while the user itself reads 200) is done: the end state is right;
- ``manager`` in a ``POST /users`` / ``PATCH`` body is refused by Graph ("You can assign a manager to
  a user only after it has been created"), so a create sets it in a second request. When that
  request does not succeed, the create is not reported done: the connector remembers the new
  user's id and the retried create sets the manager on it, never creating the user again;
- right after our create of either side, "does not exist" is replication lag: ``RetryAfter``;
- a manager id Graph does not know (and the user exists) is a ``Terminal`` naming the manager,
  never ``gone`` (the user is there: it must not be re-created).
"""

from __future__ import annotations

from typing import Any, Protocol

from hybridsync.connectors.base import Done, Result, RetryAfter, Terminal
from hybridsync.connectors.entra.transport import Request, Response


class Host(Protocol):
    """What the manager logic needs of ``EntraTarget``."""

    def exchange(self, request: Request, what: str) -> Response | RetryAfter | Terminal: ...

    def lagging(self, object_id: str, resp: Response, what: str) -> RetryAfter | None: ...

    def fail(self, resp: Response, what: str) -> RetryAfter | Terminal: ...

    @property
    def graph_url(self) -> str: ...


class Manager:
    def __init__(self, host: Host):
        self._host = host
        self.due: dict[str, tuple[str, str | None]] = {}  # anchor -> (created user id, manager id)

    def write(self, user_id: str, manager_id: str | None, what: str) -> Result:
        """Set (``manager_id``) or clear (None) the manager of ``user_id``."""
        host = self._host
        path = f"/users/{user_id}/manager/$ref"
        if manager_id is None:
            resp = host.exchange(Request("DELETE", path), f"{what}: clear manager")
        else:
            ref = {"@odata.id": f"{host.graph_url}/users/{manager_id}"}
            resp = host.exchange(Request("PUT", path, json=ref), f"{what}: set manager {manager_id}")
        if not isinstance(resp, Response):
            return resp
        if resp.status < 300:
            return Done(user_id, status=resp.status)
        if resp.status == 404 and manager_id is None:
            exists = self._exists(user_id, what)
            if exists is True:
                return Done(user_id, status=204)  # no manager to clear: the end state is right
            if not isinstance(exists, bool):
                return exists
        lag = host.lagging(user_id, resp, what) or (host.lagging(manager_id, resp, what) if manager_id else None)
        if lag is not None:
            return lag
        if resp.status == 404 and manager_id is not None:
            exists = self._exists(user_id, what)
            if not isinstance(exists, bool):
                return exists
            if exists:
                why = f"{what}: manager {manager_id} is not a user Graph knows"
                return Terminal(why, None, None, f"PUT {path} answered 404 for manager {manager_id}")
        return host.fail(resp, what)

    def _exists(self, user_id: str, what: str) -> bool | RetryAfter | Terminal:
        resp = self._host.exchange(Request("GET", f"/users/{user_id}", params={"$select": "id"}), what)
        if not isinstance(resp, Response):
            return resp
        if resp.status in (200, 404):
            return resp.status == 200
        return self._host.fail(resp, what)

    def after_create(self, anchor: str, user_id: str, manager_id: str | None, what: str,
                     status: int, found: Any = ()) -> Result:
        """The manager of a user just created (or restored); the create is done only with it."""
        self.due[anchor] = (user_id, manager_id)
        return self.settle(anchor, what, status, found)

    def settle(self, anchor: str, what: str, status: int = 201, found: Any = ()) -> Result:
        user_id, manager_id = self.due[anchor]
        result = self.write(user_id, manager_id, what)
        if isinstance(result, Done):
            del self.due[anchor]
            return Done(user_id, found=found, status=status)
        if isinstance(result, Terminal) and result.gone:
            del self.due[anchor]  # the user went away meanwhile: the create starts over
        return result

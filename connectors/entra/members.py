"""Member deltas through Graph (https://learn.microsoft.com/graph/api/group-post-members,
https://learn.microsoft.com/graph/api/group-delete-members, https://learn.microsoft.com/graph/json-batching).

- Adds: ``PATCH /groups/{id}`` with ``members@odata.bind``, at most 20 references (all or
  nothing), up to 20 such PATCHes in one ``$batch``: 400 member changes per HTTP request. A
  chunk refused as a whole is retried member by member (``POST .../members/$ref``): an
  already-present member (400) is done.
- Removals: ``DELETE /groups/{id}/members/{id}/$ref``, 20 per ``$batch``; a member that is not
  there (404) is done.
- Each ``$batch`` item is throttled on its own: a 429 item is ``RetryAfter`` with its own
  ``Retry-After``; the rest of the batch stands (re-sending a done change settles as done).
- Right after our create, a reference can answer "does not exist" (replication): ``RetryAfter``.
Never reads a group's member list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from hybridsync.connectors.base import Done, Result, RetryAfter, Terminal
from hybridsync.connectors.entra import check
from hybridsync.connectors.entra.transport import BATCH_MAX, Request, Response


class Host(Protocol):
    """What the members logic needs of ``EntraTarget``."""

    config: Any

    def exchange(self, request: Request, what: str) -> Response | RetryAfter | Terminal: ...

    def batch(self, requests: Sequence[Request], what: str) -> list[Response] | RetryAfter | Terminal: ...

    def lagging(self, object_id: str, resp: Response, what: str) -> RetryAfter | None: ...

    def fail(self, resp: Response, what: str) -> Result: ...

BIND_MAX = 20


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


class Members:
    def __init__(self, target: Host):
        self._t = target

    def _ref(self, member_id: str) -> str:
        return f"{self._t.config.graph_url.rstrip('/')}/directoryObjects/{member_id}"

    def add(self, group_id: str, ids: list[str]) -> Result:
        what = f"add members of group {group_id}"
        chunks = _chunks(list(dict.fromkeys(ids)), BIND_MAX)
        requests = [Request("PATCH", f"/groups/{group_id}", json={"members@odata.bind": [self._ref(m) for m in c]})
                    for c in chunks]
        return self._run(group_id, requests, chunks, what, self._add_one)

    def remove(self, group_id: str, ids: list[str]) -> Result:
        what = f"remove members of group {group_id}"
        unique = list(dict.fromkeys(ids))
        requests = [Request("DELETE", f"/groups/{group_id}/members/{m}/$ref") for m in unique]
        return self._run(group_id, requests, [[m] for m in unique], what, None)

    def _run(self, group_id: str, requests: list[Request], chunks: list[list[str]], what: str,
             one_by_one: "object") -> Result:
        retry: RetryAfter | None = None
        for start in range(0, len(requests), BATCH_MAX):
            answers = self._t.batch(requests[start:start + BATCH_MAX], what)
            if not isinstance(answers, list):
                return answers
            for resp, chunk in zip(answers, chunks[start:start + BATCH_MAX]):
                outcome = self._settle(group_id, resp, chunk, what, one_by_one)
                if isinstance(outcome, Terminal):
                    return outcome
                if isinstance(outcome, RetryAfter):
                    retry = outcome if retry is None or outcome.seconds > retry.seconds else retry
        return retry or Done(group_id)

    def _settle(self, group_id: str, resp: Response, chunk: list[str], what: str, one_by_one: "object") -> Result:
        if resp.status < 300:
            return Done(group_id)
        if resp.status == 404 and one_by_one is None:
            return Done(group_id)  # removal: not a member -> the end state is right
        if one_by_one is not None and resp.status in (400, 404):
            retry: RetryAfter | None = None
            for member in chunk:  # the chunk was refused as a whole: find the one(s) at fault
                got = self._add_one(group_id, member, what)
                if isinstance(got, Terminal):
                    return got
                if isinstance(got, RetryAfter):
                    retry = got
            return retry or Done(group_id)
        return self._t.lagging(group_id, resp, what) or self._t.fail(resp, what)

    def _add_one(self, group_id: str, member: str, what: str) -> Result:
        resp = self._t.exchange(Request("POST", f"/groups/{group_id}/members/$ref",
                                        json={"@odata.id": self._ref(member)}), what)
        if not isinstance(resp, Response):
            return resp
        if resp.status < 300 or check.is_already_member(resp.status, resp.body):
            return Done(group_id)
        lag = self._t.lagging(group_id, resp, what) or self._t.lagging(member, resp, what)
        if lag is None and check.is_not_replicated(resp.status, resp.body):
            lag = RetryAfter(2.0, f"{what}: member {member} not visible yet (replication)", 400)
        return lag or self._t.fail(resp, what)

"""``EntraTarget``: Microsoft Entra ID over Microsoft Graph v1.0 (prepare -> transport -> check).

Every method returns ``Done | RetryAfter | Terminal`` and never sleeps or raises for a refusal.

- Users carry the anchor in ``onPremisesImmutableId``; groups (which have none) in their
  ``mailNickname`` (``prepare.py``). Objects written through Graph are cloud-only.
- Idempotent create: a create whose answer was lost is remembered; the next create of the same
  anchor looks the anchor up first. A duplicate-UPN 400 looks the holder up: ours -> ``Done``;
  another object -> ``Terminal(409, "uniqueness")`` naming both sides (a *disputed* outcome).
- A deleted predecessor (deleted items, 30 days, https://learn.microsoft.com/graph/api/directory-deleteditems-restore)
  with the same anchor or UPN is restored instead of creating a duplicate.
- Replication (https://learn.microsoft.com/entra/identity-platform/howto-handle-eventual-consistency):
  a 404 by id, or a "referenced object does not exist" 400, within ``FRESH_WINDOW`` s of our own
  create is ``RetryAfter`` (bounded; never a re-create); later it is ``gone``.
- Unsupported by Graph (contacts, distribution / mail-enabled groups, proxyAddresses) is a
  ``Terminal`` whose ``scim_type`` is ``"unsupported"`` and whose ``why`` gives the reason.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

import attrs
import httpx
import structlog

from hybridsync.connectors.base import Done, Result, RetryAfter, Terminal
from hybridsync.connectors.entra import check, deleted, prepare
from hybridsync.connectors.entra.delta import Changes, Delta
from hybridsync.connectors.entra.manager import Manager
from hybridsync.connectors.entra.members import Members
from hybridsync.connectors.entra.tokens import TokenError
from hybridsync.connectors.entra.transport import Request, Response, Transport
from hybridsync.engine.core import errors
from hybridsync.engine.core.config import TargetConfig
from hybridsync.engine.core.values import ObjectKind, TargetObject

log = structlog.get_logger(__name__)
_R = TypeVar("_R", bound=RetryAfter | Terminal)
K = ObjectKind
FRESH_WINDOW = 120.0  # seconds after our create in which a 404 is replication lag
REPLICATION_RETRY = 2.0
_COLLECTION = {K.USER: "/users", K.GROUP: "/groups"}
_SELECT = {K.USER: prepare.USER_SELECT, K.GROUP: prepare.GROUP_SELECT}


class EntraTarget:
    """Microsoft Entra ID (``kind = "entra"``)."""

    kind = "entra"

    def __init__(self, config: TargetConfig, *, client: httpx.Client | None = None):
        self.name = config.name
        self.config = config
        self.call_grace = float(config.timeout)  # connectors/base.py: Target, call_grace
        self._transport = Transport(config, client)
        self.members = Members(self)
        self.manager = Manager(self)
        self.delta = Delta(self)
        self._uncertain: set[tuple[ObjectKind, str]] = set()
        self._fresh: dict[str, float] = {}
        self._deleted: dict[str, str] | None = None  # anchor or UPN (lower) -> deleted user id
        self._restoring: dict[str, str] = {}  # anchor -> restored user id not yet brought up to date

    @property
    def graph_url(self) -> str:
        return self._transport.base_url

    def __repr__(self) -> str:
        return f"EntraTarget(name={self.name!r}, graph_url={self.config.graph_url!r})"

    def describe(self) -> Mapping[str, Any]:
        return {"kind": self.kind, "graph_url": self.config.graph_url, "authority_url": self.config.authority_url,
                "tenant_id": self.config.tenant_id, "password": self.config.password_policy,
                "write_rate": self._transport.rate, "slowed_by_graph": self._transport.slowed,
                "requests_sent": self._transport.sent, "delta_links": dict(self.delta.links),
                "unsupported": ["contact (orgContact is read-only)", "distribution and mail-enabled groups",
                                "proxyAddresses (read-only)", "password hashes"]}

    # -- plumbing -----------------------------------------------------------------------------

    def exchange(self, request: Request, what: str) -> Response | RetryAfter | Terminal:
        if request.write and (wait := self._transport.wait_needed()) > 0:
            return RetryAfter(wait, f"{what}: write budget under Graph's quota reached")
        try:
            return self._transport.send(request)
        except httpx.RequestError as exc:
            return self.scrub(check.transport_failure(exc, what=what))
        except TokenError as exc:
            if exc.status is None:
                return RetryAfter(check.RETRY_5XX, f"{what}: {exc}")
            return Terminal(f"{what}: {exc}", exc.status)

    def batch(self, requests: Sequence[Request], what: str) -> list[Response] | RetryAfter | Terminal:
        if len(requests) == 1:
            one = self.exchange(requests[0], what)
            return [one] if isinstance(one, Response) else one
        if (wait := self._transport.wait_needed(len(requests))) > 0:
            return RetryAfter(wait, f"{what}: write budget under Graph's quota reached")
        try:
            got = self._transport.batch(requests)
        except httpx.RequestError as exc:
            return self.scrub(check.transport_failure(exc, what=what))
        except TokenError as exc:
            return RetryAfter(check.RETRY_5XX, f"{what}: {exc}") if exc.status is None else Terminal(str(exc), 401)
        return got if isinstance(got, list) else self.fail(got, what)

    def scrub(self, result: _R) -> _R:
        """``result`` with any credential in its texts replaced by ***."""
        for secret in self._transport.secrets():
            for name in ("why", "detail"):
                text = getattr(result, name, None)
                if text and secret in text:
                    result = attrs.evolve(result, **{name: text.replace(secret, "***")})
        return result

    def fail(self, resp: Response, what: str) -> RetryAfter | Terminal:
        return self.scrub(check.classify(resp.status, resp.headers, resp.body, what=what))

    def is_fresh(self, object_id: str) -> bool:
        at = self._fresh.get(object_id)
        return at is not None and time.monotonic() - at < FRESH_WINDOW

    def lagging(self, object_id: str, resp: Response, what: str) -> RetryAfter | None:
        if self.is_fresh(object_id) and (resp.status == 404 or check.is_not_replicated(resp.status, resp.body)):
            return RetryAfter(REPLICATION_RETRY, f"{what}: just created, not replicated yet ({resp.status})", resp.status)
        return None

    @staticmethod
    def unsupported(what: str, reason: str) -> Terminal:
        return Terminal(f"{what}: {prepare.UNSUPPORTED}", None, "unsupported", reason)

    # -- reads --------------------------------------------------------------------------------

    def lookup_by_anchor(self, kind: ObjectKind, anchor: str) -> Result:
        if kind is K.GROUP:
            return self._find(kind, "mailNickname", prepare.group_nickname(anchor))
        return self._find(kind, "onPremisesImmutableId", anchor)

    def lookup_by_attribute(self, kind: ObjectKind, attribute: str, value: str) -> Result:
        return self._find(kind, attribute, value)

    def _find(self, kind: ObjectKind, prop: str, value: str) -> Result:
        if kind not in _COLLECTION:
            return Done()  # contacts are never written here: nothing of ours to find
        what = f"lookup {kind} {prop}={value!r}"
        params = {"$filter": f"{prop} eq '{prepare.quote(value)}'", "$select": _SELECT[kind]}
        resp = self.exchange(Request("GET", _COLLECTION[kind], params=params), what)
        if not isinstance(resp, Response):
            return resp
        if resp.status != 200:
            return self.fail(resp, what)
        items = check.collection(resp.body)
        if items is None:
            return check.unreadable(what, resp.status)
        found = tuple(prepare.flatten(o, kind) for o in items)
        return Done(found[0].target_id if found else None, found=found)

    def list_objects(self, kind: ObjectKind) -> Result:
        """Every object of ``kind`` from a complete delta round (``/users/delta``,
        https://learn.microsoft.com/graph/api/user-delta); ``@removed`` entries left out."""
        if kind not in _COLLECTION:
            return Done()
        what = f"list {kind}"
        path, params = f"{_COLLECTION[kind]}/delta", {"$select": _SELECT[kind]}
        found: list[TargetObject] = []
        followed: set[str] = set()
        while True:
            resp = self.exchange(Request("GET", path, params=params), what)
            if not isinstance(resp, Response):
                return resp
            if resp.status != 200:
                return self.fail(resp, what)
            items = check.collection(resp.body, removed_ok=True)
            if items is None:
                return check.unreadable(what, resp.status)
            found += [prepare.flatten(o, kind) for o in items if "@removed" not in o]
            link = resp.body.get("@odata.nextLink")
            if link is None and isinstance(resp.body.get("@odata.deltaLink"), str):
                return Done(found=tuple(found))  # complete only once the round ends in its deltaLink
            base = self._transport.base_url
            if not isinstance(link, str) or not link.startswith(base + "/") or link in followed:
                return RetryAfter(check.RETRY_5XX, f"{what}: the delta round did not end in a deltaLink "
                                                   "(a page without a usable nextLink)", resp.status)
            followed.add(link)
            path, params = link[len(base):], {}

    def read_changes(self, kind: ObjectKind) -> Changes | RetryAfter | Terminal:
        """Objects of ``kind`` changed in the tenant since the last round (delta.py), for drift."""
        if kind not in _COLLECTION:
            return Changes()
        return self.delta.changes(kind)

    @staticmethod
    def written_value(path: str, value: Any) -> Any:
        """What this connector writes for a projected value (drift compares it with the tenant's)."""
        if path == "mailNickname" and isinstance(value, str):
            return prepare.mail_nickname(value)[0]
        return value

    def restore_profile(self, profile: Mapping[str, Any] | None) -> None:
        """Take back what an earlier run published in ``describe()`` (its delta links)."""
        self.delta.restore_links(profile)

    def list_owned(self, kind: ObjectKind) -> Iterator[TargetObject]:
        result = self.list_objects(kind)
        if isinstance(result, RetryAfter):
            raise errors.TargetUnavailable(result.why, where=self.name, stage="entra_list")
        if isinstance(result, Terminal):
            raise errors.TargetRefused(result.why, where=self.name, stage="entra_list")
        return (o for o in result.found if o.external_id)

    # -- writes -------------------------------------------------------------------------------

    def create(self, kind: ObjectKind, anchor: str, attributes: Mapping[str, Any]) -> Result:
        what = f"create {kind} {anchor}"
        if kind not in _COLLECTION:
            return self.unsupported(what, prepare.unsupported_contact())
        try:
            prepared = (prepare.user_create(anchor, attributes, self.config.password_policy) if kind is K.USER
                        else prepare.group_create(anchor, attributes))
        except prepare.Unsupported as exc:
            return self.unsupported(what, str(exc))
        for note in prepared.notes:
            log.warning("entra.value_changed", target=self.name, anchor=anchor, note=note)
        key = (kind, anchor)
        if kind is K.USER and anchor in self.manager.due:  # created; its manager is still to set
            return self.manager.settle(anchor, what)
        if key in self._uncertain:  # an earlier answer was lost: it may exist already
            found = self.lookup_by_anchor(kind, anchor)
            if not isinstance(found, Done):
                return found
            if found.found:
                self._uncertain.discard(key)
                return self._with_manager(prepared, anchor, Done(found.target_id, found=found.found, status=200), what)
        if kind is K.USER:
            restored = self._restore_predecessor(anchor, prepared.body, what)
            if restored is not None:
                return self._with_manager(prepared, anchor, restored, what)
        resp = self.exchange(Request("POST", _COLLECTION[kind], json=prepared.body), what)
        if isinstance(resp, RetryAfter) or (isinstance(resp, Response) and (resp.status >= 500 or resp.status == 429)):
            self._uncertain.add(key)
        if not isinstance(resp, Response):
            return resp
        if resp.status < 300 and (new_id := check.object_id(resp.body)) is not None:
            self._uncertain.discard(key)
            self._fresh[new_id] = time.monotonic()
            done = Done(new_id, found=(prepare.flatten(resp.body, kind),), status=resp.status)
            return self._with_manager(prepared, anchor, done, what)
        if resp.status < 300:  # accepted, but no id to show for it: it may exist now
            self._uncertain.add(key)
            return check.unreadable(what, resp.status)
        if check.is_duplicate_upn(resp.status, resp.body):
            held = self._duplicate_upn(anchor, str(prepared.body["userPrincipalName"]), what)
            return self._with_manager(prepared, anchor, held, what)
        return self.fail(resp, what)

    def _with_manager(self, prepared: prepare.Prepared, anchor: str, result: Result, what: str) -> Result:
        """``result`` of a create, once the new user's manager is set too (manager.py)."""
        if not (isinstance(result, Done) and result.target_id and prepared.manager):
            return result
        return self.manager.after_create(anchor, result.target_id, prepared.manager, what,
                                         result.status or 201, result.found)

    def _duplicate_upn(self, anchor: str, upn: str, what: str) -> Result:
        holder = self._find(K.USER, "userPrincipalName", upn)
        if not isinstance(holder, Done):
            return holder
        other = holder.found[0] if holder.found else None
        if other is not None and other.external_id == anchor:
            self._uncertain.discard((K.USER, anchor))
            return Done(other.target_id, found=holder.found, status=200)
        side = (f"Entra object {other.target_id} (onPremisesImmutableId {other.external_id!r})"
                if other else "an object Graph did not return (being replicated or soft-deleted)")
        detail = f"userPrincipalName {upn!r} is already held by {side}; AD object {anchor} wants it"
        return Terminal(f"{what}: disputed: {detail}", 409, "uniqueness", detail)

    def _restore_predecessor(self, anchor: str, body: Mapping[str, Any], what: str) -> Result | None:
        """Restore a deleted user with this anchor or UPN (and bring it up to date), or None.
        A restore whose answer was lost is remembered: the retry checks the object is live and
        goes on with the update instead of restoring (or creating) again."""
        object_id = self._restoring.get(anchor)
        live = False
        if object_id is not None:
            resp = self.exchange(Request("GET", f"/users/{object_id}", params={"$select": "id"}), what)
            if not isinstance(resp, Response):
                return resp
            live = resp.status == 200
        else:
            if self._deleted is None:
                self._deleted = deleted.load(self, what)
                if self._deleted is None:
                    return None  # deleted items unreadable: create as usual
            upn = str(body.get("userPrincipalName", "")).lower()
            object_id = self._deleted.get(anchor) or self._deleted.get(upn)
            if object_id is None:
                return None
        if not live:
            resp = self.exchange(Request("POST", f"/directory/deletedItems/{object_id}/restore"), what)
            if not isinstance(resp, Response):
                self._restoring[anchor] = object_id
                return resp
            if resp.status >= 300:
                self._restoring.pop(anchor, None)
                self._deleted = None
                return None if resp.status == 404 else self.fail(resp, what)  # 404: purged meanwhile
            log.info("entra.restored_from_deleted_items", target=self.name, anchor=anchor, target_id=object_id)
        self._deleted = None
        self._restoring[anchor] = object_id
        update = {k: v for k, v in body.items() if k != "passwordProfile"}
        patched = self.exchange(Request("PATCH", f"/users/{object_id}", json=update), what)
        if not isinstance(patched, Response):
            return patched
        if patched.status >= 300:
            return self.lagging(object_id, patched, what) or self.fail(patched, what)
        self._restoring.pop(anchor, None)
        return Done(object_id, status=200)

    def update(self, kind: ObjectKind, target_id: str, changes: Mapping[str, Any], *,
               anchor: str | None = None) -> Result:
        what = f"update {kind} {target_id}"
        if kind not in _COLLECTION:
            return self.unsupported(what, prepare.unsupported_contact())
        try:
            prepared = (prepare.user_update(changes, anchor) if kind is K.USER
                        else prepare.group_update(changes, anchor))
        except prepare.Unsupported as exc:
            return self.unsupported(what, str(exc))
        for note in prepared.notes:
            log.warning("entra.value_changed", target=self.name, target_id=target_id, note=note)
        result: Result = Done(target_id)
        if prepared.body:
            result = self._patch(kind, target_id, prepared.body, what)
        if prepared.manager_set and isinstance(result, Done):
            result = self.manager.write(target_id, prepared.manager, what)
        return result

    def _patch(self, kind: ObjectKind, target_id: str, body: Mapping[str, Any], what: str) -> Result:
        for attempt in range(2):
            resp = self.exchange(Request("PATCH", f"{_COLLECTION[kind]}/{target_id}", json=dict(body)), what)
            if not isinstance(resp, Response):
                return resp
            if resp.status < 300:
                return Done(target_id, status=resp.status)
            if resp.status == 412 and attempt == 0:
                continue
            if resp.status == 412:
                return RetryAfter(0.0, f"{what}: changed at the target twice while writing (412)", 412)
            return self.lagging(target_id, resp, what) or self.fail(resp, what)
        raise AssertionError("unreachable")

    def disable(self, kind: ObjectKind, target_id: str) -> Result:
        if kind is not K.USER:
            return Done(target_id)
        return self._patch(kind, target_id, {"accountEnabled": False}, f"disable {kind} {target_id}")

    def restore(self, kind: ObjectKind, target_id: str) -> Result:
        """Enable again; an object found in deleted items is restored from there first."""
        what = f"restore {kind} {target_id}"
        if kind not in _COLLECTION:
            return self.unsupported(what, prepare.unsupported_contact())
        if kind is K.GROUP:  # groups have no enabled flag; security groups are never soft-deleted
            return Done(target_id)
        result = self._patch(kind, target_id, {"accountEnabled": True}, what)
        if not (isinstance(result, Terminal) and result.gone):
            return result
        resp = self.exchange(Request("POST", f"/directory/deletedItems/{target_id}/restore"), what)
        if not isinstance(resp, Response):
            return resp
        if resp.status >= 300:
            return self.fail(resp, what)
        self._deleted = None
        return self._patch(kind, target_id, {"accountEnabled": True}, what)

    def delete(self, kind: ObjectKind, target_id: str) -> Result:
        what = f"delete {kind} {target_id}"
        if kind not in _COLLECTION:
            return self.unsupported(what, prepare.unsupported_contact())
        resp = self.exchange(Request("DELETE", f"{_COLLECTION[kind]}/{target_id}"), what)
        if not isinstance(resp, Response):
            return resp
        if resp.status < 300:
            self._fresh.pop(target_id, None)
            if kind is K.USER:
                self._deleted = None  # re-read deleted items before the next create
            return Done(target_id, status=resp.status)
        return self.lagging(target_id, resp, what) or self.fail(resp, what)

    # -- members ------------------------------------------------------------------------------

    def add_members(self, group_id: str, members: Sequence[tuple[ObjectKind, str]]) -> Result:
        return self.members.add(group_id, [m for _, m in members])

    def remove_members(self, group_id: str, members: Sequence[tuple[ObjectKind, str]]) -> Result:
        return self.members.remove(group_id, [m for _, m in members])

    def close(self) -> None:
        self._transport.close()

"""Discovery on first contact: the announced documents, the endpoints resolved, each probed once.

``discover`` fetches ``/ServiceProviderConfig`` and ``/ResourceTypes`` (either may be absent),
builds the dialect (``dialect.from_discovery`` resolves every ResourceType ``endpoint`` against
the base URL, RFC 7643 §6 and the shapes servers really answer), then sends one read-only
``GET <endpoint>?count=1`` per resource type the target syncs. A 404 there means every request
would go nowhere: a configuration error naming the URL (``Discovery.problem``), which the target
answers to every later call as a ``Terminal`` of the whole target (quarantine), never as "the
object no longer exists".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from attrs import frozen

from hybridsync.connectors.scim import check, prepare
from hybridsync.connectors.scim.dialect import Dialect, DialectError, from_discovery, with_overrides
from hybridsync.connectors.scim.prepare import Request
from hybridsync.connectors.scim.transport import Transport
from hybridsync.engine.core.config import TargetConfig
from hybridsync.engine.core.values import ObjectKind


@frozen
class Discovery:
    dialect: Dialect
    reached: bool  # False: nothing answered (or only 401/403): discover again on the next call
    problem: str | None = None  # the target is misconfigured as a whole (names the URL)


def _kinds(config: TargetConfig) -> list[ObjectKind]:
    return [k for k in ObjectKind if str(k) in config.object_types]


def discover(transport: Transport, base: Dialect, config: TargetConfig) -> Discovery:
    docs: list[Any] = []
    reached = False
    for path in ("/ServiceProviderConfig", "/ResourceTypes"):
        try:
            resp = transport.send(Request("GET", path))
        except httpx.RequestError:
            docs.append(None)
            continue
        reached = reached or resp.status not in (401, 403)  # refused: discover again later
        ok = 200 <= resp.status < 300 and isinstance(resp.body, Mapping)
        if not ok:
            docs.append(None)
        elif path == "/ServiceProviderConfig":
            docs.append(resp.body)
        else:
            docs.append(check.list_page(resp.body)[0] if "Resources" in resp.body else None)
    try:
        found = with_overrides(from_discovery(base, docs[0], docs[1], config.url), config.dialect)
    except DialectError as exc:
        return Discovery(with_overrides(from_discovery(base, docs[0], None), config.dialect), True,
                         f"target {config.name} misconfigured: {exc}")
    if not reached:
        return Discovery(found, False)
    problem = None
    for rt in dict.fromkeys(prepare.resource_type_name(k, config.contact_resource_type) for k in _kinds(config)):
        endpoint = found.endpoint(rt)
        try:
            resp = transport.send(Request("GET", endpoint, prepare.search_params(None, count=1)))
        except httpx.RequestError:
            continue  # unreachable is a retry, not a misconfiguration
        if resp.status == 404:
            url = transport.base_url + endpoint
            problem = (f"target {config.name} misconfigured: GET {url} answered 404 (ResourceType {rt}, "
                       f"endpoint {found.endpoints.get(rt, endpoint)!r} from {found.sources.get('endpoints', 'default')}); "
                       "check the target url")
            break
    return Discovery(found, True, problem)

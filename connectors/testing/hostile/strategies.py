"""Hypothesis strategies for hostile answers: statuses, headers and bodies a broken or malicious
server could send, 2xx garbage first (the answers a connector is most tempted to trust)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from hybridsync.connectors.testing.hostile.server import Answer

LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"

_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.text(max_size=12),
                       st.floats(allow_nan=False, allow_infinity=False))
_json = st.recursive(_json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                          st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                     max_leaves=8)
_weird_total = st.one_of(st.text(max_size=6), st.none(), st.floats(allow_nan=True), st.lists(st.integers(), max_size=2),
                         st.integers(-3, 10**9))


def _listing(resources: list[Any], total: Any, per_page: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"schemas": [LIST], "Resources": resources}
    if total is not ...:
        doc["totalResults"] = total
    if per_page is not ...:
        doc["itemsPerPage"] = per_page
    return doc


hostile_bodies = st.one_of(
    st.just(b""),
    st.just(b"<html><body>Sign in</body></html>"),
    st.binary(max_size=64),
    _json.map(lambda v: json.dumps(v).encode()),
    st.builds(_listing, st.lists(st.dictionaries(st.sampled_from(["id", "externalId", "userName"]),
                                                 st.text(max_size=6), max_size=3), max_size=3),
              st.one_of(st.just(...), _weird_total), st.one_of(st.just(...), _json_leaf))
    .map(lambda v: json.dumps(v).encode()),
    st.just(b'{"id": '),  # truncated JSON
    st.just(b'{"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "400", '
            b'"detail": "rejected {{authorization}}"}'),  # echoes the credentials
    st.just(b'{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x"}'),  # no id
    # OData (Microsoft Graph) shapes: collections with odd items and paging links, an error that
    # echoes the credentials, an object without an id, a $batch answer with odd items
    st.builds(lambda items, link: json.dumps({"value": items, **link}).encode(),
              st.lists(st.dictionaries(st.sampled_from(["id", "userPrincipalName", "onPremisesImmutableId",
                                                         "@removed"]),
                                       st.one_of(st.text(max_size=6), st.none(), st.integers()), max_size=3),
                       max_size=3),
              st.sampled_from([{}, {"@odata.nextLink": "{{base}}/users/delta?$skiptoken=loop"},
                               {"@odata.nextLink": "http://127.0.0.1:9/v1.0/users/delta"},
                               {"@odata.nextLink": 7}, {"@odata.deltaLink": "{{base}}/users/delta?$deltatoken=1"},
                               {"@odata.deltaLink": None}])),
    st.just(b'{"error": {"code": "Request_BadRequest", "message": "rejected {{authorization}}"}}'),
    st.just(b'{"userPrincipalName": "x@corp.example", "id": ""}'),
    st.builds(lambda items: json.dumps({"responses": items}).encode(),
              st.lists(st.dictionaries(st.sampled_from(["id", "status", "headers", "body"]), _json_leaf, max_size=4),
                       max_size=3)),
)
"""Bodies: empty, HTML, bytes, random JSON, listings with odd paging (SCIM and OData), truncated
JSON, a resource without an id, errors that quote the credentials, odd ``$batch`` answers."""

_header_value = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20)
_headers = st.dictionaries(st.sampled_from(["Content-Type", "ETag", "Retry-After", "Location", "X-Junk"]),
                           _header_value, max_size=3)

garbage_2xx = st.builds(Answer, status=st.sampled_from([200, 201, 204]), headers=_headers, body=hostile_bodies)
"""2xx answers whose body proves nothing."""

answers = st.one_of(
    garbage_2xx,
    st.builds(Answer, status=st.sampled_from([301, 302, 400, 401, 404, 409, 412, 429, 500, 502, 503]),
              headers=_headers, body=hostile_bodies),
    st.builds(Answer, status=st.just(200), body=hostile_bodies, drip=st.just(0.05)),
    st.builds(Answer, status=st.just(200), stall=st.just(5.0)),
    st.builds(Answer, status=st.sampled_from([200, 500]), filler=st.just(32 * 1024 * 1024)),
    st.builds(Answer, status=st.just(200), body=st.just(b"{}"), content_length=st.integers(3, 100)),
)
"""Any hostile answer: garbage 2xx, errors with odd bodies, drip-feed, stall, oversize, a lying
Content-Length."""

"""Issue 15, finding 7: 2xx answers are checked, not trusted. Garbage is an uncertain failure:
never "not found", never an empty listing, never provisioned without an id."""

from __future__ import annotations

import json
import threading
from urllib.parse import parse_qs, urlsplit

import pytest

from hybridsync.connectors.base import Done, RetryAfter
from hybridsync.connectors.scim import ScimTarget
from hybridsync.connectors.testing.hostile import Answer, HostileServer, Seen
from hybridsync.engine.core.config import TargetConfig
from hybridsync.engine.core.values import ObjectKind

K = ObjectKind
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
HTML = Answer(200, {"Content-Type": "text/html"}, b"<html><body>Please sign in</body></html>")


def user(i: int) -> dict:
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": f"u{i}", "externalId": f"a{i}",
            "userName": f"u{i}@corp.example"}


def serve(fn):
    def script(seen: Seen) -> Answer:
        if seen.path.split("?")[0].endswith(("/ServiceProviderConfig", "/ResourceTypes")):
            return Answer(404)
        return fn(seen)
    return script


def target_for(server: HostileServer) -> ScimTarget:
    return ScimTarget(TargetConfig(name="hostile", url=server.url, auth="none", timeout=2.0))


def in_time(fn, seconds: float = 10.0):
    out: list = []
    t = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    t.start()
    t.join(seconds)
    assert out, f"did not end within {seconds}s"
    return out[0]


@pytest.mark.parametrize("answer", [HTML, Answer(200, body=b""), Answer(204), Answer.json(200, ["a"]),
                                    Answer.json(200, {"schemas": [LIST], "totalResults": 3})],
                         ids=["html", "empty", "204", "array", "total-without-resources"])
def test_a_lookup_answered_with_garbage_is_uncertain_not_not_found(answer):
    with HostileServer(serve(lambda s: answer)) as server:
        target = target_for(server)
        found = target.lookup_by_anchor(K.USER, "a1")
        by_attr = target.lookup_by_attribute(K.USER, "userName", "u1@corp.example")
        target.close()
    assert isinstance(found, RetryAfter) and isinstance(by_attr, RetryAfter), (found, by_attr)


@pytest.mark.parametrize("answer", [HTML, Answer.json(200, {"schemas": [LIST], "totalResults": "many",
                                                             "Resources": [user(1)]}),
                                    Answer.json(200, {"schemas": [LIST], "totalResults": [1],
                                                      "Resources": [user(1)]}),
                                    Answer.json(200, {"schemas": [LIST], "Resources": [{"userName": "no id"}]})],
                         ids=["html", "total-text", "total-list", "resource-without-id"])
def test_a_listing_that_cannot_be_trusted_is_never_an_empty_target(answer):
    with HostileServer(serve(lambda s: answer)) as server:
        target = target_for(server)
        listed = in_time(lambda: target.list_objects(K.USER))
        target.close()
    assert isinstance(listed, RetryAfter), listed


def test_a_listing_whose_paging_never_advances_ends_uncertain():
    page = Answer.json(200, {"schemas": [LIST], "itemsPerPage": 2, "Resources": [user(1), user(2)]})
    with HostileServer(serve(lambda s: page)) as server:  # ignores startIndex, no totalResults
        target = target_for(server)
        listed = in_time(lambda: target.list_objects(K.USER))
        target.close()
    assert isinstance(listed, RetryAfter), listed


def test_a_listing_that_pages_properly_still_lists_everything():
    everyone = [user(i) for i in range(1, 6)]

    def page(seen: Seen) -> Answer:
        q = parse_qs(urlsplit(seen.path).query)
        start, count = int(q.get("startIndex", ["1"])[0]), 2
        return Answer.json(200, {"schemas": [LIST], "totalResults": 5, "Resources": everyone[start - 1:start - 1 + count]})

    with HostileServer(serve(page)) as server:
        target = target_for(server)
        listed = in_time(lambda: target.list_objects(K.USER))
        target.close()
    assert isinstance(listed, Done) and {o.target_id for o in listed.found} == {f"u{i}" for i in range(1, 6)}


@pytest.mark.parametrize("answer", [Answer.json(201, {"userName": "u1@corp.example"}), Answer(201), HTML,
                                    Answer.json(201, {"id": None}), Answer.json(201, {"id": ""})],
                         ids=["no-id", "empty", "html", "null-id", "blank-id"])
def test_a_create_without_an_id_is_uncertain_and_settled_by_lookup(answer):
    posts: list[Seen] = []

    def script(seen: Seen) -> Answer:
        if seen.method == "POST":
            posts.append(seen)
            return answer
        if "filter" in seen.path and posts:  # the server did create it
            return Answer.json(200, {"schemas": [LIST], "totalResults": 1, "Resources": [user(1)]})
        return Answer.json(200, {"schemas": [LIST], "totalResults": 0, "Resources": []})

    with HostileServer(serve(script)) as server:
        target = target_for(server)
        first = target.create(K.USER, "a1", {"userName": "u1@corp.example"})
        second = target.create(K.USER, "a1", {"userName": "u1@corp.example"})
        target.close()
    assert isinstance(first, RetryAfter), first
    assert isinstance(second, Done) and second.target_id == "u1"
    assert len(posts) == 1  # no duplicate

"""POST /$batch (json-batching)."""

from .conftest import error_code, make_group, make_user, ref, user_body

JSON = {"Content-Type": "application/json"}


def test_batch_answers_each_item_on_its_own(graph):
    r = graph.post("/$batch", json={"requests": [
        {"id": "1", "method": "POST", "url": "/users", "body": user_body("ada"), "headers": JSON},
        {"id": "2", "method": "POST", "url": "/users", "body": user_body("ada"), "headers": JSON},  # duplicate UPN
        {"id": "3", "method": "GET", "url": "/users?$filter=mailNickname eq 'ada'"},
    ]})
    assert r.status_code == 200
    by_id = {item["id"]: item for item in r.json()["responses"]}
    assert by_id["1"]["status"] == 201 and by_id["1"]["body"]["userPrincipalName"].startswith("ada@")
    assert by_id["2"]["status"] == 400 and by_id["2"]["body"]["error"]["code"] == "Request_BadRequest"
    assert by_id["3"]["status"] == 200 and len(by_id["3"]["body"]["value"]) == 1


def test_batch_of_more_than_20_requests_is_400(graph):
    requests = [{"id": str(i), "method": "GET", "url": "/users"} for i in range(21)]
    r = graph.post("/$batch", json={"requests": requests})
    assert r.status_code == 400 and error_code(r) == "BadRequest"


def test_batch_of_20_requests_is_accepted(graph):
    requests = [{"id": str(i), "method": "GET", "url": "/users"} for i in range(20)]
    assert len(graph.post("/$batch", json={"requests": requests}).json()["responses"]) == 20


def test_batch_request_ids_must_be_unique(graph):
    r = graph.post("/$batch", json={"requests": [{"id": "1", "method": "GET", "url": "/users"}] * 2})
    assert r.status_code == 400 and error_code(r) == "BadRequest"


def test_batch_item_with_a_body_needs_a_content_type_header(graph):
    r = graph.post("/$batch", json={"requests": [{"id": "1", "method": "POST", "url": "/users", "body": user_body()}]})
    assert r.status_code == 400 and error_code(r) == "BadRequest"


def test_batch_forced_item_429_carries_its_own_retry_after(graph, fake):
    fake.force_batch_throttle(1)
    fake.configure(batch_retry_after=7)
    r = graph.post("/$batch", json={"requests": [
        {"id": "a", "method": "POST", "url": "/users", "body": user_body("ada"), "headers": JSON},
        {"id": "b", "method": "POST", "url": "/users", "body": user_body("bob"), "headers": JSON},
    ]})
    assert r.status_code == 200
    a, b = r.json()["responses"]
    assert a["status"] == 429 and a["headers"]["Retry-After"] == "7" and a["body"]["error"]["code"] == "TooManyRequests"
    assert b["status"] == 201
    assert [u["mailNickname"] for u in fake.backdoor.users()] == ["bob"]


def test_batch_item_depending_on_a_failed_item_is_424(graph):
    gid = make_group(graph)["id"]
    r = graph.post("/$batch", json={"requests": [
        {"id": "1", "method": "POST", "url": "/users", "body": {"displayName": "x"}, "headers": JSON},
        {"id": "2", "dependsOn": ["1"], "method": "PATCH", "url": f"/groups/{gid}",
         "body": {"description": "x"}, "headers": JSON},
    ]})
    statuses = {i["id"]: i["status"] for i in r.json()["responses"]}
    assert statuses == {"1": 400, "2": 424}


def test_batch_membership_items_use_the_same_rules(graph, fake):
    uid, gid = make_user(graph)["id"], make_group(graph)["id"]
    r = graph.post("/$batch", json={"requests": [
        {"id": "1", "method": "POST", "url": f"/groups/{gid}/members/$ref", "body": {"@odata.id": ref(uid)},
         "headers": JSON},
        {"id": "2", "dependsOn": ["1"], "method": "POST", "url": f"/groups/{gid}/members/$ref",
         "body": {"@odata.id": ref(uid)}, "headers": JSON},
        {"id": "3", "method": "DELETE", "url": f"/groups/{gid}/members/{make_user(graph, 'bob')['id']}/$ref"},
    ]})
    assert [i["status"] for i in r.json()["responses"]] == [204, 400, 404]
    assert fake.backdoor.members(gid) == {uid}


def test_batch_items_count_against_the_write_quota_one_by_one(graph, fake):
    fake.configure(write_quota=(2, 60.0))
    r = graph.post("/$batch", json={"requests": [
        {"id": str(i), "method": "POST", "url": "/users", "body": user_body(f"u{i}"), "headers": JSON}
        for i in range(3)]})
    statuses = [i["status"] for i in r.json()["responses"]]
    assert statuses == [201, 201, 429]
    assert r.json()["responses"][2]["headers"]["Retry-After"]

"""Flows a connector runs against the fake: concurrent writers, and a batch retried by Retry-After."""

from concurrent.futures import ThreadPoolExecutor

import httpx

from .conftest import DOMAIN, make_group, make_user, ref, user_body

JSON = {"Content-Type": "application/json"}


def test_upn_uniqueness_holds_under_concurrent_creates(fake):
    def create(_: int) -> int:
        with httpx.Client(base_url=fake.graph_url, headers={"Authorization": f"Bearer {fake.token()}"}) as c:
            return c.post("/users", json=user_body("ada")).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(create, range(8)))
    assert statuses == [201] + [400] * 7
    assert [u["userPrincipalName"] for u in fake.backdoor.users()] == [f"ada@{DOMAIN}"]


def test_a_client_that_resends_throttled_batch_items_gets_everything_applied(graph, fake):
    gid = make_group(graph)["id"]
    ids = [make_user(graph, f"u{i}")["id"] for i in range(15)]
    fake.force_batch_throttle(4)
    pending = {str(i): {"id": str(i), "method": "POST", "url": f"/groups/{gid}/members/$ref",
                        "body": {"@odata.id": ref(uid)}, "headers": JSON} for i, uid in enumerate(ids)}
    rounds, waited = 0, 0
    while pending:
        rounds += 1
        answers = graph.post("/$batch", json={"requests": list(pending.values())}).json()["responses"]
        for item in answers:
            if item["status"] == 429:
                waited = max(waited, int(item["headers"]["Retry-After"]))
                continue
            assert item["status"] == 204, item
            del pending[item["id"]]
        fake.clock.advance(waited)
    assert rounds == 2 and waited == fake.knobs.batch_retry_after
    assert fake.backdoor.members(gid) == set(ids)

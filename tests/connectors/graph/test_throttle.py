"""The identity and access write quota (throttling-limits, throttling)."""

from .conftest import error_code, make_user, user_body


def test_writes_over_the_quota_are_429_with_retry_after_and_scope(graph, fake):
    fake.configure(write_quota=(3, 150.0))
    for name in ("ada", "bob", "cy"):
        make_user(graph, name)
    r = graph.post("/users", json=user_body("di"))
    assert r.status_code == 429 and error_code(r) == "TooManyRequests"
    assert 1 <= int(r.headers["Retry-After"]) <= 150
    assert r.headers["x-ms-throttle-scope"] == f"Tenant_Application/Write/{fake.knobs.client_id}/{fake.knobs.tenant}"
    assert len(fake.backdoor.users()) == 3


def test_throttle_limit_percentage_header_appears_above_80_percent(graph, fake):
    fake.configure(write_quota=(10, 150.0))
    seen = []
    for i in range(9):
        r = graph.post("/users", json=user_body(f"u{i}"))
        seen.append(r.headers.get("x-ms-throttle-limit-percentage"))
    assert seen[:8] == [None] * 8  # 0.1 .. 0.8 of the limit: not above 0.8
    assert seen[8] == "0.90"


def test_reads_are_not_throttled_when_writes_are(graph, fake):
    fake.configure(write_quota=(1, 150.0))
    make_user(graph)
    assert graph.post("/users", json=user_body("bob")).status_code == 429
    assert graph.get("/users").status_code == 200


def test_throttled_writes_still_count_and_the_window_frees_with_time(graph, fake):
    fake.configure(write_quota=(2, 100.0))
    make_user(graph, "ada")
    fake.clock.advance(50)
    make_user(graph, "bob")
    first = graph.post("/users", json=user_body("cy"))
    assert first.status_code == 429 and first.headers["x-ms-throttle-limit-percentage"] == "1.50"
    # The refused attempt counts too, so the next write fits only once ada's AND bob's left.
    assert int(first.headers["Retry-After"]) == 100
    fake.clock.advance(50)
    # ada left, but the refused attempt keeps the window full: retrying early is refused again.
    again = graph.post("/users", json=user_body("cy"))
    assert again.status_code == 429
    fake.clock.advance(100)
    assert graph.post("/users", json=user_body("cy")).status_code == 201

"""GET /users/delta and /groups/delta (delta-query-overview, user-delta, group-delta)."""

from .conftest import error_code, make_group, make_user, ref


def _round(graph, fake, url):
    """Follow nextLinks to the deltaLink; returns (items, pages, deltaLink)."""
    items, pages = [], 0
    while True:
        body = graph.get(url.replace(fake.graph_url, "")).json()
        pages += 1
        items += body["value"]
        if "@odata.deltaLink" in body:
            assert "@odata.nextLink" not in body
            return items, pages, body["@odata.deltaLink"]
        url = body["@odata.nextLink"]


def test_initial_round_pages_with_next_link_and_ends_with_a_delta_link(graph, fake):
    fake.configure(delta_page_size=2)
    for name in ("ada", "bob", "cy"):
        make_user(graph, name)
    items, pages, delta_link = _round(graph, fake, "/users/delta")
    assert pages == 2 and sorted(u["mailNickname"] for u in items) == ["ada", "bob", "cy"]
    assert "$deltatoken=" in delta_link


def test_delta_link_returns_only_what_changed_since(graph, fake):
    ada, bob = make_user(graph, "ada"), make_user(graph, "bob")
    _, _, link = _round(graph, fake, "/users/delta")
    graph.patch(f"/users/{bob['id']}", json={"jobTitle": "Analyst"})
    items, _, link2 = _round(graph, fake, link)
    assert [(u["id"], u["jobTitle"]) for u in items] == [(bob["id"], "Analyst")]
    assert ada["id"] not in {u["id"] for u in items}
    assert _round(graph, fake, link2)[0] == []


def test_deleted_user_is_removed_changed_while_restorable_then_deleted_when_purged(graph, fake):
    ada = make_user(graph, "ada")
    _, _, link = _round(graph, fake, "/users/delta")
    graph.delete(f"/users/{ada['id']}")
    items, _, link2 = _round(graph, fake, link)
    assert items == [{"@odata.type": "#microsoft.graph.user", "id": ada["id"], "@removed": {"reason": "changed"}}]
    graph.delete(f"/directory/deletedItems/{ada['id']}")
    items, _, _ = _round(graph, fake, link2)
    assert items[0]["@removed"] == {"reason": "deleted"}


def test_initial_round_can_carry_removed_entries_for_deleted_items(graph, fake):
    ada, cy = make_user(graph, "ada"), make_user(graph, "cy")
    make_user(graph, "bob")
    graph.delete(f"/users/{ada['id']}")
    graph.delete(f"/users/{cy['id']}")
    graph.delete(f"/directory/deletedItems/{cy['id']}")  # purged: never mentioned in an initial round
    items, _, _ = _round(graph, fake, "/users/delta")
    assert [u.get("mailNickname") or u["@removed"]["reason"] for u in items] == ["changed", "bob"]
    assert items[0]["id"] == ada["id"]


def test_group_delta_carries_members_delta(graph, fake):
    ada, bob = make_user(graph, "ada"), make_user(graph, "bob")
    gid = make_group(graph)["id"]
    graph.post(f"/groups/{gid}/members/$ref", json={"@odata.id": ref(ada["id"])})
    items, _, link = _round(graph, fake, "/groups/delta")
    assert items[0]["members@delta"] == [{"@odata.type": "#microsoft.graph.user", "id": ada["id"]}]
    graph.delete(f"/groups/{gid}/members/{ada['id']}/$ref")
    graph.post(f"/groups/{gid}/members/$ref", json={"@odata.id": ref(bob["id"])})
    items, _, _ = _round(graph, fake, link)
    assert items[0]["id"] == gid
    assert sorted(items[0]["members@delta"], key=lambda m: m["id"] != ada["id"]) == [
        {"@odata.type": "#microsoft.graph.user", "id": ada["id"], "@removed": {"reason": "deleted"}},
        {"@odata.type": "#microsoft.graph.user", "id": bob["id"]},
    ]


def test_select_of_the_first_request_is_carried_in_the_links(graph, fake):
    fake.configure(delta_page_size=1)
    make_user(graph, "ada")
    make_user(graph, "bob")
    body = graph.get("/users/delta", params={"$select": "displayName"}).json()
    assert "$select=displayName" in body["@odata.nextLink"]
    items, _, link = _round(graph, fake, body["@odata.nextLink"])
    assert "$select=displayName" in link
    assert {k for k in items[0] if not k.startswith("@")} == {"id", "displayName"}


def test_invalid_delta_token_is_400(graph):
    r = graph.get("/users/delta", params={"$deltatoken": "999999"})
    assert r.status_code == 400 and error_code(r) == "syncStateInvalid"
    r = graph.get("/groups/delta", params={"$skiptoken": "@@not-base64@@"})
    assert r.status_code == 400


def test_a_delta_link_lists_only_the_changes_since_it_was_handed_out(graph, fake):
    ada, bob = make_user(graph, "ada"), make_user(graph, "bob")
    link = graph.get("/users/delta", params={"$select": "id,jobTitle"}).json()["@odata.deltaLink"]
    assert graph.patch(f"/users/{bob['id']}", json={"jobTitle": "Changed in the portal"}).status_code == 204
    page = graph.get(link).json()
    assert [(u["id"], u.get("jobTitle")) for u in page["value"]] == [(bob["id"], "Changed in the portal")]
    again = graph.get(page["@odata.deltaLink"]).json()
    assert again["value"] == []  # nothing since


def test_an_expired_delta_link_must_resync_400_or_410(graph, fake):
    make_user(graph, "ada")
    link = graph.get("/users/delta").json()["@odata.deltaLink"]
    fake.clock.advance(7 * 24 * 3600 + 1)  # identity delta links live seven days
    graph.headers["Authorization"] = f"Bearer {fake.token()}"  # the old bearer token expired too
    r = graph.get(link)
    assert r.status_code == 400 and error_code(r) == "syncStateNotFound"
    fresh = graph.get("/users/delta").json()["@odata.deltaLink"]
    fake.configure(delta_expired_status=410)
    fake.backdoor.expire_delta_links()
    r = graph.get(fresh)
    assert r.status_code == 410 and error_code(r) == "resyncRequired"

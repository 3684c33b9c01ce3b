"""The user's manager in the fake Graph: PUT/DELETE /users/{id}/manager/$ref (user-post-manager,
user-delete-manager), GET /users/{id}/manager (user-list-manager); never in a user body."""

from __future__ import annotations

from .conftest import error_code, make_user, user_body


def mref(graph, object_id: str) -> dict:
    return {"@odata.id": f"https://graph.microsoft.com/v1.0/users/{object_id}"}


def test_put_manager_ref_assigns_and_replaces_the_manager(graph, fake):
    ada, bob, cy = make_user(graph, "ada"), make_user(graph, "bob"), make_user(graph, "cy")
    r = graph.put(f"/users/{ada['id']}/manager/$ref", json=mref(graph, bob["id"]))
    assert r.status_code == 204 and r.content == b""
    assert fake.backdoor.manager(ada["id"]) == bob["id"]
    assert graph.get(f"/users/{ada['id']}/manager").json()["id"] == bob["id"]
    assert graph.put(f"/users/{ada['id']}/manager/$ref", json=mref(graph, cy["id"])).status_code == 204
    assert fake.backdoor.manager(ada["id"]) == cy["id"]


def test_a_directory_objects_url_is_accepted_too(graph, fake):
    ada, bob = make_user(graph, "ada"), make_user(graph, "bob")
    body = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{bob['id']}"}
    assert graph.put(f"/users/{ada['id']}/manager/$ref", json=body).status_code == 204


def test_delete_manager_ref_clears_it_and_a_user_without_one_answers_404(graph, fake):
    ada, bob = make_user(graph, "ada"), make_user(graph, "bob")
    graph.put(f"/users/{ada['id']}/manager/$ref", json=mref(graph, bob["id"]))
    assert graph.delete(f"/users/{ada['id']}/manager/$ref").status_code == 204
    assert fake.backdoor.manager(ada["id"]) is None
    r = graph.delete(f"/users/{ada['id']}/manager/$ref")
    assert r.status_code == 404 and error_code(r) == "Request_ResourceNotFound"
    assert graph.get(f"/users/{ada['id']}/manager").status_code == 404


def test_manager_in_a_user_body_is_refused_on_create_and_update(graph, fake):
    bob = make_user(graph, "bob")
    r = graph.post("/users", json=user_body("ada", manager=bob["id"]))
    assert r.status_code == 400 and "manager" in r.json()["error"]["message"]
    r = graph.post("/users", json=user_body("ada", **{"manager@odata.bind": mref(graph, bob["id"])["@odata.id"]}))
    assert r.status_code == 400
    assert not [u for u in fake.backdoor.users() if u["userPrincipalName"].startswith("ada@")]
    r = graph.patch(f"/users/{bob['id']}", json={"manager": bob["id"]})
    assert r.status_code == 400


def test_an_unknown_manager_or_user_is_404_and_self_is_400(graph, fake):
    ada = make_user(graph, "ada")
    missing = "00000000-0000-0000-0000-0000000000aa"
    assert graph.put(f"/users/{ada['id']}/manager/$ref", json=mref(graph, missing)).status_code == 404
    assert graph.put(f"/users/{missing}/manager/$ref", json=mref(graph, ada["id"])).status_code == 404
    assert graph.put(f"/users/{ada['id']}/manager/$ref", json=mref(graph, ada["id"])).status_code == 400
    assert graph.put(f"/users/{ada['id']}/manager/$ref", json={}).status_code == 400


def test_a_just_created_manager_is_not_replicated_yet(graph, fake):
    ada = make_user(graph, "ada")
    fake.clock.advance(60)  # ada has replicated; bob, created under the lag, has not
    fake.configure(replication_lag=30.0)
    bob = make_user(graph, "bob")
    r = graph.put(f"/users/{ada['id']}/manager/$ref", json=mref(graph, bob["id"]))
    assert r.status_code == 400 and "do not exist" in r.json()["error"]["message"]
    fake.clock.advance(31)
    assert graph.put(f"/users/{ada['id']}/manager/$ref", json=mref(graph, bob["id"])).status_code == 204


def test_a_manager_change_is_a_change_in_users_delta_and_a_purged_manager_is_dropped(graph, fake):
    ada, bob = make_user(graph, "ada"), make_user(graph, "bob")
    link = graph.get("/users/delta").json()["@odata.deltaLink"]
    graph.put(f"/users/{ada['id']}/manager/$ref", json=mref(graph, bob["id"]))
    changed = graph.get(link).json()["value"]
    assert [u["id"] for u in changed] == [ada["id"]]
    fake.directory.purge(bob["id"])
    assert fake.backdoor.manager(ada["id"]) is None

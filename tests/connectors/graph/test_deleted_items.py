"""/directory/deletedItems: soft delete, restore, 30 days, permanent delete (resources/directory,
directory-deleteditems-restore)."""

from hybridsync.connectors.testing.graphfake.state import DELETED_RETENTION_SECONDS

from .conftest import error_code, make_user, user_body


def test_deleted_user_is_404_on_users_and_200_in_deleted_items(graph):
    uid = make_user(graph)["id"]
    assert graph.delete(f"/users/{uid}").status_code == 204
    r = graph.get(f"/users/{uid}")
    assert r.status_code == 404 and error_code(r) == "Request_ResourceNotFound"
    body = graph.get(f"/directory/deletedItems/{uid}").json()
    assert body["id"] == uid and body["@odata.type"] == "#microsoft.graph.user" and body["deletedDateTime"]


def test_deleted_users_are_listed_by_type(graph):
    uid = make_user(graph)["id"]
    make_user(graph, "bob")
    graph.delete(f"/users/{uid}")
    assert [u["id"] for u in graph.get("/directory/deletedItems/microsoft.graph.user").json()["value"]] == [uid]


def test_restore_brings_the_user_back_with_its_id(graph):
    uid = make_user(graph)["id"]
    graph.delete(f"/users/{uid}")
    r = graph.post(f"/directory/deletedItems/{uid}/restore")
    assert r.status_code == 200 and r.json()["id"] == uid and "deletedDateTime" not in r.json()
    assert graph.get(f"/users/{uid}").status_code == 200
    assert graph.get(f"/directory/deletedItems/{uid}").status_code == 404


def test_restore_after_30_days_is_404(graph, fake):
    uid = make_user(graph)["id"]
    graph.delete(f"/users/{uid}")
    fake.clock.advance(DELETED_RETENTION_SECONDS - 60)
    graph.headers["Authorization"] = f"Bearer {fake.token()}"  # a month on, the old token has expired
    assert graph.get(f"/directory/deletedItems/{uid}").status_code == 200
    fake.clock.advance(60)
    r = graph.post(f"/directory/deletedItems/{uid}/restore")
    assert r.status_code == 404 and error_code(r) == "Request_ResourceNotFound"


def test_permanent_delete_from_deleted_items_is_204(graph, fake):
    uid = make_user(graph)["id"]
    graph.delete(f"/users/{uid}")
    assert graph.delete(f"/directory/deletedItems/{uid}").status_code == 204
    assert graph.post(f"/directory/deletedItems/{uid}/restore").status_code == 404
    assert fake.backdoor.get(uid) is None


def test_restore_of_a_live_object_is_404(graph):
    uid = make_user(graph)["id"]
    assert graph.post(f"/directory/deletedItems/{uid}/restore").status_code == 404


def test_restore_is_refused_when_the_upn_was_taken_meanwhile(graph):
    uid = make_user(graph)["id"]
    graph.delete(f"/users/{uid}")
    assert graph.post("/users", json=user_body()).status_code == 201
    r = graph.post(f"/directory/deletedItems/{uid}/restore")
    assert r.status_code == 400 and error_code(r) == "Request_BadRequest"

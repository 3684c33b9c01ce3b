"""orgContact is read-only in Graph (resources/orgcontact)."""

from .conftest import error_code, make_group, ref


def test_post_contacts_is_refused(graph, fake):
    r = graph.post("/contacts", json={"displayName": "Ext", "mail": "ext@example.org"})
    assert r.status_code == 405 and error_code(r) == "Request_BadRequest"
    assert graph.get("/contacts").json()["value"] == []


def test_patch_and_delete_contacts_are_refused(graph, fake):
    cid = fake.backdoor.seed("orgContact", {"displayName": "Ext", "mail": "ext@example.org"})
    assert graph.patch(f"/contacts/{cid}", json={"displayName": "X"}).status_code == 405
    assert graph.delete(f"/contacts/{cid}").status_code == 405
    assert graph.get(f"/contacts/{cid}").json()["displayName"] == "Ext"


def test_seeded_contact_can_join_a_security_group(graph, fake):
    cid = fake.backdoor.seed("orgContact", {"displayName": "Ext", "mail": "ext@example.org"})
    gid = make_group(graph)["id"]
    assert graph.post(f"/groups/{gid}/members/$ref", json={"@odata.id": ref(cid)}).status_code == 204
    assert graph.get(f"/groups/{gid}/members").json()["value"][0]["@odata.type"] == "#microsoft.graph.orgContact"


def test_backdoor_counts_requests(graph, fake):
    graph.get("/users")
    graph.get("/contacts")
    assert fake.backdoor.requests["GET /users"] == 1 and fake.backdoor.requests["GET"] == 2
    fake.backdoor.reset()
    assert fake.backdoor.requests["GET"] == 0

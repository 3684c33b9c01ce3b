"""Group membership: $ref add/remove, members@odata.bind (group-post-members, group-delete-members)."""

from .conftest import error_code, make_group, make_user, ref

ALREADY = "One or more added object references already exist for the following modified properties: 'members'."


def test_add_member_by_ref_204(graph):
    uid, gid = make_user(graph)["id"], make_group(graph)["id"]
    r = graph.post(f"/groups/{gid}/members/$ref", json={"@odata.id": ref(uid)})
    assert r.status_code == 204
    assert [m["id"] for m in graph.get(f"/groups/{gid}/members").json()["value"]] == [uid]


def test_adding_an_already_present_member_is_400(graph):
    uid, gid = make_user(graph)["id"], make_group(graph)["id"]
    graph.post(f"/groups/{gid}/members/$ref", json={"@odata.id": ref(uid)})
    r = graph.post(f"/groups/{gid}/members/$ref", json={"@odata.id": ref(uid)})
    assert r.status_code == 400 and error_code(r) == "Request_BadRequest"
    assert r.json()["error"]["message"] == ALREADY


def test_adding_a_missing_object_is_404(graph):
    gid = make_group(graph)["id"]
    r = graph.post(f"/groups/{gid}/members/$ref", json={"@odata.id": ref("6f1c7a3e-0000-4000-8000-000000000000")})
    assert r.status_code == 404 and error_code(r) == "Request_ResourceNotFound"


def test_remove_member_by_ref_204(graph, fake):
    uid, gid = make_user(graph)["id"], make_group(graph)["id"]
    graph.post(f"/groups/{gid}/members/$ref", json={"@odata.id": ref(uid)})
    assert graph.delete(f"/groups/{gid}/members/{uid}/$ref").status_code == 204
    assert fake.backdoor.members(gid) == set()


def test_removing_a_member_that_is_not_there_is_404(graph):
    uid, gid = make_user(graph)["id"], make_group(graph)["id"]
    r = graph.delete(f"/groups/{gid}/members/{uid}/$ref")
    assert r.status_code == 404 and error_code(r) == "Request_ResourceNotFound"


def test_members_odata_bind_adds_up_to_20(graph, fake):
    gid = make_group(graph)["id"]
    ids = [make_user(graph, f"u{i}")["id"] for i in range(20)]
    r = graph.patch(f"/groups/{gid}", json={"members@odata.bind": [ref(i) for i in ids]})
    assert r.status_code == 204 and fake.backdoor.members(gid) == set(ids)


def test_members_odata_bind_over_20_is_400_and_adds_nothing(graph, fake):
    gid = make_group(graph)["id"]
    ids = [make_user(graph, f"u{i}")["id"] for i in range(21)]
    r = graph.patch(f"/groups/{gid}", json={"members@odata.bind": [ref(i) for i in ids], "description": "x"})
    assert r.status_code == 400 and error_code(r) == "Request_BadRequest"
    assert fake.backdoor.members(gid) == set() and "description" not in graph.get(f"/groups/{gid}").json()


def test_members_odata_bind_is_all_or_nothing(graph, fake):
    gid = make_group(graph)["id"]
    a, b = make_user(graph, "ada")["id"], make_user(graph, "bob")["id"]
    graph.post(f"/groups/{gid}/members/$ref", json={"@odata.id": ref(a)})
    r = graph.patch(f"/groups/{gid}", json={"members@odata.bind": [ref(b), ref(a)]})  # a already there
    assert r.status_code == 400 and r.json()["error"]["message"] == ALREADY
    r = graph.patch(f"/groups/{gid}", json={"members@odata.bind": [ref(b), ref("6f1c7a3e-0000-4000-8000-0000000000aa")]})
    assert r.status_code == 404 and error_code(r) == "Request_ResourceNotFound"
    assert fake.backdoor.members(gid) == {a}


def test_security_group_can_hold_a_group_but_a_microsoft_365_group_cannot(graph):
    inner, outer = make_group(graph, "inner")["id"], make_group(graph, "outer")["id"]
    assert graph.post(f"/groups/{outer}/members/$ref", json={"@odata.id": ref(inner)}).status_code == 204
    team = make_group(graph, "team", groupTypes=["Unified"], mailEnabled=True, securityEnabled=False)["id"]
    r = graph.post(f"/groups/{team}/members/$ref", json={"@odata.id": ref(inner)})
    assert r.status_code == 400 and error_code(r) == "Request_BadRequest"


def test_members_list_shows_the_member_type(graph):
    inner, outer = make_group(graph, "inner")["id"], make_group(graph, "outer")["id"]
    graph.post(f"/groups/{outer}/members/$ref", json={"@odata.id": ref(inner)})
    assert graph.get(f"/groups/{outer}/members").json()["value"][0]["@odata.type"] == "#microsoft.graph.group"


def test_adding_members_to_a_group_that_is_still_replicating_is_400(graph, fake):
    uid = make_user(graph)["id"]
    fake.configure(replication_lag=3.0)
    gid = make_group(graph)["id"]
    r = graph.post(f"/groups/{gid}/members/$ref", json={"@odata.id": ref(uid)})
    assert r.status_code == 400 and error_code(r) == "Request_BadRequest"
    assert "do not exist" in r.json()["error"]["message"]
    fake.clock.advance(3.0)
    assert graph.post(f"/groups/{gid}/members/$ref", json={"@odata.id": ref(uid)}).status_code == 204


def test_malformed_member_reference_is_400(graph):
    gid = make_group(graph)["id"]
    r = graph.post(f"/groups/{gid}/members/$ref", json={"@odata.id": "not-a-url at all"})
    assert r.status_code == 400 and error_code(r) == "Request_BadRequest"

"""POST/GET/PATCH/DELETE /groups (group-post-groups, group resource)."""

import pytest

from .conftest import error_code, group_body, make_group, make_user, ref


def test_post_groups_201_security_group(graph):
    r = graph.post("/groups", json=group_body("staff"))
    assert r.status_code == 201
    body = r.json()
    assert body["securityEnabled"] is True and body["mailEnabled"] is False and body["groupTypes"] == []
    assert graph.get(f"/groups/{body['id']}").json()["displayName"] == "Staff"


@pytest.mark.parametrize("missing", ["displayName", "mailEnabled", "mailNickname", "securityEnabled"])
def test_post_groups_requires_each_documented_required_property(graph, missing):
    body = group_body()
    del body[missing]
    r = graph.post("/groups", json=body)
    assert r.status_code == 400 and error_code(r) == "Request_BadRequest" and missing in r.json()["error"]["message"]


@pytest.mark.parametrize("nickname", ["all staff", "staff@x", "st[aff]", 'a"b', "x" * 65])
def test_group_mail_nickname_character_rules(graph, nickname):
    r = graph.post("/groups", json=group_body(mailNickname=nickname))
    assert r.status_code == 400 and "mailNickname" in r.json()["error"]["message"]


@pytest.mark.parametrize("prop,value", [("mail", "staff@contoso.onmicrosoft.com"), ("proxyAddresses", []),
                                        ("onPremisesSyncEnabled", True), ("securityIdentifier", "S-1-12")])
def test_group_read_only_property_is_400(graph, prop, value):
    r = graph.post("/groups", json=group_body(**{prop: value}))
    assert r.status_code == 400 and error_code(r) == "Request_BadRequest"
    gid = make_group(graph)["id"]
    assert graph.patch(f"/groups/{gid}", json={prop: value}).status_code == 400


def test_mail_enabled_security_group_cannot_be_created(graph):
    r = graph.post("/groups", json=group_body(mailEnabled=True))
    assert r.status_code == 400 and error_code(r) == "Request_BadRequest"


def test_microsoft_365_group_gets_a_service_set_mail_address(graph):
    body = make_group(graph, "team", groupTypes=["Unified"], mailEnabled=True, securityEnabled=False)
    assert body["mail"] == "team@contoso.onmicrosoft.com" and body["proxyAddresses"] == [f"SMTP:{body['mail']}"]


def test_group_created_with_members_bind(graph):
    ids = [make_user(graph, f"u{i}")["id"] for i in range(3)]
    group = graph.post("/groups", json=group_body(**{"members@odata.bind": [ref(i) for i in ids]})).json()
    listed = graph.get(f"/groups/{group['id']}/members").json()["value"]
    assert sorted(m["id"] for m in listed) == sorted(ids)
    assert all(m["@odata.type"] == "#microsoft.graph.user" for m in listed)


def test_group_creation_takes_at_most_20_relationships(graph):
    ids = [make_user(graph, f"u{i}")["id"] for i in range(12)]
    body = group_body(**{"members@odata.bind": [ref(i) for i in ids[:11]],
                         "owners@odata.bind": [ref(i) for i in ids[:10]]})
    r = graph.post("/groups", json=body)
    assert r.status_code == 400 and error_code(r) == "Request_BadRequest"
    assert graph.get("/groups").json()["value"] == []


def test_filter_groups_by_display_name(graph):
    staff = make_group(graph, "staff")
    make_group(graph, "admins")
    r = graph.get("/groups", params={"$filter": "displayName eq 'Staff'"})
    assert [g["id"] for g in r.json()["value"]] == [staff["id"]]
    r = graph.get("/groups", params={"$filter": "description eq 'x'"})
    assert r.status_code == 400 and error_code(r) == "Request_UnsupportedQuery"


def test_patch_group_204(graph):
    gid = make_group(graph)["id"]
    assert graph.patch(f"/groups/{gid}", json={"description": "All staff"}).status_code == 204
    assert graph.get(f"/groups/{gid}").json()["description"] == "All staff"


def test_deleting_a_security_group_is_permanent(graph):
    gid = make_group(graph)["id"]
    assert graph.delete(f"/groups/{gid}").status_code == 204
    assert graph.get(f"/groups/{gid}").status_code == 404
    r = graph.get(f"/directory/deletedItems/{gid}")
    assert r.status_code == 404 and error_code(r) == "Request_ResourceNotFound"


def test_deleting_a_microsoft_365_group_moves_it_to_deleted_items(graph):
    gid = make_group(graph, "team", groupTypes=["Unified"], mailEnabled=True, securityEnabled=False)["id"]
    assert graph.delete(f"/groups/{gid}").status_code == 204
    assert graph.get(f"/groups/{gid}").status_code == 404
    assert graph.get(f"/directory/deletedItems/{gid}").json()["id"] == gid

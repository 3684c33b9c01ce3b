"""POST/GET/PATCH/DELETE /users and the rules on their bodies (user-post-users, user resource)."""

import pytest

from .conftest import DOMAIN, error_code, make_user, user_body


def test_post_users_201_returns_the_user_without_its_password(graph, fake):
    r = graph.post("/users", json=user_body("ada"))
    assert r.status_code == 201
    body = r.json()
    assert body["userPrincipalName"] == f"ada@{DOMAIN}" and body["id"]
    assert "passwordProfile" not in body and "createdDateTime" in body
    assert fake.backdoor.users()[0]["passwordProfile"]["password"]  # stored, never returned
    assert graph.get(f"/users/{body['id']}").json()["displayName"] == "Ada"


@pytest.mark.parametrize("missing", ["accountEnabled", "displayName", "mailNickname", "userPrincipalName",
                                     "passwordProfile"])
def test_post_users_requires_each_documented_required_property(graph, missing):
    body = user_body()
    del body[missing]
    r = graph.post("/users", json=body)
    assert r.status_code == 400 and error_code(r) == "Request_BadRequest"
    assert f"'{missing}'" in r.json()["error"]["message"]
    assert graph.get("/users").json()["value"] == []


def test_unknown_property_is_400(graph):
    r = graph.post("/users", json=user_body(favouriteColour="teal"))
    assert r.status_code == 400 and error_code(r) == "Request_BadRequest"
    assert "favouriteColour" in r.json()["error"]["message"]


@pytest.mark.parametrize("prop,value", [("onPremisesSyncEnabled", True), ("proxyAddresses", ["SMTP:a@b.c"]),
                                        ("id", "0f0f"), ("createdDateTime", "2020-01-01T00:00:00Z"),
                                        ("onPremisesSamAccountName", "ada"), ("securityIdentifier", "S-1-5")])
def test_read_only_property_is_400_on_create_and_update(graph, prop, value):
    r = graph.post("/users", json=user_body(**{prop: value}))
    assert r.status_code == 400 and error_code(r) == "Request_BadRequest" and prop in r.json()["error"]["message"]
    uid = make_user(graph)["id"]
    r = graph.patch(f"/users/{uid}", json={prop: value})
    assert r.status_code == 400 and error_code(r) == "Request_BadRequest"


def test_directory_extension_property_is_accepted(graph):
    ext = "extension_0123456789abcdef0123456789abcdef_costCentre"
    user = make_user(graph, **{ext: "CC-7"})
    assert graph.get(f"/users/{user['id']}").json()[ext] == "CC-7"


@pytest.mark.parametrize("prop,value", [("accountEnabled", "yes"), ("businessPhones", "+1 555"),
                                        ("passwordProfile", {"pwd": "x"}), ("otherMails", None)])
def test_value_of_the_wrong_schema_type_is_400(graph, prop, value):
    r = graph.post("/users", json=user_body(**{prop: value}))
    assert r.status_code == 400 and error_code(r) == "Request_BadRequest"


def test_duplicate_user_principal_name_is_400_another_object_exists(graph):
    make_user(graph, "ada")
    r = graph.post("/users", json=user_body("ada2", userPrincipalName=f"ADA@{DOMAIN}"))
    assert r.status_code == 400 and error_code(r) == "Request_BadRequest"
    assert r.json()["error"]["message"] == \
        "Another object with the same value for property userPrincipalName already exists."


@pytest.mark.parametrize("upn", [f"ad a@{DOMAIN}", f"adé@{DOMAIN}", "no-at-sign", f"a(b)@{DOMAIN}"])
def test_user_principal_name_allows_only_documented_characters(graph, upn):
    r = graph.post("/users", json=user_body(userPrincipalName=upn))
    assert r.status_code == 400 and error_code(r) == "Request_BadRequest"


def test_user_principal_name_domain_must_be_verified(graph, fake):
    r = graph.post("/users", json=user_body(userPrincipalName="ada@example.org"))
    assert r.status_code == 400 and "verified domain" in r.json()["error"]["message"]
    fake.configure(verified_domains=None)
    assert graph.post("/users", json=user_body(userPrincipalName="ada@example.org")).status_code == 201


@pytest.mark.parametrize("nickname", ["ada lovelace", "ada@home", "ad(a)", "adé", "a;b", "x" * 65, ""])
def test_mail_nickname_character_rules(graph, nickname):
    r = graph.post("/users", json=user_body(mailNickname=nickname))
    assert r.status_code == 400 and error_code(r) == "Request_BadRequest"
    assert "mailNickname" in r.json()["error"]["message"]


def test_mail_nickname_of_64_ascii_characters_is_accepted(graph):
    assert make_user(graph, mailNickname="a.b-c_d" + "x" * 57)["mailNickname"].startswith("a.b-c_d")


@pytest.mark.parametrize("password", ["short1!", "alllowercase", "NoDigitsOrSymbols"])
def test_password_profile_needs_a_strong_password(graph, password):
    r = graph.post("/users", json=user_body(passwordProfile={"password": password}))
    assert r.status_code == 400 and "complexity" in r.json()["error"]["message"]


def test_password_profile_without_password_is_400(graph):
    r = graph.post("/users", json=user_body(passwordProfile={"forceChangePasswordNextSignIn": True}))
    assert r.status_code == 400 and error_code(r) == "Request_BadRequest"


def test_on_premises_immutable_id_is_unique_and_refuses_dollar_and_underscore(graph):
    make_user(graph, "ada", onPremisesImmutableId="AAAA1111")
    r = graph.post("/users", json=user_body("bob", onPremisesImmutableId="aaaa1111"))
    assert r.status_code == 400 and "onPremisesImmutableId" in r.json()["error"]["message"]
    r = graph.post("/users", json=user_body("cy", onPremisesImmutableId="a_b"))
    assert r.status_code == 400 and error_code(r) == "Request_BadRequest"


def test_filter_by_user_principal_name_and_immutable_id(graph):
    ada = make_user(graph, "ada", onPremisesImmutableId="Zm9vYmFy")
    make_user(graph, "bob")
    quoted = make_user(graph, "o'brien", displayName="O'Brien")
    r = graph.get("/users", params={"$filter": f"userPrincipalName eq 'ADA@{DOMAIN}'"})
    assert r.status_code == 200 and [u["id"] for u in r.json()["value"]] == [ada["id"]]
    r = graph.get("/users", params={"$filter": "onPremisesImmutableId eq 'Zm9vYmFy'"})
    assert [u["id"] for u in r.json()["value"]] == [ada["id"]]
    r = graph.get("/users", params={"$filter": f"userPrincipalName eq 'o''brien@{DOMAIN}'"})
    assert [u["id"] for u in r.json()["value"]] == [quoted["id"]]
    r = graph.get("/users", params={"$filter": "userPrincipalName eq 'nobody@x'"})
    assert r.json()["value"] == []


def test_filter_on_an_unsupported_clause_is_400_unsupported_query(graph):
    r = graph.get("/users", params={"$filter": "aboutMe eq 'x'"})
    assert r.status_code == 400 and error_code(r) == "Request_UnsupportedQuery"
    r = graph.get("/users", params={"$filter": "startswith(displayName,'a')"})
    assert r.status_code == 400 and error_code(r) == "Request_UnsupportedQuery"


def test_select_returns_only_the_chosen_properties_and_id(graph):
    user = make_user(graph)
    body = graph.get(f"/users/{user['id']}", params={"$select": "displayName"}).json()
    assert {k for k in body if not k.startswith("@")} == {"id", "displayName"}


def test_get_user_by_user_principal_name(graph):
    user = make_user(graph)
    assert graph.get(f"/users/ada@{DOMAIN}").json()["id"] == user["id"]


def test_patch_user_204_then_get_shows_the_change(graph):
    user = make_user(graph)
    r = graph.patch(f"/users/{user['id']}", json={"jobTitle": "Analyst", "accountEnabled": False})
    assert r.status_code == 204 and r.content == b""
    body = graph.get(f"/users/{user['id']}").json()
    assert body["jobTitle"] == "Analyst" and body["accountEnabled"] is False


def test_patch_display_name_cannot_be_cleared(graph):
    user = make_user(graph)
    r = graph.patch(f"/users/{user['id']}", json={"displayName": None})
    assert r.status_code == 400 and error_code(r) == "Request_BadRequest"


def test_patch_or_delete_of_a_missing_user_is_404_resource_not_found(graph):
    missing = "6f1c7a3e-0000-4000-8000-000000000000"
    for r in (graph.patch(f"/users/{missing}", json={"jobTitle": "x"}), graph.delete(f"/users/{missing}"),
              graph.get(f"/users/{missing}")):
        assert r.status_code == 404 and error_code(r) == "Request_ResourceNotFound"


def test_list_users_pages_with_next_link(graph, fake):
    fake.configure(list_page_size=2)
    for name in ("ada", "bob", "cy", "di", "ed"):
        make_user(graph, name)
    seen, url, pages = [], "/users", 0
    while url:
        body = graph.get(url).json()
        seen += [u["userPrincipalName"] for u in body["value"]]
        url = body.get("@odata.nextLink", "").replace(fake.graph_url, "")
        pages += 1
    assert pages == 3 and len(seen) == 5 == len(set(seen))


def test_replication_lag_new_user_answers_404_until_it_has_replicated(graph, fake):
    fake.configure(replication_lag=5.0)
    user = make_user(graph)
    r = graph.get(f"/users/{user['id']}")
    assert r.status_code == 404 and error_code(r) == "Request_ResourceNotFound"
    # ...but the name is taken at once: uniqueness holds across replicas.
    assert graph.post("/users", json=user_body()).status_code == 400
    fake.clock.advance(5.0)
    assert graph.get(f"/users/{user['id']}").status_code == 200

"""Measure a SCIM server's dialect the way issue 16 lists the behaviours seen in the wild.

``measure(url, token)`` runs raw SCIM requests (httpx, not the connector) on an empty server and
returns what it did, as plain JSON values; ``tests/samples/<server>-dialect.json`` records it and
``test_measured_dialects.py`` checks each server still answers so. Run by hand to re-record:
``python -m tests.connectors.scim.measure`` is not needed: the test prints the difference.
"""

from __future__ import annotations

from typing import Any

import httpx

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def measure(url: str, token: str) -> dict[str, Any]:
    c = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    out: dict[str, Any] = {}

    def user(user_name: str, **extra: Any) -> httpx.Response:
        return c.post("/Users", json={"schemas": [USER], "userName": user_name, **extra})

    a = user("Ann@corp.example", externalId="ext-a", displayName="Given Name",
             name={"givenName": "Ann", "familyName": "Lee"}, active=True,
             emails=[{"type": "work", "value": "ann@corp.example"}, {"type": "home", "value": "a2@x.example"}]).json()
    out["create_user_status"] = 201
    out["display_name_kept"] = a.get("displayName") == "Given Name"
    out["emails_kept"] = len(a.get("emails") or [])
    out["email_type_kept"] = bool((a.get("emails") or [{}])[0].get("type"))
    b = user("bob@corp.example")
    out["external_id_absent_as"] = "absent" if "externalId" not in b.json() else repr(b.json()["externalId"])
    dup = user("ann@corp.example")
    out["username_unique"] = "case-insensitive" if dup.status_code == 409 else f"case-sensitive ({dup.status_code})"
    out["conflict_scim_type"] = (dup.json() or {}).get("scimType") if dup.status_code == 409 else None
    s = user("str@corp.example", active="False")
    out["string_boolean"] = s.status_code
    for name, flt in (("filter_username_eq_other_case", 'userName eq "ann@corp.example"'),
                      ("filter_emails_value_eq", 'emails.value eq "ann@corp.example"'),
                      ("filter_external_id_eq", 'externalId eq "ext-a"'),
                      ("filter_unknown_attribute", 'nickName eq "nobody-has-it"')):
        r = c.get("/Users", params={"filter": flt})
        out[name] = r.status_code if r.status_code != 200 else f"200: {r.json().get('totalResults')} result(s)"
    for i in range(25):
        user(f"page{i}@corp.example")
    page = c.get("/Users").json()
    out["page_without_count"] = len(page.get("Resources") or [])
    uid = a["id"]
    bid = b.json()["id"]
    p = c.patch(f"/Users/{uid}", json={"schemas": [PATCH], "Operations": [{"op": "replace", "path": "title", "value": "T"}]})
    out["patch_answer"] = f"{p.status_code} {'with the resource' if p.content else 'no body'}"
    g = c.post("/Groups", json={"schemas": [GROUP], "displayName": "G", "members": [{"value": uid}]}).json()
    gid = g["id"]
    out["members_in_post"] = "kept" if len(c.get(f"/Groups/{gid}").json().get("members") or []) == 1 else "ignored"

    def members() -> list[str]:
        return [m["value"] for m in c.get(f"/Groups/{gid}").json().get("members") or []]

    add = {"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": bid}]}]}
    c.patch(f"/Groups/{gid}", json=add)
    c.patch(f"/Groups/{gid}", json=add)
    out["member_added_twice"] = "stored twice" if members().count(bid) == 2 else "stored once"
    bad = c.patch(f"/Groups/{gid}", json={"schemas": [PATCH], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": "no-such-id"}]}]})
    out["unknown_member_id"] = bad.status_code if bad.status_code >= 300 else (
        "kept dangling" if "no-such-id" in members() else "dropped silently")
    r1 = c.patch(f"/Groups/{gid}", json={"schemas": [PATCH], "Operations": [
        {"op": "remove", "path": f'members[value eq "{bid}"]'}]})
    out["remove_member_path_filter"] = r1.status_code
    r2 = c.patch(f"/Groups/{gid}", json={"schemas": [PATCH], "Operations": [
        {"op": "remove", "path": "members", "value": [{"value": uid}]}]})
    out["remove_member_value_array"] = r2.status_code
    ren = c.patch(f"/Groups/{gid}", json={"schemas": [PATCH], "Operations": [
        {"op": "replace", "value": {"displayName": "G2"}}]})
    out["group_rename_patch_no_path"] = ren.status_code
    out["group_renamed"] = c.get(f"/Groups/{gid}").json().get("displayName") == "G2"
    inner = c.post("/Groups", json={"schemas": [GROUP], "displayName": "Inner"}).json()["id"]
    nest = c.patch(f"/Groups/{gid}", json={"schemas": [PATCH], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": inner}]}]})
    came = [m for m in c.get(f"/Groups/{gid}").json().get("members") or [] if m.get("value") == inner]
    out["group_member_that_is_a_group"] = nest.status_code if nest.status_code >= 300 else (
        "read as a user" if any(m.get("type") == "User" or "/Users/" in str(m.get("$ref") or "") for m in came)
        else "kept" if came else "dropped silently")
    gone = c.patch("/Users/no-such-id", json={"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "title", "value": "x"}]})
    out["patch_missing_resource"] = gone.status_code
    c.close()
    return out

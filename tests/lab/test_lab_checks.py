"""The live part of ``hybridsync lab`` polls the target every few ms while the engine works.

Each check must read the one resource it looks for. It used to list the whole directory through
the backdoor (the lab's 5,000 users: ~1 s a read on 2 busy cores) while scim2-server, one event
loop, served nothing else -- the engine's own requests waited behind it -- so the lab timed its
own reads: 2-3 s a change where the engine took 0.3 s."""

from __future__ import annotations

import httpx
import pytest
from rich.console import Console

from hybridsync.engine.lab.demo import Lab


def _no_listing(*args, **kwargs):
    raise AssertionError("a live check listed every resource")


@pytest.mark.scim
def test_the_lab_checks_read_one_resource_never_the_whole_scim_directory(scim2_server, tmp_path, monkeypatch):
    scim2_server.reset()
    door = scim2_server.backdoor
    door.seed("User", [{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": f"u{i}@lab.test",
                        "active": True, "externalId": f"x{i}"} for i in range(3)])
    [alice] = door.seed("User", [{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                  "userName": "Alice@Lab.Test", "displayName": "Alice", "active": False}])
    door.seed("Group", [{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Group B",
                         "members": [{"value": alice["id"]}]}])
    lab = Lab(tmp_path, Console())
    lab.scim = scim2_server
    monkeypatch.setattr(door, "resources", _no_listing)
    found = lab.scim_user("alice@lab.test")  # userName is caseExact=false
    assert found is not None and found["id"] == alice["id"] and found["active"] is False
    assert lab.scim_user("nobody@lab.test") is None
    group = lab.scim_group("Group B")
    assert group is not None and [m["value"] for m in group["members"]] == [alice["id"]]
    assert lab.scim_group("Group Z") is None
    assert [r["userName"] for r in door.find("User", "externalId", "X1", members=False)] == ["u1@lab.test"]
    with pytest.raises(httpx.HTTPStatusError) as refused:
        door.find("User", "title", "x")
    assert refused.value.response.status_code == 400 and b"userName" in refused.value.response.content


def test_the_lab_checks_into_the_fake_graph_serialize_one_object(tmp_path, monkeypatch):
    from hybridsync.connectors.testing.graphfake import GraphFake, Knobs

    with GraphFake(Knobs(verified_domains=None)) as graph:
        door = graph.backdoor
        for i in range(3):
            door.seed("user", {"userPrincipalName": f"u{i}@lab.test", "accountEnabled": True})
        alice = door.seed("user", {"userPrincipalName": "Alice@Lab.Test", "displayName": "Alice",
                                   "accountEnabled": False, "onPremisesImmutableId": "imm", "jobTitle": "Boss"})
        group = door.seed("group", {"displayName": "Group B"})
        graph.directory.objects[group].members.add(alice)
        lab = Lab(tmp_path, Console(), target="entra")
        lab.graph = graph
        monkeypatch.setattr(door, "users", _no_listing)
        monkeypatch.setattr(door, "groups", _no_listing)
        assert lab.scim_user("alice@lab.test") == {"id": alice, "userName": "Alice@Lab.Test", "displayName": "Alice",
                                                   "active": False, "externalId": "imm", "title": "Boss"}
        assert lab.scim_user("nobody@lab.test") is None
        assert lab.scim_group("Group B") == {"id": group, "displayName": "Group B", "members": [{"value": alice}]}

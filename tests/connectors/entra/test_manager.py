"""The Entra connector writes a user's manager through /users/{id}/manager/$ref (never in a body):
set on create (a second request), changed and cleared on update; a failure to set it leaves the
create undone without ever creating the user twice."""

from __future__ import annotations

from hybridsync.connectors.base import Done, RetryAfter, Terminal
from hybridsync.connectors.entra import EntraTarget
from hybridsync.connectors.testing.target_contract import anchor
from hybridsync.engine.core.values import ObjectKind as K

from .conftest import entra_config

DOMAIN = "contoso.onmicrosoft.com"


def user(n, **extra):
    return {"userPrincipalName": f"user{n}@{DOMAIN}", "displayName": f"User {n}", "active": True, **extra}


def test_create_with_a_manager_sets_it_through_its_ref(entra, fake):
    boss = entra.create(K.USER, anchor(1), user(1)).target_id
    got = entra.create(K.USER, anchor(2), user(2, manager=boss))
    assert isinstance(got, Done) and got.status == 201
    assert fake.backdoor.manager(got.target_id) == boss
    assert fake.backdoor.requests["PUT /users/{id}/manager/$ref"] == 1
    assert "manager" not in fake.backdoor.get(got.target_id)


def test_update_changes_and_clears_the_manager(entra, fake):
    a, b = (entra.create(K.USER, anchor(i), user(i)).target_id for i in (1, 2))
    uid = entra.create(K.USER, anchor(3), user(3, manager=a)).target_id
    assert isinstance(entra.update(K.USER, uid, {"manager": b, "jobTitle": "Lead"}), Done)
    assert fake.backdoor.manager(uid) == b and fake.backdoor.get(uid)["jobTitle"] == "Lead"
    assert isinstance(entra.update(K.USER, uid, {"manager": None}), Done)
    assert fake.backdoor.manager(uid) is None
    # clearing a manager that is not there (404 while the user reads 200) settles as done
    assert isinstance(entra.update(K.USER, uid, {"manager": None}), Done)


def test_a_manager_created_just_before_its_report_waits_for_replication_never_recreates(entra, fake):
    fake.configure(replication_lag=30.0)
    boss = entra.create(K.USER, anchor(1), user(1)).target_id
    got = entra.create(K.USER, anchor(2), user(2, manager=boss))
    assert isinstance(got, RetryAfter) and "not replicated" in got.why
    assert len(fake.backdoor.users()) == 2
    fake.clock.advance(31)
    again = entra.create(K.USER, anchor(2), user(2, manager=boss))
    assert isinstance(again, Done) and again.status == 201
    assert len(fake.backdoor.users()) == 2  # the retried create set the manager, never POSTed again
    assert fake.backdoor.requests["POST /users"] == 2
    assert fake.backdoor.manager(again.target_id) == boss


def test_an_unknown_manager_is_a_terminal_naming_it_and_not_gone(entra, fake):
    uid = entra.create(K.USER, anchor(1), user(1)).target_id
    missing = "00000000-0000-0000-0000-0000000000aa"
    later = EntraTarget(entra_config(fake))  # past our create's replication window
    got = later.update(K.USER, uid, {"manager": missing})
    later.close()
    assert isinstance(got, Terminal) and missing in got.why and not got.gone


def test_a_restarted_connector_finds_the_created_user_and_sets_its_manager(fake):
    first = EntraTarget(entra_config(fake))
    boss = first.create(K.USER, anchor(1), user(1)).target_id
    fake.clock.advance(60)
    fake.configure(replication_lag=30.0)  # boss has replicated; the report will not have
    assert isinstance(first.create(K.USER, anchor(2), user(2, manager=boss)), RetryAfter)
    first.close()  # the process ends before the retry
    fake.clock.advance(31)
    second = EntraTarget(entra_config(fake))
    # the engine re-sends the create whose answer it never recorded: the duplicate UPN is ours
    got = second.create(K.USER, anchor(2), user(2, manager=boss))
    assert isinstance(got, Done) and fake.backdoor.manager(got.target_id) == boss
    assert len(fake.backdoor.users()) == 2
    second.close()

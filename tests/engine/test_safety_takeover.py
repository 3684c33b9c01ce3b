"""Issue 14, finding 4: no takeover of a foreign account without identity. Soft match is by
userName by default; an adoption that would change the target's userName, or that matches more
than one target object, is disputed."""

from __future__ import annotations

import attrs

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.values import ObjectKind

from .enginekit import guid, make_engine, user

WORK = 'emails[type eq "work"].value'


def setup(matching=None):
    src, tgt = MemorySource(), MemoryTarget()
    src.put(user(1, mail="boss@lab.test"))
    admin = tgt.seed(ObjectKind.USER, {"userName": "admin@cloud.test", WORK: "boss@lab.test",
                                       "displayName": "Cloud admin"})
    engine = make_engine(src, {"app": tgt})
    if matching is not None:
        t = attrs.evolve(engine.config.targets[0], matching=matching)
        engine.config = attrs.evolve(engine.config, targets=(t,))
    return src, tgt, admin, engine


def test_by_default_a_shared_work_email_does_not_adopt_a_foreign_account():
    src, tgt, admin, engine = setup()
    engine.run_once()
    assert tgt.store[admin]["attributes"]["userName"] == "admin@cloud.test"
    assert tgt.store[admin]["external_id"] is None
    src.delete(guid(1))
    engine.run_once()
    assert tgt.store[admin]["active"] is True


def test_an_opt_in_email_match_that_would_change_the_username_is_disputed():
    src, tgt, admin, engine = setup(matching=("userName", WORK))
    report = engine.run_once()
    assert tgt.store[admin]["attributes"]["userName"] == "admin@cloud.test"
    assert tgt.store[admin]["external_id"] is None
    assert report.counts.get("adopt", 0) == 0
    src.delete(guid(1))
    engine.run_once()
    assert tgt.store[admin]["active"] is True


def test_a_match_on_two_keys_naming_two_objects_is_disputed():
    src, tgt = MemorySource(), MemoryTarget()
    src.put(user(1, mail="boss@lab.test"))
    a = tgt.seed(ObjectKind.USER, {"userName": "u1@lab.test", WORK: "other@lab.test"})
    b = tgt.seed(ObjectKind.USER, {"userName": "someone@lab.test", WORK: "boss@lab.test"})
    engine = make_engine(src, {"app": tgt})
    t = attrs.evolve(engine.config.targets[0], matching=("userName", WORK))
    engine.config = attrs.evolve(engine.config, targets=(t,))
    engine.run_once()
    assert tgt.store[a]["external_id"] is None and tgt.store[b]["external_id"] is None


def test_a_username_match_still_adopts():
    src, tgt = MemorySource(), MemoryTarget()
    src.put(user(1))
    tid = tgt.seed(ObjectKind.USER, {"userName": "u1@lab.test"})
    engine = make_engine(src, {"app": tgt})
    engine.run_once()
    assert tgt.store[tid]["external_id"] == guid(1)


def test_matching_soft_match_in_the_config_opts_in_to_more_keys(tmp_path, monkeypatch):
    from hybridsync.engine.config.loader import load_config_text

    monkeypatch.setenv("HS_T_TOKEN", "x")
    text = '''
[[source]]
name = "corp"
urls = ["ldap://127.0.0.2"]
base_dn = "DC=lab,DC=test"
[[target]]
name = "app"
url = "http://127.0.0.1:8100/scim/v2"
token_env = "HS_T_TOKEN"
[[target]]
name = "other"
url = "http://127.0.0.1:8101/scim/v2"
token_env = "HS_T_TOKEN"
matching = ["userName"]
[matching]
soft_match = ["userName", "emails.work"]
'''
    cfg = load_config_text(text, base_dir=tmp_path, file="t.toml")
    assert cfg.target("app").matching == ("userName", WORK)
    assert cfg.target("other").matching == ("userName",)
    default = load_config_text(text.split("[matching]")[0], base_dir=tmp_path, file="t.toml")
    assert default.target("app").matching == ("userName",)


def test_a_disputed_adoption_is_shown_in_explain():
    src, tgt, admin, engine = setup(matching=("userName", WORK))
    engine.run_once()
    assert "userName" in repr(engine.explain("u1@lab.test")) and "disputed" in repr(engine.explain("u1@lab.test"))

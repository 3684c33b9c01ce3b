"""hybridsync provision: one object now, each step printed, the outcome recorded."""

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.cli.provision import provision

from .enginekit import OTHER, guid, make_engine, user, users_at


def test_provision_creates_one_object_now_and_prints_every_step():
    src, tgt = MemorySource(), MemoryTarget()
    src.put(user(1))
    src.put(user(2))
    engine = make_engine(src, {"app": tgt})
    lines: list[str] = []
    code = provision(engine, "u1@lab.test", out=lines.append)
    assert code == 0 and list(users_at(tgt)) == ["u1@lab.test"]
    text = "\n".join(lines)
    for step in ("read ", "scope", "match", "diff", "action  create", "result  app: create -> ok"):
        assert step in text
    assert engine.store.get_target_state("app", guid(1)).state == "provisioned"
    assert engine.store.get_cursor("corp").reason  # the cursor did not move: still a Refresh


def test_provision_of_an_out_of_scope_object_needs_ignore_scope():
    src, tgt = MemorySource(), MemoryTarget()
    src.put(user(9, OTHER))
    engine = make_engine(src, {"app": tgt})
    lines: list[str] = []
    provision(engine, "u9", out=lines.append)
    assert users_at(tgt) == {} and any("scope" in line for line in lines)
    provision(engine, "u9", ignore_scope=True, out=lines.append)
    assert list(users_at(tgt)) == ["u9@lab.test"]


def test_provision_of_an_unknown_object_says_so():
    engine = make_engine(MemorySource(), {"app": MemoryTarget()})
    lines: list[str] = []
    assert provision(engine, "nobody@lab.test", out=lines.append) == 1
    assert "not found" in lines[-1]

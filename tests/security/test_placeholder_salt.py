"""Issue 15, write-only placeholders are keyed: HMAC-SHA256 with a random salt per state store
(meta ``write_only_salt``), so two installs hold different placeholders for the same inputs
and no table precomputed for one fits another -- while decisions still replay (the salt travels
with the store and its snapshots) and a value is still sent only when its inputs change. A store
from before the salt is migrated without re-sending anything."""

from __future__ import annotations

import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from enginekit import Clock, user  # noqa: E402

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.audit.replay import replay_snapshot, replay_store
from hybridsync.engine.config.loader import load_config_text
from hybridsync.engine.mapping.writeonly import PREFIX, SALT_KEY, placeholder, salt_for_cycle
from hybridsync.engine.runtime.engine import Engine
from hybridsync.statestore import Store
from hybridsync.statestore import migrations as mig

CONFIG = """
[[source]]
name = "corp"
kind = "ad"
urls = ["ldaps://127.0.0.2:636"]
base_dn = "DC=lab,DC=test"
password_env = "UNUSED"

[[target]]
name = "app"
kind = "scim"
url = "http://127.0.0.1:9/v2"
token_env = "UNUSED"
write_only = ["nickName"]

[target.mapping.user]
password = "RandomString(16,1,1,1,1)"
nickName = "[employeeID]"
"""


def engine(store, source, target, clock):
    config = load_config_text(CONFIG, base_dir=Path("."), check_secrets=False)
    return Engine(config, store=store, sources={"corp": source}, targets={"app": target}, clock=clock)


def nick_placeholder(store, anchor) -> str:
    return str(store.get_target_state("app", anchor).projection["nickName"])


def test_each_store_has_its_own_salt_and_keeps_it(tmp_path):
    a, b = Store.open(str(tmp_path / "a.db")), Store.open(str(tmp_path / "b.db"))
    salt_a, salt_b = salt_for_cycle(a.meta_get(SALT_KEY)), salt_for_cycle(b.meta_get(SALT_KEY))
    assert len(salt_a) == 64 and salt_a != salt_b
    a.close()
    assert salt_for_cycle(Store.open(str(tmp_path / "a.db")).meta_get(SALT_KEY)) == salt_a
    inputs = {"employeeid": ("E1",)}
    assert placeholder("[employeeID]", inputs, salt_a) != placeholder("[employeeID]", inputs, salt_b)
    assert placeholder("[employeeID]", inputs, salt_a) != placeholder("[employeeID]", inputs)  # unsalted


def test_two_installs_hold_different_placeholders_for_the_same_input():
    held = []
    for _ in range(2):
        source, target, store = MemorySource(), MemoryTarget("app"), Store.open(":memory:")
        source.put(user(1, employeeID="E-1"))
        engine(store, source, target, Clock()).run_once()
        held.append(nick_placeholder(store, user(1).anchor))
    assert all(p.startswith(PREFIX) for p in held) and held[0] != held[1]


def test_a_store_from_before_the_salt_is_migrated_without_resending_and_still_replays(tmp_path):
    path, clock = str(tmp_path / "state.db"), Clock()
    source, target = MemorySource(), MemoryTarget("app")
    for n in (1, 2):
        source.put(user(n, employeeID=f"E-{n}"))
    old = Store.open(path, _stop_before="m003_write_only_salt")  # format 2: no salt, unsalted hashes
    assert old.format_version == 2 and old.meta_get(SALT_KEY) is None
    engine(old, source, target, clock).run_once()
    legacy = nick_placeholder(old, user(1).anchor)
    assert legacy == placeholder("[employeeID]", {"employeeid": ("E-1",)})
    old.close()
    passwords = {r["external_id"]: str(r["attributes"]["password"]) for r in target.store.values()}

    store = Store.open(path)  # migrated: a salt from the next cycle on
    assert store.format_version == mig.FORMAT_VERSION == 4
    assert store.meta_get(SALT_KEY)["from_cycle"] == 2
    eng = engine(store, source, target, clock)
    target.calls.clear()
    clock.advance(minutes=1)
    eng.run_once(full=True)
    assert [c for c in target.calls if c[0] in ("update", "create")] == []  # nothing re-sent
    assert nick_placeholder(store, user(1).anchor) == legacy  # kept until the value is next sent
    clock.advance(minutes=1)
    source.modify(user(1).anchor, employeeid="E-1b")  # its input changes: sent, salted from now on
    source.modify(user(2).anchor, displayname="Two")  # an unrelated change: nothing write-only sent
    eng.run_once()
    sent = {r["external_id"]: r["attributes"] for r in target.store.values()}
    assert sent[user(1).anchor]["nickName"] == "E-1b"
    assert {a: str(s["password"]) for a, s in sent.items()} == passwords  # no password was reset
    salted = nick_placeholder(store, user(1).anchor)
    assert salted == placeholder("[employeeID]", {"employeeid": ("E-1b",)}, salt_for_cycle(store.meta_get(SALT_KEY)))
    assert nick_placeholder(store, user(2).anchor) == placeholder("[employeeID]", {"employeeid": ("E-2",)})

    report = replay_store(store, CONFIG)  # cycle 1 unsalted, cycles 2 and 3 salted
    assert report.cycles == 3 and report.reproduced, report.divergence and report.divergence.lines()
    snap = tmp_path / "snap.jsonl"
    eng.snapshot(snap, config_text=CONFIG)
    from_snapshot = replay_snapshot(snap)
    assert from_snapshot.cycles == 3 and from_snapshot.reproduced
    dump = io.StringIO()
    store.dump(dump)
    assert not any(p in dump.getvalue() for p in passwords.values())


def test_a_format_2_dump_loads_with_a_salt_that_leaves_its_cycles_unsalted(tmp_path):
    old = Store.open(str(tmp_path / "v2.db"), _stop_before="m003_write_only_salt")
    source, target, clock = MemorySource(), MemoryTarget("app"), Clock()
    source.put(user(1, employeeID="E-1"))
    engine(old, source, target, clock).run_once()
    buf = io.StringIO()
    old.dump(buf)
    buf.seek(0)
    loaded = Store.load(buf, ":memory:")
    meta = loaded.meta_get(SALT_KEY)
    assert meta["from_cycle"] == 2 and salt_for_cycle(meta, 1) == "" and len(salt_for_cycle(meta, 2)) == 64

"""Issue 15, write-only attributes a server echoes back: a configured ``write_only`` attribute
(not only ``password``) that a target returns in its reads -- flat, nested in its extension
schema's dict, under ``.value``, or as an item of a multi-valued complex attribute -- never
reaches the target-call recordings, history, a snapshot, ``explain`` or the logs; neither does a
write-only value quoted back in an error answer."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import attrs
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from enginekit import Clock, config, user  # noqa: E402

from hybridsync.connectors.base import Terminal
from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.config import DEFAULT_USER_MAPPING
from hybridsync.engine.core.redact import forms
from hybridsync.engine.core.values import TargetObject
from hybridsync.engine.mapping.writeonly import strip
from hybridsync.engine.runtime.engine import Engine
from hybridsync.statestore import Store

CUSTOM = "urn:example:params:scim:schemas:extension:custom:2.0:User"
PIN = f"{CUSTOM}:pin"
CERT = 'x509Certificates[type eq "work"].value'
MAPPING = {"user": {**DEFAULT_USER_MAPPING, "password": "RandomString(16,1,1,1,1)",
                    PIN: "RandomString(12,1,1,1,0)", CERT: "RandomString(20,1,1,1,0)"}}


class EchoingTarget(MemoryTarget):
    """A target that answers every read with what it holds, write-only attributes included, in
    every shape a SCIM server may use for them (flat, nested, ``.value``, multi-valued)."""

    def __init__(self, name: str = "app", *, quote_in_error: bool = False):
        super().__init__(name)
        self.quote_in_error = quote_in_error

    def _view(self, tid: str) -> TargetObject:
        view = super()._view(tid)
        a = {k: str(v) if isinstance(v, str) else v for k, v in view.attributes.items()}
        pin, cert = a.get(PIN), a.get(CERT)
        a[CUSTOM] = {"pin": pin, "badge": "B-1"}
        a[f"{PIN}.value"] = pin
        a["x509Certificates"] = [{"type": "work", "value": cert}, {"type": "home", "value": "public"}]
        a["Password"] = a.get("password")
        return attrs.evolve(view, attributes=a)

    def create(self, kind, anchor, attributes):
        if self.quote_in_error:
            self.quote_in_error = False
            return Terminal("400 invalidValue", status=400, scim_type="invalidValue",
                            detail=f"pin {str(attributes[PIN])!r} and password {str(attributes['password'])} "
                                   f"are not accepted: {json.dumps(dict(attributes))}")
        return super().create(kind, anchor, attributes)


def engine_for(target, store, source):
    cfg = config(targets=("app",))
    t = attrs.evolve(cfg.targets[0], mapping=MAPPING, write_only=(PIN, CERT))
    return Engine(attrs.evolve(cfg, targets=(t,)), store=store, sources={"corp": source}, targets={"app": target},
                  clock=Clock())


def values_sent(target: MemoryTarget) -> list[str]:
    out = []
    for r in target.store.values():
        out += [str(r["attributes"][k]) for k in ("password", PIN, CERT)]
    return out


def leaked(secrets: list[str], text: str) -> list[str]:
    """The secrets found in ``text`` in any spelling (raw, repr, JSON, JSON in JSON)."""
    return [s for s in secrets if any(f in text for f in forms(s))]


def scan(tmp_path: Path, engine: Engine, logs: list, anchor: str) -> str:
    dump = io.StringIO()
    engine.store.dump(dump)
    snap = tmp_path / "snap.jsonl"
    engine.snapshot(snap, config_text="")
    files = "".join(p.read_bytes().decode("latin-1") for p in tmp_path.iterdir() if p.is_file())
    return "\n".join([dump.getvalue(), files, repr(engine.explain(anchor)), repr(logs)])


def test_an_echoed_write_only_attribute_reaches_no_record(tmp_path):
    source, target = MemorySource(), EchoingTarget()
    for n in (1, 2):
        source.put(user(n))
    engine_for(target, Store.open(":memory:"), source).run_once()  # the target now holds them
    secrets = values_sent(target)
    assert len(secrets) == 6 and len(set(secrets)) == 6
    engine = engine_for(target, Store.open(str(tmp_path / "state.db")), source)  # a new install
    with capture_logs() as logs:
        engine.run_once()  # lists the target (every object, write-only values echoed) and adopts
        source.modify(user(1).anchor, displayname="Renamed")
        engine.run_once()
    recorded = "\n".join(c.call_json for c in engine.store.iter_calls())
    assert "B-1" in recorded and "public" in recorded  # the rest of the echoed reads is kept
    everything = scan(tmp_path, engine, logs, user(1).anchor)
    assert not leaked(secrets, everything)


def test_a_write_only_value_quoted_in_an_error_answer_is_masked(tmp_path):
    source, target = MemorySource(), EchoingTarget(quote_in_error=True)
    source.put(user(1))
    engine = engine_for(target, Store.open(str(tmp_path / "state.db")), source)
    sent: list[str] = []
    with capture_logs() as logs:
        orig = EchoingTarget.create

        def create(self, kind, anchor, attributes):
            sent.extend(str(attributes[k]) for k in ("password", PIN))
            return orig(self, kind, anchor, attributes)

        EchoingTarget.create = create
        try:
            report = engine.run_once()
        finally:
            EchoingTarget.create = orig
    assert report.outcomes and sent
    state = engine.store.get_target_state("app", user(1).anchor)
    assert state is not None and "not accepted" in (state.last_error or "")
    everything = scan(tmp_path, engine, logs, user(1).anchor)
    assert not leaked(sent, everything)


def test_strip_removes_a_write_only_path_at_every_depth_and_keeps_the_rest():
    read = {"userName": "u1", PIN: "S1", f"{PIN}.value": "S2", CUSTOM: {"pin": "S3", "badge": "B"},
            "x509Certificates": [{"type": "work", "value": "S4"}, {"type": "home", "value": "H"}],
            CERT: "S5", 'x509Certificates[type eq "home"].value': "H", "PASSWORD": "S6",
            "name": {"givenName": "G", "secret": "S7"}, "name.secret": "S8"}
    out = strip(read, {"password", PIN, CERT, "name.secret"})
    text = json.dumps(out)
    assert not [s for s in ("S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8") if s in text]
    assert out == {"userName": "u1", CUSTOM: {"badge": "B"},
                   "x509Certificates": [{"type": "work"}, {"type": "home", "value": "H"}],
                   'x509Certificates[type eq "home"].value': "H", "name": {"givenName": "G"}}


def test_a_bare_placeholder_from_the_journal_is_left_out_never_sent():
    from hybridsync.engine.mapping.writeonly import WriteOnly, reveal

    pending = {"userName": "u1", "password": "(write-only 0123456789abcdef)"}  # read back after a crash
    assert reveal(pending) == {"userName": "u1"}
    live = reveal({"password": WriteOnly("(write-only 0123456789abcdef)", lambda: "Real-Pw-1")})
    assert live == {"password": "Real-Pw-1"} and repr(live["password"]) == "'(write-only 0123456789abcdef)'"


def test_a_call_is_keyed_by_placeholders_never_by_a_write_only_value():
    from hybridsync.engine.mapping.writeonly import WriteOnly, reveal
    from hybridsync.engine.runtime.recording import WRITE_ONLY_MARK, call_key

    sent = reveal({"password": WriteOnly("(write-only aa)", lambda: "Real-Pw-1"),
                   "pins": WriteOnly("(write-only bb)", lambda: ["Pin-One-1", "Pin-Two-2"]),
                   "code": 424242, "userName": "u1"})
    key = call_key("create", ["user", "a1", sent], {}, frozenset({"password", "pins", "code"}))
    assert "(write-only aa)" in key and "(write-only bb)" in key and WRITE_ONLY_MARK in key
    assert not [v for v in ("Real-Pw-1", "Pin-One-1", "Pin-Two-2", "424242") if v in key] and "u1" in key


def test_a_snapshot_keeps_write_only_placeholders_and_drops_real_passwords(tmp_path):
    from hybridsync.engine.runtime.snapshot import write_snapshot

    class OneRow:
        def dump(self, fp):
            fp.write(json.dumps({"format": "hybridsync-statestore", "version": 3}) + "\n")
            row = {"projection": json.dumps({"password": "(write-only 0123456789abcdef)", "userName": "u1"}),
                   "detail": json.dumps({"attributes": {"password": "Real-Pw-S3cret"}})}
            fp.write(json.dumps({"t": "target_states", "r": row}) + "\n")

    out = tmp_path / "snap.jsonl"
    assert write_snapshot(OneRow(), out, config_text="") == 1  # the real one only
    text = out.read_text()
    assert "(write-only 0123456789abcdef)" in text and "Real-Pw-S3cret" not in text


def test_adopting_an_object_never_resets_its_generated_password(tmp_path):
    """A generated password is set once, at creation: a new install (or a rebuilt state store)
    that adopts the objects it finds does not send every user a new one. A write-only value
    with inputs is sent on adopt, as any mapped value is."""
    source, target = MemorySource(), MemoryTarget("app")
    source.put(user(1, employeeID="E-1"))
    cfg = config(targets=("app",))
    mapping = {"user": {**DEFAULT_USER_MAPPING, "password": "RandomString(16,1,1,1,1)", "nickName": "[employeeID]"}}
    t = attrs.evolve(cfg.targets[0], mapping=mapping, write_only=("nickName",))
    cfg = attrs.evolve(cfg, targets=(t,))
    Engine(cfg, store=Store.open(":memory:"), sources={"corp": source}, targets={"app": target},
           clock=Clock()).run_once()
    [record] = target.store.values()
    first = str(record["attributes"]["password"])
    record["attributes"]["nickName"] = "stale"
    target.calls.clear()
    Engine(cfg, store=Store.open(":memory:"), sources={"corp": source}, targets={"app": target},
           clock=Clock()).run_once()  # a new state store: it adopts what it finds
    assert [c[0] for c in target.calls if c[0] in ("create", "update")] == ["update"]  # the adopt
    assert str(record["attributes"]["password"]) == first
    assert record["attributes"]["nickName"] == "E-1"


SECRET_MARK = "Zz-Secret-Qq"
_names = st.sampled_from(["userName", "displayName", "title", "name", "emails", "badge", "Pin", "pinCode"])
_plain = st.one_of(st.text(alphabet="abc xyz", max_size=5), st.booleans(), st.integers(-3, 3))
_json = st.recursive(_plain, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(_names, inner, max_size=3)), max_leaves=8)


def planted(shape: int) -> dict:
    """The write-only PIN / work certificate, in one of the shapes a server may answer with."""
    return [
        {PIN: SECRET_MARK},
        {f"{PIN}.value": SECRET_MARK},
        {CUSTOM: {"PIN": SECRET_MARK, "badge": "b"}},
        {CUSTOM: {"pin": {"value": SECRET_MARK}}},
        {"x509Certificates": [{"type": "Work", "value": SECRET_MARK}, {"type": "home", "value": "h"}]},
        {CERT: SECRET_MARK},
        {"PASSWORD": SECRET_MARK},
    ][shape]


@given(st.dictionaries(_names, _json, max_size=5), st.lists(st.integers(0, 6), min_size=1, max_size=4))
def test_strip_removes_every_planted_write_only_value_and_keeps_every_other_attribute(other, shapes):
    read = dict(other)
    for shape in shapes:
        for key, value in planted(shape).items():
            read[key] = value if key not in read or not isinstance(value, dict) else {**read[key], **value}
    out = strip(read, {"password", PIN, CERT})
    assert SECRET_MARK not in json.dumps(out)
    for key, value in other.items():  # attributes that are no write-only path come back unchanged
        assert out[key] == value

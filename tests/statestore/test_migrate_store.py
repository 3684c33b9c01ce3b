"""``hybridsync migrate-store``: SQLite -> PostgreSQL -> SQLite, verified by dump comparison;
never into a non-empty destination, never while a sync holds the store."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

from hybridsync.engine.cli import main
from hybridsync.engine.core.values import ObjectKind, Refresh, TargetState, UsnWatermark
from hybridsync.statestore import Store
from hybridsync.statestore.copy import CopyMismatch, compare
from hybridsync.statestore.lease import FileLease
from hybridsync.statestore.testing.samples import G, T0, act, intent, obj

REST = """
[[source]]
name = "corp"
kind = "ad"
urls = ["ldaps://127.0.0.2:636"]
base_dn = "DC=lab,DC=test"
bind_dn = "CN=Administrator,CN=Users,DC=lab,DC=test"
password_env = "HYBRIDSYNC_TEST_MIGRATE_PW"

[[target]]
name = "app"
kind = "scim"
url = "http://127.0.0.1:8100/scim/v2"
token_env = "HYBRIDSYNC_TEST_MIGRATE_PW"
"""


def populate(path) -> None:
    with Store.open(path) as s:
        for i in range(30):
            s.put_object(obj(f"U{i:02d}" + "A" * 19 + "=", attributes={"displayName": f"Ünïcode {i}"}),
                         at=T0 + timedelta(seconds=i))
        s.put_object(obj(kind=ObjectKind.GROUP, members=frozenset({"m1", "m2"})))
        s.put_target_state(TargetState(anchor=G, target="app", kind=ObjectKind.GROUP, state="provisioned",
                                       members_sent=frozenset({"m1"}), projection={"displayName": "x"}))
        s.advance_watermark("corp", "dc1", Refresh(), UsnWatermark("dc1", 42))
        s.journal_intent(1, intent(1))
        s.hold(act(), "threshold")
        c = s.begin_cycle("corp", "full", at=T0)
        s.end_cycle(c, status="ok", counts={"created": 31}, duration_s=2.5, at=T0)
        s.record_call(c, "app", '{"op": "create"}', at=T0)


def dump_of(store) -> io.StringIO:
    buf = io.StringIO()
    store.dump(buf)
    store.close()
    return buf


@pytest.mark.postgres
def test_a_sqlite_store_goes_to_postgres_and_back_row_for_row(tmp_path, pg_server, pg_schema, capsys):
    (tmp_path / "a").mkdir()
    cfg = tmp_path / "a" / "hybridsync.toml"
    cfg.write_text(f'[state]\npath = "state.db"\n{REST}')
    populate(tmp_path / "a" / "state.db")
    to_pg = ["migrate-store", "-c", str(cfg), "--to", pg_server.url, "--schema", pg_schema,
             "--password-file", pg_server.password_file]
    assert main(to_pg) == 0
    out = capsys.readouterr().out
    assert "identical" in out and "rows in" in out and "password" not in out

    assert main(to_pg) == 2  # never into a store that holds data
    assert "is not empty" in capsys.readouterr().err

    (tmp_path / "b").mkdir()
    back_cfg = tmp_path / "b" / "hybridsync.toml"
    back_cfg.write_text(f'[state]\nurl = "{pg_server.url}"\nschema = "{pg_schema}"\n'
                        f'password_file = "{pg_server.password_file}"\n{REST}')
    assert main(["migrate-store", "-c", str(back_cfg), "--to", str(tmp_path / "back.db")]) == 0
    original = dump_of(Store.open(tmp_path / "a" / "state.db", readonly=True))
    back = dump_of(Store.open(tmp_path / "back.db", readonly=True))
    counts = compare(original, back)
    assert counts["objects"] == 31 and counts["journal"] == 1 and counts["target_calls"] == 1


@pytest.mark.postgres
def test_a_store_in_use_is_not_copied_and_a_password_in_the_url_is_refused(tmp_path, pg_server, pg_schema, capsys):
    cfg = tmp_path / "hybridsync.toml"
    cfg.write_text(f'[state]\npath = "state.db"\n{REST}')
    populate(tmp_path / "state.db")
    lease = FileLease(tmp_path / "state.db")
    lease.acquire()
    try:
        assert main(["migrate-store", "-c", str(cfg), "--to", pg_server.url, "--schema", pg_schema,
                     "--password-file", pg_server.password_file]) == 2
        assert "in use" in capsys.readouterr().err
    finally:
        lease.release()
    assert main(["migrate-store", "-c", str(cfg), "--to", "postgresql://u:s3cret@127.0.0.1/x"]) == 2
    err = capsys.readouterr().err
    assert "--password-env" in err and "s3cret" not in err


def test_dumps_that_differ_by_one_row_are_a_mismatch(tmp_path):
    with Store.open(tmp_path / "one.db") as a, Store.open(tmp_path / "two.db") as b:
        b.meta_set("write_only_salt", a.meta_get("write_only_salt"))  # each new store has its own
        a.put_object(obj(), at=T0)
        b.put_object(obj(usn=2), at=T0)
        with pytest.raises(CopyMismatch, match="table objects: 1 row"):
            compare(dump_of(a), dump_of(b))

"""Who references an object (issue 20), for the conformance kit: the reports-by-manager index
(``reports_of``, migration m004), found by the manager's DN or a former one, and back-filled
when an older store is migrated. ``StoreContract`` includes ``ReferencesContract``."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import attrs

from hybridsync.statestore.testing.samples import T0, obj

BOSS = "CN=Boss,OU=Staff,DC=lab,DC=test"
CHIEF = "CN=Chief,OU=Sub,OU=Staff,DC=lab,DC=test"


class ReferencesContract:
    def test_the_reports_of_a_manager_are_found_by_its_dn_and_by_a_dn_it_had(self, store):
        boss = obj("boss", dn=BOSS)
        store.put_object(boss, at=T0)
        store.put_object(obj("r1", attributes={"manager": "cn=boss, ou=Staff,dc=LAB,DC=test"}))  # any DN spelling
        store.put_object(obj("r2", attributes={"Manager": [BOSS]}))
        store.put_object(obj("r3", source="branch", attributes={"manager": BOSS}))  # another source
        store.put_object(obj("r4", attributes={"manager": BOSS}, deleted=True, deleted_at=T0))  # a tombstone
        store.put_object(obj("r5", attributes={"manager": "not a dn"}))
        store.put_object(obj("r6"))
        assert store.reports_of("corp", ["boss"]) == {"r1", "r2"}
        assert store.reports_of("branch", ["boss"]) == set()  # no object "boss" in that source
        assert [o.anchor for o in store.live_at_dn("corp", BOSS.lower())] == ["boss"]
        assert store.live_at_dn("branch", BOSS) == [] and store.live_at_dn("corp", "CN=Nobody") == []
        # the manager renamed and moved: AD rewrote the reports' DN without a change to them, so
        # their stored copies still name the old DN, which the manager's DN history holds
        store.put_object(attrs.evolve(boss, dn=CHIEF), at=T0 + timedelta(hours=1))
        assert store.reports_of("corp", ["boss"]) == {"r1", "r2"}
        store.put_object(obj("r1", attributes={"manager": CHIEF}))  # re-read: the new DN
        store.put_object(obj("r2", attributes={"displayName": "no manager now"}))
        store.put_object(obj("r7", attributes={"manager": CHIEF.upper()}))
        assert store.reports_of("corp", ["boss"]) == {"r1", "r7"}
        assert store.reports_of("corp", ["boss", "r1", "nobody"]) == {"r1", "r7"}
        assert store.reports_of("corp", []) == set()
        assert store.reports_of("corp", [], dns=["cn=chief,ou=sub,ou=staff,dc=lab,dc=test", "x"]) == {"r1", "r7"}

    def test_a_store_from_before_the_index_is_back_filled_when_migrated(self, store, tmp_path):
        store.put_object(obj("boss", dn=BOSS), at=T0)
        store.put_object(obj("r1", attributes={"manager": BOSS}))
        store.put_object(obj("r2", attributes={"manager": [BOSS.lower()]}))
        store.put_object(obj("r3", attributes={"displayName": "manager"}))
        buf = io.StringIO()
        store.dump(buf)
        lines = buf.getvalue().splitlines()
        header = json.loads(lines[0])
        assert header["version"] >= 4
        old = [json.dumps({**header, "version": 3})]  # format 3: objects had no manager_dn column
        for line in lines[1:]:
            item = json.loads(line)
            if item["t"] == "objects":
                assert "manager_dn" in item["r"]
                item["r"].pop("manager_dn")
            old.append(json.dumps(item))
        copy = self.load_store(io.StringIO("\n".join(old) + "\n"), tmp_path / "old")  # type: ignore[attr-defined]
        try:
            assert copy.format_version == header["version"]
            assert copy.reports_of("corp", ["boss"]) == {"r1", "r2"}
        finally:
            copy.close()

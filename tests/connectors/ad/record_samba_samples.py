"""Record the golden pages in tests/samples/samba-*.json from a live Samba DC (run by hand).

    .venv/bin/python tests/connectors/ad/record_samba_samples.py LAB_JSON_DIR

Creates objects with odd values under OU=odd, then records: a paged full-read page of that OU
(extended DN, ``member;range=0-1``), a DirSync incremental delta (member add/remove, rename,
move, disable, delete) and the Show Deleted tombstone page. Not a test module.
"""

import json
import sys
from pathlib import Path

import ldap3

from hybridsync.connectors.ad import query
from hybridsync.connectors.ad.normalize import RawEntry

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
ATTRS = list(query.attribute_list(["displayName", "mail", "otherTelephone", "description", "givenName"]))


def dump(name: str, conn: ldap3.Connection, what: str) -> None:
    items = [RawEntry.from_ldap3(e).to_json() for e in conn.response if e["type"] == "searchResEntry"]
    (SAMPLES / name).write_text(json.dumps({"origin": what, "entries": items}, indent=1, ensure_ascii=False) + "\n")
    print(name, len(items))


def main(labdir: str) -> None:
    meta = json.loads((Path(labdir) / "lab.json").read_text())
    tls = ldap3.Tls(validate=0)
    server = ldap3.Server(meta["address"], port=636, use_ssl=True, tls=tls, get_info=ldap3.NONE)
    nc = "DC=lab,DC=test"
    c = ldap3.Connection(server, user=f"CN=Administrator,CN=Users,{nc}", password=meta["admin_password"],
                         auto_bind=True, auto_range=False, return_empty_attributes=False)
    ou = f"OU=odd,{nc}"
    c.search(ou, query.kind_filter(), attributes=list(query.with_member_range(ATTRS, 2)),
             controls=[query.extended_dn()], paged_size=100)
    dump("samba-fullread-odd-page-1.json", c, f"paged search of {ou}, extended DN, member;range=0-1")

    def dirsync(cookie):
        c.search(nc, "(|(&(objectClass=user)(!(objectClass=computer)))(objectClass=group)(objectClass=contact))",
                 attributes=ATTRS, controls=[query.dirsync(cookie, object_security=False), query.extended_dn(), query.show_deleted()])
        return c.result["controls"][query.OID_DIRSYNC]["value"]["cookie"]

    cookie = dirsync(None)
    c.add(f"CN=ds-u1,{ou}", ["top", "person", "organizationalPerson", "user"], {"sAMAccountName": "ds-u1"})
    c.add(f"CN=ds-u2,{ou}", ["top", "person", "organizationalPerson", "user"], {"sAMAccountName": "ds-u2"})
    c.add(f"CN=ds-g,{ou}", ["top", "group"], {"member": [f"CN=ds-u1,{ou}"]})
    cookie = dirsync(cookie)
    c.modify(f"CN=ds-g,{ou}", {"member": [(ldap3.MODIFY_ADD, [f"CN=ds-u2,{ou}"]), (ldap3.MODIFY_DELETE, [f"CN=ds-u1,{ou}"])]})
    c.modify(f"CN=ds-u2,{ou}", {"userAccountControl": [(ldap3.MODIFY_REPLACE, ["514"])]})
    c.modify_dn(f"CN=ds-u1,{ou}", "CN=ds-u1-renamed")
    c.modify_dn(f"CN=ct1,{ou}", "CN=ct1", new_superior=f"CN=Users,{nc}")
    dirsync(cookie)
    dump("samba-dirsync-incremental-page-1.json", c,
         "DirSync incremental values after: member add ds-u2 + remove ds-u1, disable ds-u2, rename ds-u1, move ct1")
    cookie = dirsync(None)
    c.delete(f"CN=ds-u1-renamed,{ou}")
    dirsync(cookie)
    dump("samba-dirsync-tombstone-page-1.json", c, "DirSync after deleting ds-u1-renamed")
    c.search(f"CN=Deleted Objects,{nc}", query.tombstone_filter(0, 1 << 40), attributes=ATTRS,
             controls=[query.extended_dn(), query.show_deleted()])
    dump("samba-usn-tombstones-page-1.json", c, "Show Deleted search of CN=Deleted Objects")
    # leave the directory as it was for a re-run
    c.modify_dn(f"CN=ct1,CN=Users,{nc}", "CN=ct1", new_superior=ou)
    c.delete(f"CN=ds-u2,{ou}")
    c.delete(f"CN=ds-g,{ou}")


if __name__ == "__main__":
    main(sys.argv[1])

"""Offline bulk seeder: writes users and groups straight into a STOPPED DC's sam.ldb.

Run by Debian's ``/usr/bin/python3`` (it has samba's Python bindings; the project venv does
not), never imported by hybridsync itself. ``hybridsync.engine.lab.seed.bulk_seed_offline``
calls it as::

    /usr/bin/python3 -P seed_offline.py < spec.json > result.json

spec: {"smb_conf": path, "base_dn": "DC=lab,DC=test", "ou": "OU=Bulk", "prefix": "bulk",
       "n_users": 20000, "n_groups": 200, "large_group_size": 5000, "dns_domain": "lab.test",
       "ou_chunk": 0, "tuned": true}
result: {"users": n, "groups": n, "seconds": s, "users_per_s": r, "phases": {name: {wall, cpu}}, ...}

Why not ``SamDB.add`` per object (what this file did before, ~600 users/s falling to ~20/s at
6k): ldb 2.x wraps every add in an index sub-transaction that copies each index list the add
touches, and a user touches ~8 lists that hold every user (objectClass top/person/
organizationalPerson/user, objectCategory, sAMAccountType, userAccountControl, primaryGroupID);
the copies and the talloc/malloc churn they cause make each add O(directory). Reproduced with
plain ``ldb`` and no Samba module at all (bench/README.md, "Fast seeding").

So: the first user and the first group are created by Samba itself (``SamDB.add``: SID, RID,
security descriptor, replication metadata, the member link's metadata) and serve as templates;
a block of RIDs is reserved from the RID Manager's ``rIDAvailablePool``; every other object is a
copy of its template with its own name, objectGUID, objectSid, USNs and ``replPropertyMetaData``,
written through the partition's raw ldb in ONE transaction with attribute indexing switched off;
``memberOf`` back-links are written with the users, ``member`` links with the groups. Then the
partition's highest USN (``@REPLCHANGED``, ``metadata.tdb``) is advanced and ``@INDEXLIST`` is
restored through ``SamDB`` again, which rebuilds every index once with Samba's own syntaxes.
That reindex was O(N²) in two hash tables sized for small databases: ldb's in-transaction index
cache (491 chains) and the partition's tdb (10,000 chains); both are sized to N first
(``index_cache_option``, ``grow_hash``): 20k users 26.9 → 9.4 CPU-seconds, 100k ~57.
Users are enabled with no password (userAccountControl NORMAL|PASSWD_NOTREQD = 544) and sit
directly in the OU (the one-level index is built once by the reindex, so a flat 100k OU costs
nothing extra here), or in child OUs of ``ou_chunk`` users when the spec asks for it.
"""

import json
import os
import re
import sys
import time
import uuid

# This file sits next to hybridsync's own ``samba.py``: drop our folder from sys.path so
# ``import samba`` finds Samba's bindings (the caller also passes -P).
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import ldb  # noqa: E402
import tdb  # noqa: E402
from samba.auth import system_session  # noqa: E402
from samba.dcerpc import drsblobs, security  # noqa: E402
from samba.ndr import ndr_pack, ndr_unpack  # noqa: E402
from samba.param import LoadParm  # noqa: E402
from samba.samdb import SamDB  # noqa: E402

OU_CHUNK = 0  # users per child OU; 0 = every user directly in the OU (P3 edits users one level down)
SKIP = {"distinguishedName", "dn"}


def index_cache_option(n_objects):
    """ldb's ``transaction_index_cache_size``: chains of the in-memory tdb holding every index list
    a transaction touches. The default 491 makes a reindex of N objects (~10 keys each) O(N²):
    the 20k reindex took 67 s, 7.7 s with this. Samba's own join uses 200,000."""
    return f"transaction_index_cache_size:{max(200_000, 10 * n_objects)}"


def open_samdb(lp, options=None):
    return SamDB(url=os.path.join(lp.get("private dir"), "sam.ldb"), session_info=system_session(), lp=lp,
                 options=options)


def _exists(samdb, dn):
    try:
        samdb.search(base=dn, scope=ldb.SCOPE_BASE, attrs=["dn"])
        return True
    except ldb.LdbError as exc:
        if exc.args[0] == ldb.ERR_NO_SUCH_OBJECT:
            return False
        raise


def ensure_ou(samdb, dn):
    if not _exists(samdb, dn):
        samdb.add({"dn": dn, "objectClass": "organizationalUnit"})


def user_attrs(prefix, i, dns_domain):
    name = f"{prefix}-{i:06d}"
    return name, {"sAMAccountName": name[:20], "userPrincipalName": f"{name}@{dns_domain}",
                  "givenName": prefix.capitalize(), "sn": f"{i:06d}",
                  "displayName": f"{prefix.capitalize()} {i:06d}", "mail": f"{name}@{dns_domain}"}


class Plan:
    """Names, DNs, GUIDs and RIDs of every object, fixed before anything is written."""

    def __init__(self, spec):
        self.base_dn = spec["base_dn"]
        ou = spec["ou"]
        self.ou_dn = ou if ou.lower().endswith(self.base_dn.lower()) else f"{ou},{self.base_dn}"
        self.prefix = spec.get("prefix", "bulk")
        self.n_users = int(spec["n_users"])
        self.n_groups = int(spec.get("n_groups", 0))
        self.large = min(int(spec.get("large_group_size", 0)), self.n_users)
        self.dns_domain = spec.get("dns_domain", "lab.test")
        self.chunk = int(spec.get("ou_chunk", OU_CHUNK))
        chunked = 0 < self.chunk < self.n_users
        self.chunk_ous = ([f"OU={self.prefix}-{c:03d},{self.ou_dn}" for c in range((self.n_users - 1) // self.chunk + 1)]
                          if chunked else [self.ou_dn])
        self.groups = [(f"CN={self.prefix}-group-{g:04d},{self.ou_dn}", f"{self.prefix}-g{g:04d}"[:20])
                       for g in range(self.n_groups)]
        if spec.get("large_group_size", 0):
            self.groups.append((f"CN={self.prefix}-large-group,{self.ou_dn}", f"{self.prefix}-large"[:20]))

    def user_dn(self, i):
        return f"CN={self.prefix}-{i:06d},{self.chunk_ous[i // self.chunk if len(self.chunk_ous) > 1 else 0]}"

    def groups_of(self, i):
        """Indexes into ``self.groups`` of the groups user ``i`` belongs to."""
        out = [i % self.n_groups] if self.n_groups else []
        if self.large and i < self.large:
            out.append(len(self.groups) - 1)
        return out

    def members_of(self, g):
        if g < self.n_groups:
            return range(g, self.n_users, self.n_groups)
        return range(self.large)


def reserve_rids(samdb, base_dn, count):
    """Take ``count`` RIDs from the domain's available pool (what the RID master does when it
    hands out a pool), so the DC never gives them to another object. Returns the first."""
    dn = f"CN=RID Manager$,CN=System,{base_dn}"
    pool = int(samdb.search(base=dn, scope=ldb.SCOPE_BASE, attrs=["rIDAvailablePool"])[0]["rIDAvailablePool"][0])
    low, high = pool & 0xFFFFFFFF, pool >> 32
    if low + count > high:
        raise RuntimeError(f"RID pool exhausted: {count} RIDs wanted, {high - low} left")
    msg = ldb.Message(ldb.Dn(samdb, dn))
    msg["rIDAvailablePool"] = ldb.MessageElement(str((high << 32) | (low + count)), ldb.FLAG_MOD_REPLACE,
                                                 "rIDAvailablePool")
    samdb.modify(msg)
    return low


def seed_templates(samdb, plan):
    """With Samba itself: the OUs, user 0, group 0 (user 0 a member), the reserved RIDs."""
    ensure_ou(samdb, plan.ou_dn)
    for dn in plan.chunk_ous:
        ensure_ou(samdb, dn)
    name, values = user_attrs(plan.prefix, 0, plan.dns_domain)
    samdb.add({"dn": plan.user_dn(0), "objectClass": "user", "userAccountControl": "544", **values})
    if plan.groups:
        dn, sam = plan.groups[0]
        samdb.add({"dn": dn, "objectClass": "group", "sAMAccountName": sam, "member": [plan.user_dn(0)]})
    return reserve_rids(samdb, plan.base_dn, plan.n_users - 1 + max(len(plan.groups) - 1, 0))


class Cloner:
    """Copies of a raw template record with fresh identity, USNs and metadata."""

    def __init__(self, raw, dn):
        self.rec = raw.search(base=dn, scope=ldb.SCOPE_BASE, attrs=["*"])[0]
        self.meta = ndr_unpack(drsblobs.replPropertyMetaDataBlob, bytes(self.rec["replPropertyMetaData"][0]))
        self.sid = ndr_unpack(security.dom_sid, bytes(self.rec["objectSid"][0]))
        self.base = {k: [bytes(v) for v in self.rec[k]] for k in self.rec.keys() if k not in SKIP}

    def domain_sid(self):
        return str(self.sid).rsplit("-", 1)[0]

    def message(self, dn, values, usn, guid, sid):
        """A dict for ``Ldb.add`` (converted in C; the template's values are read once)."""
        msg = dict(self.base)
        for entry in self.meta.ctr.array:
            entry.local_usn = entry.originating_usn = usn
        fixed = {"objectGUID": guid, "objectSid": ndr_pack(security.dom_sid(sid)), "uSNCreated": str(usn),
                 "uSNChanged": str(usn), "replPropertyMetaData": ndr_pack(self.meta)}
        for key, value in {**values, **fixed}.items():
            vals = value if isinstance(value, list) else [value]
            if vals:
                msg[key] = [v if isinstance(v, bytes) else str(v).encode() for v in vals]
            else:  # an empty list drops the template's values (memberOf of a user in no group)
                msg.pop(key, None)
        msg["dn"] = dn
        return msg


def link_value(template, guid, sid, dn, usn):
    """A ``member`` value shaped like Samba's own (RMD_* link metadata) for another target."""
    value = re.sub(r"<GUID=[^>]*>", f"<GUID={guid}>", template)
    value = re.sub(r"<SID=[^>]*>", f"<SID={sid}>", value)
    value = re.sub(r"<RMD_(LOCAL|ORIGINATING)_USN=\d+>", lambda m: f"<RMD_{m.group(1)}_USN={usn}>", value)
    return value[:value.rindex(">;") + 2] + dn


def write_raw(raw, plan, first_rid, seq):
    """Every object but the templates, in the caller's raw transaction. Returns the last USN."""
    users = Cloner(raw, plan.user_dn(0))
    dom = users.domain_sid()
    gids = [None] + [uuid.uuid4() for _ in plan.groups[1:]]
    gsids = [None] + [f"{dom}-{first_rid + plan.n_users - 1 + k}" for k in range(len(plan.groups) - 1)]
    groups = Cloner(raw, plan.groups[0][0]) if plan.groups else None
    if groups is not None:
        gids[0] = uuid.UUID(bytes_le=bytes(groups.rec["objectGUID"][0]))
        gsids[0] = str(groups.sid)
        member_tpl = bytes(groups.rec["member"][0]).decode()
    uids = [uuid.UUID(bytes_le=bytes(users.rec["objectGUID"][0]))] + [uuid.uuid4() for _ in range(plan.n_users - 1)]
    usids = [str(users.sid)] + [f"{dom}-{first_rid + i - 1}" for i in range(1, plan.n_users)]
    backlink = [f"<GUID={gids[g]}>;<SID={gsids[g]}>;{dn}" for g, (dn, _) in enumerate(plan.groups)]
    for i in range(1, plan.n_users):
        seq += 1
        name, values = user_attrs(plan.prefix, i, plan.dns_domain)
        values.update(cn=name, name=name, memberOf=[backlink[g] for g in plan.groups_of(i)])
        raw.add(users.message(plan.user_dn(i), values, seq, uids[i].bytes_le, usids[i]))
    for g, (dn, sam) in enumerate(plan.groups):
        seq += 1
        members = [link_value(member_tpl, uids[i], usids[i], plan.user_dn(i), seq) for i in plan.members_of(g)]
        if g == 0:  # Samba made this one with user 0 in it: keep that value, add the rest
            members = [member_tpl] + members[1:] if 0 in plan.members_of(0) else members
            msg = ldb.Message(ldb.Dn(raw, dn))
            msg["member"] = ldb.MessageElement([m.encode() for m in members], ldb.FLAG_MOD_REPLACE, "member")
            msg["uSNChanged"] = ldb.MessageElement(str(seq).encode(), ldb.FLAG_MOD_REPLACE, "uSNChanged")
            raw.modify(msg)
            continue
        cn = dn.split(",", 1)[0][3:]
        values = {"cn": cn, "name": cn, "sAMAccountName": sam, "member": members}
        raw.add(groups.message(dn, values, seq, gids[g].bytes_le, gsids[g]))
    extra = [backlink[g] for g in plan.groups_of(0) if g != 0]
    if extra:  # user 0 is in more groups than the one Samba linked it to
        msg = ldb.Message(ldb.Dn(raw, plan.user_dn(0)))
        msg["memberOf"] = ldb.MessageElement([b.encode() for b in extra], ldb.FLAG_MOD_ADD, "memberOf")
        raw.modify(msg)
    return seq


def set_index_attrs(db, idx):
    """Replace ``@INDEXLIST``'s attribute list and one-level flag (``None`` drops both)."""
    msg = ldb.Message(ldb.Dn(db, "@INDEXLIST"))
    for key in ("@IDXATTR", "@IDXONE"):
        values = idx.get(key) if idx else None
        if values:
            msg[key] = ldb.MessageElement(values, ldb.FLAG_MOD_REPLACE, key)
        else:
            msg[key] = ldb.MessageElement([], ldb.FLAG_MOD_DELETE, key)
    db.modify(msg)


def partition_path(lp, base_dn):
    return os.path.join(lp.get("private dir"), "sam.ldb.d", f"{base_dn.upper()}.ldb")


def bump_usn(lp, raw, seq):
    msg = ldb.Message(ldb.Dn(raw, "@REPLCHANGED"))
    msg["uSNHighest"] = ldb.MessageElement(str(seq), ldb.FLAG_MOD_REPLACE, "uSNHighest")
    raw.modify(msg)
    meta = tdb.Tdb(os.path.join(lp.get("private dir"), "sam.ldb.d", "metadata.tdb"), 0, tdb.DEFAULT, os.O_RDWR)
    try:
        meta.transaction_start()
        meta.store(b"SEQ_NUM", str(seq).encode(), tdb.REPLACE)
        meta.transaction_commit()
    finally:
        meta.close()


def grow_hash(path, n_objects):
    """Copy the partition's tdb into one with more hash chains: ldb makes 10,000, and ~12 records
    per object (object, DN index, ~10 attribute index keys) give chains of 120 at 100k. Same
    records and (Jenkins) hash; tdb reads the hash size from the file's header."""
    size = max(10_000, 12 * n_objects) | 1
    old = tdb.Tdb(path, 0, tdb.DEFAULT, os.O_RDONLY)
    try:
        if old.hash_size >= size:
            return old.hash_size
        tmp = f"{path}.rehash"
        if os.path.exists(tmp):
            os.unlink(tmp)
        new = tdb.Tdb(tmp, size, tdb.INCOMPATIBLE_HASH, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            new.transaction_start()
            for key in old.keys():
                new.store(key, old.get(key), tdb.INSERT)
            new.transaction_commit()
        finally:
            new.close()
    finally:
        old.close()
    os.replace(tmp, path)
    return size


def read_seq(lp):
    meta = tdb.Tdb(os.path.join(lp.get("private dir"), "sam.ldb.d", "metadata.tdb"), 0, tdb.DEFAULT, os.O_RDONLY)
    try:
        return int(meta.get(b"SEQ_NUM").decode())
    finally:
        meta.close()


class Marks:
    """Wall and CPU seconds per phase: on the shared VM the CPU seconds compare runs fairly."""

    def __init__(self):
        self.phases = {}
        self._last = (time.monotonic(), time.process_time())

    def __call__(self, name):
        now = (time.monotonic(), time.process_time())
        self.phases[name] = {"wall": round(now[0] - self._last[0], 2), "cpu": round(now[1] - self._last[1], 2)}
        self._last = now
        return now[0]


def seed(spec):
    """``spec["tuned"]`` (default true): grow the partition's hash and the index cache first;
    false measures the plain ldb defaults (bench/seed_rate.py --untuned)."""
    lp = LoadParm()
    lp.load(spec["smb_conf"])
    plan = Plan(spec)
    tuned = spec.get("tuned", True)
    started = time.monotonic()
    marks = Marks()
    if plan.n_users == 0:
        samdb = open_samdb(lp)
        ensure_ou(samdb, plan.ou_dn)
        for dn, sam in plan.groups:
            samdb.add({"dn": dn, "objectClass": "group", "sAMAccountName": sam})
        return result(plan, started, started, started)
    samdb = open_samdb(lp)
    samdb.transaction_start()
    try:
        first_rid = seed_templates(samdb, plan)
        samdb.transaction_commit()
    except BaseException:
        samdb.transaction_cancel()
        raise
    idx = samdb.search(base="@INDEXLIST", scope=ldb.SCOPE_BASE, attrs=["@IDXATTR", "@IDXONE"])[0]
    saved = {k: [bytes(v) for v in idx[k]] for k in ("@IDXATTR", "@IDXONE") if k in idx}
    del samdb
    seq = read_seq(lp)
    n_objects = plan.n_users + len(plan.groups)
    marks("templates")
    hash_size = grow_hash(partition_path(lp, plan.base_dn), n_objects) if tuned else None
    cache = [index_cache_option(n_objects)] if tuned else []
    marks("grow_hash")
    raw = ldb.Ldb(partition_path(lp, plan.base_dn), options=["modules:", *cache])
    raw.transaction_start()
    try:
        set_index_attrs(raw, None)  # no attribute index while loading: rebuilt once below
        seq = write_raw(raw, plan, first_rid, seq)
        bump_usn(lp, raw, seq)
        marks("raw_write")
        raw.transaction_commit()
    except BaseException:
        raw.transaction_cancel()
        raise
    del raw
    loaded = marks("raw_commit")
    samdb = open_samdb(lp, cache or None)  # Samba's syntaxes and schema: the reindex below is Samba's own
    marks("open")
    samdb.transaction_start()
    try:
        set_index_attrs(samdb, saved)
        marks("reindex")
        samdb.transaction_commit()
    except BaseException:
        samdb.transaction_cancel()
        raise
    out = result(plan, started, loaded, marks("index_commit"))
    out["tdb_hash_size"] = hash_size
    out["phases"] = marks.phases
    return out


def result(plan, started, loaded, done):
    seconds = max(done - started, 1e-9)
    return {
        "ou": plan.ou_dn,
        "users": plan.n_users,
        "groups": plan.n_groups,
        "large_group": plan.groups[-1][0] if plan.large else None,
        "large_group_members": plan.large,
        "seconds": round(seconds, 2),
        "load_seconds": round(loaded - started, 2),
        "reindex_seconds": round(done - loaded, 2),
        "user_seconds": round(seconds, 2),
        "users_per_s": round(plan.n_users / seconds, 1) if plan.n_users else 0.0,
    }


def main():
    spec = json.load(sys.stdin)
    json.dump(seed(spec), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

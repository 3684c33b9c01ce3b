"""A machine-wide cache of provisioned + baseline-seeded Samba DC trees.

Provisioning (~9 s), first start (~5 s: it makes the TLS cert) and seeding (~1-2 min for the
5,000-member large group and 200 odd users) happen once per cache key; every later session
extracts ``/tmp/hybridsync-lab-cache/<key>.tar.zst`` into a private dir, relocates it
(``SambaDC.open``) and starts it (~2-4 s in all).

The key hashes samba's version, the seed spec, ``CACHE_FORMAT`` and the source of the seed
code that shapes the tree, so changing the seed code invalidates old entries by itself
(bump ``CACHE_FORMAT`` when provisioning itself changes).
Concurrent creators serialize on ``<key>.lock`` (flock); the archive is written to a temp
name and renamed, so a reader never sees a partial file.
"""

from __future__ import annotations

import fcntl
import hashlib
import inspect
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import attrs
import structlog

from hybridsync.engine.lab import seed as seed_mod
from hybridsync.engine.lab.samba import SambaDC, SambaError, samba_version

log = structlog.get_logger(__name__)

CACHE_DIR = Path(os.environ.get("HYBRIDSYNC_LAB_CACHE", "/tmp/hybridsync-lab-cache"))
CACHE_FORMAT = 1
SEED_FILE = "seed.json"
DEFAULT_REALM, DEFAULT_DOMAIN = "LAB.TEST", "LAB"  # the lab domain (SambaDC.provision's defaults)
_HERE = Path(__file__).parent
# What shapes the cached tree's content; bump CACHE_FORMAT for provisioning changes.
KEY_FUNCTIONS = (seed_mod.seed_lab_directory, seed_mod._odd_users, seed_mod.add_user, seed_mod.add_group,
                 seed_mod.add_contact)


def short_tempdir(prefix: str) -> Path:
    """A short path under /tmp: samba's unix sockets must fit in 108 bytes."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def cache_key(spec: dict) -> str:
    digest = hashlib.sha256()
    digest.update(samba_version().encode())
    digest.update(json.dumps(spec, sort_keys=True).encode())
    digest.update(str(CACHE_FORMAT).encode())
    for func in KEY_FUNCTIONS:
        digest.update(inspect.getsource(func).encode())
    digest.update((_HERE / "seed_offline.py").read_bytes())
    return digest.hexdigest()[:20]


def _tar(src: Path, archive: Path) -> None:
    subprocess.run(["tar", "-C", str(src), "--exclude=./run", "--exclude=./log", "--exclude=./msg.sock",
                    "-I", "zstd -T0 -3 -q", "-cf", str(archive), "."], check=True, capture_output=True)


def extract(archive: Path, workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-C", str(workdir), "-I", "zstd -q", "-xf", str(archive)],
                   check=True, capture_output=True)


def ensure_cached(key: str, build: Callable[[Path], None]) -> Path:
    """Return ``<CACHE_DIR>/<key>.tar.zst``, building it with ``build(workdir)`` (which
    must leave a STOPPED tree in ``workdir``) if no one has yet."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    archive = CACHE_DIR / f"{key}.tar.zst"
    if archive.exists():
        return archive
    with open(CACHE_DIR / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session may be building it: wait for it
        if archive.exists():
            return archive
        scratch = short_tempdir("hs-build-")
        try:
            started = time.monotonic()
            build(scratch / "dc")
            partial = CACHE_DIR / f".{key}.{os.getpid()}.partial"
            _tar(scratch / "dc", partial)
            os.replace(partial, archive)
            log.info("samba_cache.built", key=key, seconds=round(time.monotonic() - started, 1),
                     bytes=archive.stat().st_size)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return archive


def build_baseline(workdir: Path, *, users: int, large_group_size: int, realm: str = DEFAULT_REALM,
                   domain: str = DEFAULT_DOMAIN) -> None:
    """Provision, bulk-add the large group's members offline, start, seed over LDAP, stop."""
    dc = SambaDC.provision(workdir, realm=realm, domain=domain)
    try:
        if large_group_size:
            seed_mod.bulk_seed_offline(dc, large_group_size, n_groups=0, large_group_size=0,
                                       ou=f"OU={seed_mod.LARGE_MEMBERS_OU}", prefix="lm")
        dc.start(timeout=120)
        conn = dc.connect()
        try:
            result = seed_mod.seed_lab_directory(conn, dc.base_dn, users=users, large_group_size=large_group_size)
        finally:
            conn.unbind()
        (workdir / SEED_FILE).write_text(json.dumps(attrs.asdict(result, recurse=True)))
    finally:
        dc.close()


def load_seed_result(workdir: Path) -> seed_mod.SeedResult:
    return seed_mod.SeedResult.from_dict(json.loads((Path(workdir) / SEED_FILE).read_text()))


def cached_lab_dc(workdir: Path, *, address: str | None = None, users: int = 200,
                  large_group_size: int = 5000, realm: str = DEFAULT_REALM, domain: str = DEFAULT_DOMAIN) -> SambaDC:
    """A STOPPED DC at ``workdir`` holding the baseline lab directory, from the cache.

    ``realm``/``domain`` other than ``LAB.TEST``/``LAB`` give a separately provisioned domain
    (its own realm, NetBIOS name, SID and GUIDs; base DN from the realm), cached under its own
    key like the lab domain, so only the first session pays its provisioning and seeding."""
    spec: dict[str, object] = {"users": users, "large_group_size": large_group_size}
    if (realm, domain) != (DEFAULT_REALM, DEFAULT_DOMAIN):  # the lab domain's key is unchanged
        spec |= {"realm": realm, "domain": domain}
    archive = ensure_cached(cache_key(spec), lambda d: build_baseline(
        d, users=users, large_group_size=large_group_size, realm=realm, domain=domain))
    workdir = Path(workdir)
    if workdir.exists() and any(workdir.iterdir()):
        raise SambaError(f"cannot restore the lab cache into {workdir}: directory is not empty")
    extract(archive, workdir)
    return SambaDC.open(workdir, address=address)

"""Shared set-up for the engine benchmarks (issue 8): seeded Samba DCs from a cache, a SCIM server,
configs, generated in-memory directories, a cheap in-process target, peak RSS.

Seeded DC cache: ``/tmp/hybridsync-bench-cache/<key>-<N>u-<G>g.tar.zst``. The first run for a size
provisions a fresh DC (~10 s), bulk-seeds N users and G groups offline (DC stopped, Samba's own
bindings) into ``OU=Bulk``, starts it once (TLS cert) and stops it, then keeps a zstd tar of the
tree; later runs restore it onto a free 127.0.0.x in seconds.

A fresh provision rather than the lab cache's baseline tree: the lab tree carries ~5.4k other
objects (a 5,000-member group) which would blur the N=2k vs N=20k comparison of P3.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import itertools
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import structlog

from hybridsync.connectors.base import Done, Terminal
from hybridsync.engine.core.config import (Config, LogConfig, SafetyConfig, ScopeConfig, SourceConfig,
                                      StateConfig, TargetConfig)
from hybridsync.engine.core.values import ObjectKind, SourceObject, TargetObject

BENCH_CACHE = Path(os.environ.get("HYBRIDSYNC_BENCH_CACHE", "/tmp/hybridsync-bench-cache"))
CACHE_FORMAT = 1
PW_ENV = "HS_BENCH_AD_PASSWORD"
GEN_BASE = "DC=lab,DC=test"
GEN_OU = f"OU=Staff,{GEN_BASE}"


def quiet_logs(level: int = logging.WARNING) -> None:
    """Benchmarks are hosts, not library code: drop the engine's per-object info lines (they cost
    more than the work at 100k and drown the table). Called by each script's ``__main__``
    only, never at import: the smoke tests import these modules, and a global structlog
    configuration would leak into every other test's log capture."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(level))


# ----------------------------------------------------------------------------- measuring
def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB: ``VmHWM`` of /proc/self/status.
    Not ``ru_maxrss``: Linux keeps that across ``execve``, and ``subprocess`` starts a child with
    vfork, so a child's ``ru_maxrss`` starts at its PARENT's peak (measured: a child of a 213 MB
    parent reports 213 MB while its own peak is 13.5 MB; P2's "108 MB before the read" was the
    bench parent's own peak after its raw read and raw creates). ``ru_maxrss`` where there is no /proc."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def percentile(values: Sequence[float], p: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(rows: Sequence[tuple[str, Any]], title: str = "") -> None:
    if title:
        print(f"== {title}  (load {load()})")
    width = max((len(r[0]) for r in rows), default=0)
    for name, value in rows:
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"  {name:<{width}}  {shown}")


def result(name: str, figure: float | int | str, goal: str, ok: bool | None) -> str:
    """One ``RESULT:`` line for bench/summary.py. ``ok=None`` marks a figure that is context for a
    goal measured elsewhere (verdict INFO), so the table never shows a MISS against a goal the
    issue does not set."""
    shown = f"{figure:.3f}" if isinstance(figure, float) else str(figure)
    verdict = "INFO" if ok is None else "PASS" if ok else "MISS"
    line = f"RESULT: {name} {shown} goal {goal} {verdict}"
    print(line, flush=True)
    return line


# ----------------------------------------------------------------------------- generated directory
def guid(n: int) -> str:
    return base64.b64encode(n.to_bytes(16, "big")).decode()


def gen_user(i: int, ou: str = GEN_OU) -> SourceObject:
    attrs = {"userprincipalname": (f"gen{i}@lab.test",), "samaccountname": (f"gen{i}",),
             "givenname": ("Gen",), "sn": (f"S{i:07d}",), "displayname": (f"Gen User {i}",),
             "mail": (f"gen{i}@lab.test",), "cn": (f"gen{i}",), "useraccountcontrol": ("512",)}
    return SourceObject(anchor=guid(i), object_guid=guid(i), kind=ObjectKind.USER, dn=f"CN=gen{i},{ou}",
                        attributes=attrs)


def gen_group(g: int, n_users: int, n_groups: int, ou: str = GEN_OU) -> SourceObject:
    anchor = guid(10_000_000 + g)
    members = frozenset(guid(i) for i in range(g, n_users, max(n_groups, 1)))
    return SourceObject(anchor=anchor, object_guid=anchor, kind=ObjectKind.GROUP, dn=f"CN=gengroup{g},{ou}",
                        attributes={"cn": (f"gengroup{g}",), "samaccountname": (f"gengroup{g}",)}, members=members)


def generated_source(n_users: int, n_groups: int = 0, *, page_size: int = 1000) -> Any:
    """A ``GeneratedSource`` of ``n_users`` users then ``n_groups`` groups (users spread round-robin),
    built on the fly: the directory itself costs no memory."""
    from hybridsync.connectors.testing.memory import GeneratedSource

    def factory(i: int) -> SourceObject:
        return gen_user(i) if i < n_users else gen_group(i - n_users, n_users, n_groups)

    return GeneratedSource(n_users + n_groups, factory, page_size=page_size)


def memory_config(state_path: str = ":memory:", target_kind: str = "memory", url: str = "",
                  token_file: str | None = None, max_in_flight: int = 4) -> Config:
    src = SourceConfig(name="corp", kind="memory", base_dn=GEN_BASE, poll_interval=0.05,
                       scope=ScopeConfig(include_ous=(GEN_OU,)))
    tgt = TargetConfig(name="app", kind=target_kind, url=url, token_file=token_file,
                       object_types=("user", "group"), max_in_flight=max_in_flight)
    return Config(sources=(src,), targets=(tgt,), state=StateConfig(path=state_path),
                  safety=SafetyConfig(delete_threshold=10**9))


class CountingTarget:
    """A SCIM-like target that keeps only externalId -> (id, kind, active) and call counts: O(1)
    lookups, a few dozen bytes per object, so a 100k benchmark measures the engine, not the fake.
    (``MemoryTarget`` scans its dict on every lookup: quadratic at 100k.)
    ``keep=False``: call counts only, nothing per object (P5's peak RSS is the engine's, not the
    fake's: the map cost 15.9 MB at 100k). Every create then succeeds with a fresh id, a lookup
    finds nothing and the listing is empty -- what a first full sync into an empty target sees."""

    def __init__(self, name: str = "app", *, keep: bool = True):
        self.name = name
        self.keep = keep
        self.created = 0
        self.by_anchor: dict[str, tuple[str, ObjectKind, bool]] = {}
        self._ids = itertools.count(1)
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()  # the engine calls from up to max_in_flight threads

    def _count(self, op: str) -> None:
        with self._lock:  # a bare read-modify-write lost 33 of 20,200 creates in a P3 run
            self.calls[op] = self.calls.get(op, 0) + 1

    def describe(self) -> Mapping[str, Any]:
        return {"kind": "counting", "objects": len(self.by_anchor) if self.keep else self.created}

    def lookup_by_anchor(self, kind: ObjectKind, anchor: str) -> Any:
        self._count("lookup_by_anchor")
        hit = self.by_anchor.get(anchor)
        if hit is None or hit[1] != kind:
            return Done(found=())
        return Done(found=(TargetObject(target_id=hit[0], kind=kind, external_id=anchor, attributes={},
                                        active=hit[2]),))

    def lookup_by_attribute(self, kind: ObjectKind, attribute: str, value: str) -> Any:
        self._count("lookup_by_attribute")
        return Done(found=())

    def create(self, kind: ObjectKind, anchor: str, attributes: Mapping[str, Any]) -> Any:
        self._count("create")
        if anchor in self.by_anchor:
            return Terminal(f"externalId {anchor} exists", status=409, scim_type="uniqueness")
        with self._lock:
            tid = f"t{next(self._ids)}"
            self.created += 1
            if self.keep:
                self.by_anchor[anchor] = (tid, kind, True)
        return Done(target_id=tid, status=201)

    def update(self, kind: ObjectKind, target_id: str, changes: Mapping[str, Any], *, anchor: str | None = None) -> Any:
        self._count("update")
        return Done(target_id=target_id, status=200)

    def disable(self, kind: ObjectKind, target_id: str) -> Any:
        self._count("disable")
        return Done(target_id=target_id, status=200)

    def restore(self, kind: ObjectKind, target_id: str) -> Any:
        self._count("restore")
        return Done(target_id=target_id, status=200)

    def delete(self, kind: ObjectKind, target_id: str) -> Any:
        self._count("delete")
        return Done(target_id=target_id, status=204)

    def add_members(self, group_id: str, members: Sequence[tuple[ObjectKind, str]]) -> Any:
        self._count("add_members")
        return Done(target_id=group_id, status=204)

    def remove_members(self, group_id: str, members: Sequence[tuple[ObjectKind, str]]) -> Any:
        self._count("remove_members")
        return Done(target_id=group_id, status=204)

    def list_owned(self, kind: ObjectKind) -> Iterator[TargetObject]:
        for anchor, (tid, k, active) in self.by_anchor.items():
            if k == kind:
                yield TargetObject(target_id=tid, kind=k, external_id=anchor, attributes={}, active=active)

    def writes(self) -> int:
        return sum(v for k, v in self.calls.items() if not k.startswith("lookup"))

    def close(self) -> None:
        pass


# ----------------------------------------------------------------------------- SCIM server
def start_scim(workdir: Path) -> tuple[Any, str]:
    """A started ``ScimLab`` (real scim2-server child) and a 0600 token file for its bearer token."""
    from hybridsync.engine.lab.scim import ScimLab

    scim = ScimLab().start()
    token_file = Path(workdir) / "scim.token"
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(scim.token)
    return scim, str(token_file)


def process_tree(root: int) -> set[int]:
    """``root`` and every live descendant (Samba forks its servers)."""
    parents: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                parents[int(d)] = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return tree


def pin(root: int, cpus: set[int]) -> int:
    """Pin every thread of ``root``'s process tree to ``cpus`` (threads and children started
    later inherit it); returns how many threads were pinned."""
    n = 0
    for pid in process_tree(root):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                os.sched_setaffinity(int(tid), cpus)
                n += 1
            except OSError:  # gone meanwhile
                pass
    return n


def scim_writes(scim: Any) -> int:
    counts = scim.backdoor.requests()
    return sum(counts.get(m, 0) for m in ("POST", "PATCH", "PUT", "DELETE"))


def scim_duplicates(scim: Any) -> tuple[int, int]:
    """(resources with an externalId, externalIds held by more than one resource)."""
    from collections import Counter

    res = scim.backdoor.resources("User", members=False) + scim.backdoor.resources("Group", members=False)
    ext = Counter(r.get("externalId") for r in res if r.get("externalId"))
    return len(res), sum(1 for c in ext.values() if c > 1)


# ----------------------------------------------------------------------------- seeded Samba DC
def _key(n_users: int, n_groups: int) -> str:
    from hybridsync.engine.lab.samba import samba_version

    here = Path(__file__).resolve().parents[1] / "engine" / "lab" / "seed_offline.py"
    digest = hashlib.sha256()
    digest.update(samba_version().encode())
    digest.update(here.read_bytes())
    digest.update(f"{CACHE_FORMAT}".encode())
    return f"{digest.hexdigest()[:12]}-{n_users}u-{n_groups}g"


def _build_seeded(workdir: Path, n_users: int, n_groups: int) -> dict:
    from hybridsync.engine.lab.samba import SambaDC
    from hybridsync.engine.lab.seed import bulk_seed_offline

    dc = SambaDC.provision(workdir)
    try:
        seeded = bulk_seed_offline(dc, n_users, n_groups=n_groups, large_group_size=0, ou="OU=Bulk", prefix="bulk")
        dc.start(timeout=300)  # makes the TLS cert; the cached tree then starts fast
        dc.stop()
    finally:
        dc.close()
    (workdir / "bench-seed.json").write_text(json.dumps(seeded))
    return seeded


def seeded_dc(n_users: int, n_groups: int = 200, *, log=print) -> Any:
    """A RUNNING SambaDC on its own 127.0.0.x with ``n_users`` bulk users + ``n_groups`` groups
    under ``OU=Bulk``, restored from the bench cache (built on first use). ``dc.bench_seed`` holds
    the seeder's figures; ``dc.bulk_ou`` the OU. Call ``dc.close()`` and remove ``dc.workdir.parent``."""
    from hybridsync.engine.lab.samba import SambaDC
    from hybridsync.engine.lab.samba_cache import _tar, extract, short_tempdir

    BENCH_CACHE.mkdir(parents=True, exist_ok=True)
    key = _key(n_users, n_groups)
    archive = BENCH_CACHE / f"{key}.tar.zst"
    if not archive.exists():
        with open(BENCH_CACHE / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not archive.exists():
                log(f"  building seeded DC cache {archive.name} (once; offline seeding of {n_users} users)...")
                scratch = short_tempdir("hs-bbuild-")
                try:
                    t0 = time.monotonic()
                    seeded = _build_seeded(scratch / "dc", n_users, n_groups)
                    partial = BENCH_CACHE / f".{key}.{os.getpid()}.partial"
                    _tar(scratch / "dc", partial)
                    os.replace(partial, archive)
                    log(f"  built in {time.monotonic() - t0:.0f} s (seeder {seeded.get('users_per_s')} users/s)")
                finally:
                    shutil.rmtree(scratch, ignore_errors=True)
    root = short_tempdir("hs-bench-")
    extract(archive, root / "dc")
    dc = SambaDC.open(root / "dc")
    dc.start(timeout=300)
    dc.bench_seed = json.loads((root / "dc" / "bench-seed.json").read_text())
    dc.bulk_ou = f"OU=Bulk,{dc.base_dn}"
    return dc


def drop_dc(dc: Any) -> None:
    try:
        dc.close()
    finally:
        shutil.rmtree(Path(dc.workdir).parent, ignore_errors=True)


def ad_config(dc: Any, scim_url: str, token_file: str, state_path: str, *, poll_interval: float = 0.5,
              notify: bool = True, max_in_flight: int = 4, include: tuple[str, ...] | None = None,
              delta: str = "dirsync", log_file: str | None = None, bulk_chunk: int | None = None) -> Config:
    """``log_file``: the config's ``[log] file`` with ``format = "console"`` (every event as JSON
    Lines to the file, warnings on stderr), for a child that logs as ``hybridsync sync`` does
    (``logsetup.configure_from``)."""
    os.environ[PW_ENV] = dc.admin_password
    src = SourceConfig(name="corp", kind="ad", urls=(dc.ldaps_url,), base_dn=dc.base_dn, bind_dn=dc.admin_dn,
                       password_env=PW_ENV, ca_file=str(dc.ca_file), tls_server_name=dc.tls_server_name,
                       delta=delta, page_size=1000, poll_interval=poll_interval, notify=notify,
                       scope=ScopeConfig(include_ous=include or (getattr(dc, "bulk_ou", dc.base_dn),),
                                         object_types=("user", "group")))
    tgt = TargetConfig(name="app", kind="scim", url=scim_url, token_file=token_file, object_types=("user", "group"),
                       max_in_flight=max_in_flight,  # default mappings (bulk users have UPNs)
                       **({} if bulk_chunk is None else {"bulk_chunk": bulk_chunk}))
    log = LogConfig(format="console", file=log_file) if log_file else LogConfig()
    return Config(sources=(src,), targets=(tgt,), state=StateConfig(path=state_path),
                  safety=SafetyConfig(delete_threshold=10**9), log=log)


def run_child(code: str, *args: str, timeout: float = 3600) -> dict:
    """Run ``code`` in a fresh interpreter (peak RSS of its own); it prints one JSON line last."""
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=str(Path(__file__).resolve().parents[1]))
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])

"""Every file the lab, the tests and the benchmarks take from Debian, and why.

``tests/test_debian_packages.py`` asks ``dpkg -S`` which package owns each of them and fails
unless ``scripts/bootstrap.sh`` installs that package (or something that hard-depends on it):
a file that only a *Recommends* brings (Debian 12's ``samba-ad-dc`` merely recommends
``samba-ad-provision``, which holds the schema files) is missing on a fresh machine whose
bootstrap installs with ``--no-install-recommends``. The lab checks the list before it starts,
so a missing package is named up front instead of by a provisioning error 40 s later.
"""

from __future__ import annotations

import os
import platform
import shutil
from pathlib import Path

import attrs

SBIN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
SAMBA_SETUP = "/usr/share/samba/setup"
MULTIARCH_LIB = f"/usr/lib/{platform.machine()}-linux-gnu"  # Debian's multiarch library folder
PG_BIN = "/usr/lib/postgresql/15/bin"  # Debian 12's PostgreSQL (package postgresql -> postgresql-15)


@attrs.frozen
class DebianFile:
    path: str  # an absolute path, or a bare command name looked up on PATH + sbin
    why: str

    def resolve(self) -> Path | None:
        """The file on this machine, or None when it is missing."""
        if os.path.isabs(self.path):
            return Path(self.path) if os.path.exists(self.path) else None
        found = shutil.which(self.path, path=os.environ.get("PATH", "") + ":" + SBIN_PATH)
        return Path(found) if found else None


REQUIRED: tuple[DebianFile, ...] = (
    DebianFile("samba", "the AD DC itself (engine/lab/samba.py)"),
    DebianFile("samba-tool", "domain provision, backup/restore, DNS records, drs kcc (engine/lab)"),
    DebianFile(f"{SAMBA_SETUP}/ad-schema/AD_DS_Attributes__Windows_Server_2012_R2.ldf",
               "the AD schema samba-tool domain provision reads"),
    DebianFile(f"{SAMBA_SETUP}/ad-schema/AD_DS_Classes__Windows_Server_2012_R2.ldf",
               "the AD schema samba-tool domain provision reads"),
    DebianFile(f"{SAMBA_SETUP}/provision.ldif", "the provision templates"),
    DebianFile("/usr/lib/python3/dist-packages/samba/__init__.py",
               "Samba's Python bindings: offline bulk seeding (engine/lab/seed_offline.py)"),
    DebianFile("/usr/bin/python3", "Debian's Python that runs the offline seeder with the samba bindings"),
    DebianFile("zstd", "the lab cache archives (engine/lab/samba_cache.py)"),
    DebianFile("tar", "the lab cache archives (engine/lab/samba_cache.py)"),
    DebianFile(f"{MULTIARCH_LIB}/libnss_wrapper.so", "name resolution of a joined second DC without /etc (engine/lab/samba_join.py)"),
    DebianFile(f"{MULTIARCH_LIB}/libresolv_wrapper.so", "DNS of a joined second DC without /etc (engine/lab/samba_join.py)"),
    DebianFile(f"{PG_BIN}/initdb", "the lab PostgreSQL's data directory (engine/lab/postgres.py)"),
    DebianFile(f"{PG_BIN}/postgres", "the lab PostgreSQL server (engine/lab/postgres.py)"),
    DebianFile("node", "runs the SCIMMY lab SCIM server (engine/lab/scimmy.py, npm packages in engine/lab/node)"),
)


def missing() -> list[DebianFile]:
    """The required files this machine lacks (empty after ``scripts/bootstrap.sh``)."""
    return [f for f in REQUIRED if f.resolve() is None]


def require() -> None:
    """Raise naming every missing file and what it is for, with the fix."""
    gone = missing()
    if gone:
        lines = "\n".join(f"  {f.path}: {f.why}" for f in gone)
        raise RuntimeError(f"the lab needs files from Debian packages that are not installed:\n{lines}\n"
                           "run scripts/bootstrap.sh (it installs every package the lab uses)")

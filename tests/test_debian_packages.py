"""Every file the lab, the tests and the benchmarks take from Debian comes from a package that
``scripts/bootstrap.sh`` installs, or from a hard dependency of one (Depends/Pre-Depends, never a
Recommends: bootstrap installs with --no-install-recommends), or from the machine image.

Wave 1 shipped a bootstrap without ``samba-ad-provision`` (only recommended by ``samba-ad-dc``)
and CI stayed green on a machine where it had been installed by hand; this test names the file
and the package instead of trusting anyone's memory.
"""

from __future__ import annotations

import os
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

from hybridsync.engine.lab import debian

ROOT = Path(__file__).resolve().parents[1]
IMAGE_LIST = ROOT.parent / "shared" / "machine" / "image-debian-packages.txt"


def bootstrap_packages() -> list[str]:
    text = (ROOT / "scripts" / "bootstrap.sh").read_text()
    found = re.search(r"^APT_PKGS=\(([^)]*)\)", text, re.M)
    assert found, "scripts/bootstrap.sh has no APT_PKGS=(...) list"
    return found.group(1).split()


def _query(package: str, field: str) -> str:
    out = subprocess.run(["dpkg-query", "-W", f"-f=${{{field}}}", package], capture_output=True, text=True)
    return out.stdout if out.returncode == 0 else ""


@cache
def hard_depends(package: str) -> tuple[str, ...]:
    """The packages ``package`` hard-depends on (Depends and Pre-Depends; of alternatives
    ``a | b`` only the first, which apt picks on a machine that has neither)."""
    names = []
    for field in ("Depends", "Pre-Depends"):
        for clause in filter(None, (c.strip() for c in _query(package, field).split(","))):
            first = clause.split("|")[0].strip()
            names.append(re.split(r"[\s(:]", first, maxsplit=1)[0])
    return tuple(names)


def closure(roots: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        pkg = todo.pop()
        if pkg in seen:
            continue
        seen.add(pkg)
        todo.extend(hard_depends(pkg))
    return seen


def image_packages() -> set[str]:
    if not IMAGE_LIST.exists():
        return set()
    return {ln.strip() for ln in IMAGE_LIST.read_text().splitlines() if ln.strip() and not ln.startswith("#")}


def owner(path: Path) -> str | None:
    """The package that ships ``path`` (tried as given and through its resolved and /usr-merged
    spellings, since Debian 12 ships e.g. tar as /bin/tar)."""
    candidates = {str(path), os.path.realpath(path)}
    for c in list(candidates):
        if c.startswith("/usr/"):
            candidates.add(c[len("/usr"):])
        else:
            candidates.add("/usr" + c)
    for c in sorted(candidates):
        out = subprocess.run(["dpkg", "-S", c], capture_output=True, text=True)
        if out.returncode == 0:
            return out.stdout.split(":", 1)[0].split(",")[0].strip()
    return None


def test_bootstrap_installs_without_recommends_so_the_list_must_be_complete():
    text = (ROOT / "scripts" / "bootstrap.sh").read_text()
    assert "--no-install-recommends" in text  # the reason this test exists
    assert "samba-ad-provision" in bootstrap_packages()


@pytest.mark.parametrize("needed", debian.REQUIRED, ids=lambda f: Path(f.path).name)
def test_each_file_the_lab_needs_comes_from_a_package_bootstrap_installs(needed):
    path = needed.resolve()
    assert path is not None, (f"{needed.path} ({needed.why}) is not on this machine: "
                              "scripts/bootstrap.sh must install the package that ships it")
    package = owner(path)
    assert package is not None, f"dpkg -S names no package for {path} ({needed.why})"
    essential = _query(package, "Essential") == "yes"
    reachable = closure(bootstrap_packages()) | image_packages()
    assert essential or package in reachable, (
        f"{path} ({needed.why}) comes from the Debian package {package!r}, which scripts/bootstrap.sh "
        f"neither installs nor gets through a hard Depends of a listed package: add it to APT_PKGS")


def test_the_closure_follows_depends_but_not_recommends():
    assert "samba-common-bin" in closure(["samba"])  # samba-tool's package: a Depends of samba
    assert "samba-ad-provision" not in closure(["samba-ad-dc"])  # only a Recommends there

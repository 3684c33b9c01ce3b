"""Packaging proof: ``pip install .`` and ``pip install -e .`` both give the hybridsync namespace.

A throwaway plain venv (no system site-packages) gets the package from a copy of the repository,
and every check runs from another directory so the checkout can never shadow what was installed.
The regular install is checked with its source copy moved away (the installed package must stand
alone); the editable one must resolve into the copy. Neither may expose a bare ``engine`` module.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "tests" / "samples" / "config" / "interface-md-example.toml"
IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
    ".hypothesis", "*.db", "*.db-wal", "*.db-shm", "lab-*", ".lab*",
)
CHECK = """
import importlib, json, sys
import hybridsync, hybridsync.engine, hybridsync.connectors, hybridsync.statestore
from hybridsync.connectors.base import available_kinds
bare = {}
for name in ("engine", "connectors", "statestore", "pkg"):
    try:
        importlib.import_module(name)
        bare[name] = "importable"
    except ModuleNotFoundError:
        bare[name] = "missing"
print(json.dumps({
    "files": [m.__file__ for m in (hybridsync, hybridsync.engine, hybridsync.connectors, hybridsync.statestore)],
    "kinds": sorted(available_kinds()),
    "bare": bare,
    "load_config": callable(hybridsync.engine.load_config),
}))
"""


def _copy_repo(dest: Path) -> None:
    """The files a checkout holds (tracked + untracked, minus .gitignore'd), or a filtered tree."""
    if (REPO / ".git").exists() and shutil.which("git"):
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO, capture_output=True, check=True,
        ).stdout.decode().split("\0")
        for rel in filter(None, listed):
            if (REPO / rel).is_file():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / rel, dest / rel)
    else:
        shutil.copytree(REPO, dest, ignore=IGNORE)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(args: list[str | Path], cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _pip(venv: Path, *args: str | Path, cwd: Path) -> None:
    # the suite's own pip drives the throwaway interpreter (--python): no pip inside that venv
    _run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "-q", *args], cwd=cwd)


def _check_installed(venv: Path, elsewhere: Path, expect_under: Path) -> None:
    import json

    proc = _run([venv / "bin" / "python", "-c", CHECK], cwd=elsewhere)
    facts = json.loads(proc.stdout)
    for file in facts["files"]:
        assert Path(file).resolve().is_relative_to(expect_under.resolve()), facts
        assert not Path(file).resolve().is_relative_to(REPO), facts
    assert {"ad", "scim"} <= set(facts["kinds"])
    assert facts["bare"] == dict.fromkeys(("engine", "connectors", "statestore", "pkg"), "missing")
    assert facts["load_config"] is True

    script = _run([venv / "bin" / "hybridsync", "--help"], cwd=elsewhere)
    module = _run([venv / "bin" / "python", "-m", "hybridsync", "--help"], cwd=elsewhere)
    for proc in (script, module):
        assert "check-config" in proc.stdout and "approve-deletes" in proc.stdout
    ok = _run([venv / "bin" / "hybridsync", "check-config", "--no-secrets", "-c", SAMPLE], cwd=elsewhere)
    assert ok.stdout.startswith(f"ok: {SAMPLE}: 1 source (corp: 1 DC, dirsync), 1 target (app: scim)")


@pytest.mark.slow
def test_pip_install_and_pip_install_editable_both_give_the_hybridsync_namespace(tmp_path):
    copy, moved, elsewhere = tmp_path / "src", tmp_path / "src-moved-away", tmp_path / "elsewhere"
    _copy_repo(copy)
    elsewhere.mkdir()
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()

    # build tools once, then build without isolation: saves two isolated build envs (~10 s each)
    _pip(venv, "install", "setuptools>=68", "wheel", cwd=elsewhere)
    _pip(venv, "install", "--no-build-isolation", copy, cwd=elsewhere)  # with its dependencies
    copy.rename(moved)
    site = next((venv / "lib").glob("python3.*/site-packages"))
    _check_installed(venv, elsewhere, expect_under=site)
    moved.rename(copy)

    _pip(venv, "install", "--no-deps", "--no-build-isolation", "-e", copy, cwd=elsewhere)  # replaces it
    _check_installed(venv, elsewhere, expect_under=copy)
    # takes ~50 s on an idle 2-core machine (35 s of it the registry), ~85 s at load average 6

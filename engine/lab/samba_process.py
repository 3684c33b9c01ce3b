"""The process side of a lab Samba DC: its pid file, stopping its process group, its log tail."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path


def pid_from_file(pid_file: Path) -> int | None:
    """The pid in ``pid_file`` if that process exists (or exists but is not ours to signal)."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def stop_process_group(pid: int, proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """SIGTERM ``pid``, wait up to ``timeout`` s, then SIGKILL its process group; idempotent."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None:
            if proc.poll() is not None:
                break
        else:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
        time.sleep(0.1)
    # Stragglers (tfork waiters, prefork workers) share the group we created at start.
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if proc is not None:
        proc.wait(timeout=10)
        if proc.stdin is not None:
            proc.stdin.close()


def log_tail(paths: Iterable[Path], lines: int = 20) -> str:
    """The last ``lines`` lines of each of ``paths`` that exists."""
    chunks: list[str] = []
    for path in paths:
        if path.exists():
            chunks.extend(path.read_text(errors="replace").splitlines()[-lines:])
    return "\n".join(chunks)

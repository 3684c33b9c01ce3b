"""The lab's errors: a service the lab runs (Samba, scim2-server) or the machine under it
failed, or a test may not start one."""

from __future__ import annotations

from hybridsync.engine.core.errors import HybridsyncError


class LabError(HybridsyncError, RuntimeError):
    """Base of the lab's errors (a ``RuntimeError`` too, as they always were)."""

"""Errors, classified by what the loop should do and by who is at fault.

- ``ConfigError``: the admin's config is wrong (exit 2); carries every problem found.
- ``Retriable``: try again later (a DC or target is unreachable, busy, timed out).
- ``Terminal``: this will not succeed as it is (bad credentials, missing right).
- ``ObjectError``: one object failed at one stage; the others proceed.

Every error names where it happened (``stage``: ``ldap_read``, ``normalize``, ``plan``,
``mapping``, ``scim_apply`` ...) and the object, and never carries a secret.
"""

from __future__ import annotations

from attrs import frozen


class HybridsyncError(Exception):
    """Base of every error hybridsync raises on purpose."""


@frozen
class ConfigProblem:
    file: str | None
    key: str  # key path, e.g. ``target[0].mapping.user.userName``
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        return f"{where}{self.key}: {self.message}"


class ConfigError(HybridsyncError):
    """The config is invalid. ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def single(cls, file: str | None, key: str, message: str) -> "ConfigError":
        return cls([ConfigProblem(file, key, message)])


class Retriable(HybridsyncError):
    """A passing failure: retry later. ``where`` names the DC or target."""

    def __init__(self, message: str, *, where: str | None = None, stage: str | None = None):
        self.where = where
        self.stage = stage
        super().__init__(message)


class Terminal(HybridsyncError):
    """A failure that retrying won't fix (bad credentials, missing right, refused base)."""

    def __init__(self, message: str, *, where: str | None = None, stage: str | None = None):
        self.where = where
        self.stage = stage
        super().__init__(message)


class SafetyStop(HybridsyncError):
    """A safety rule stopped the cycle (delete threshold, quarantine, unsafe watermark): exit 3."""


class ObjectError(HybridsyncError):
    """One object failed at one stage; the rest of the cycle proceeds."""

    def __init__(self, message: str, *, object_ref: str, stage: str, attribute: str | None = None):
        self.object_ref = object_ref
        self.stage = stage
        self.attribute = attribute
        where = f" ({attribute})" if attribute else ""
        super().__init__(f"{object_ref}{where} [{stage}]: {message}")

"""hybridsync's errors: one root, ``HybridsyncError``, and two axes beside each other.

Who is at fault (what the admin should look at):

- ``ConfigurationError``: the admin's configuration -- ``ConfigError`` carries every problem
  found in a config file; an expression or a target dialect that cannot work is one too;
- ``SourceError``: the source directory (a DC unreachable, a bind refused, a right missing);
- ``TargetError``: a target (targets report failures as result values, ``Done | RetryAfter |
  Terminal`` in ``connectors.base``; this is for what a target's set-up raises);
- ``EngineError``: hybridsync itself or its state store.

What the loop does:

- ``Retriable``: try again later (a DC or target is unreachable, busy, timed out);
- ``Permanent``: retrying won't fix it (bad credentials, missing right, refused base) -- the
  exception once called ``Terminal``, renamed so as not to be confused with the *result value*
  ``connectors.base.Terminal``, which is what a target returns for one object;
- ``SafetyStop``: a safety rule stops the cycle before it commits more (the state store's
  ``StaleWatermark`` and ``WatermarkRegression``: the cycle ends ``unsafe_watermark``);
- ``ObjectError``: one object failed at one stage; the others proceed.

A concrete error names both, e.g. ``SourceUnavailable(SourceError, Retriable)``. Every error
names where it happened (``stage``: ``ldap_read``, ``normalize``, ``plan``, ``mapping``,
``scim_apply`` ...) and the object, and never carries a secret.
"""

from __future__ import annotations

from attrs import frozen

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "ConfigurationError",
    "EngineError",
    "HybridsyncError",
    "ObjectError",
    "Permanent",
    "Retriable",
    "SafetyStop",
    "SourceError",
    "SourceRefused",
    "SourceUnavailable",
    "TargetError",
    "TargetRefused",
    "TargetUnavailable",
]


class HybridsyncError(Exception):
    """Base of every error hybridsync raises on purpose."""


# -- who is at fault ------------------------------------------------------------------------


class ConfigurationError(HybridsyncError):
    """The admin's configuration is wrong (exit 2)."""


class SourceError(HybridsyncError):
    """The source directory failed or refused."""


class TargetError(HybridsyncError):
    """A target failed in a way its result values cannot carry (e.g. its set-up)."""


class EngineError(HybridsyncError):
    """hybridsync itself: its state store, its own invariants."""


# -- what the loop does ---------------------------------------------------------------------


class Retriable(HybridsyncError):
    """A passing failure: retry later. ``where`` names the DC or target."""

    def __init__(self, message: str, *, where: str | None = None, stage: str | None = None):
        self.where = where
        self.stage = stage
        super().__init__(message)


class Permanent(HybridsyncError):
    """A failure that retrying won't fix (bad credentials, missing right, refused base)."""

    def __init__(self, message: str, *, where: str | None = None, stage: str | None = None):
        self.where = where
        self.stage = stage
        super().__init__(message)


class SafetyStop(HybridsyncError):
    """A safety rule stopped the cycle before it committed more (the watermark moved
    underneath or backwards): the cycle ends ``unsafe_watermark``, nothing past it commits."""


class ObjectError(HybridsyncError):
    """One object failed at one stage; the rest of the cycle proceeds."""

    def __init__(self, message: str, *, object_ref: str, stage: str, attribute: str | None = None):
        self.object_ref = object_ref
        self.stage = stage
        self.attribute = attribute
        where = f" ({attribute})" if attribute else ""
        super().__init__(f"{object_ref}{where} [{stage}]: {message}")


# -- concrete ---------------------------------------------------------------------------------


@frozen
class ConfigProblem:
    file: str | None
    key: str  # key path, e.g. ``target[0].mapping.user.userName``
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        return f"{where}{self.key}: {self.message}"


class ConfigError(ConfigurationError):
    """The config is invalid. ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def single(cls, file: str | None, key: str, message: str) -> ConfigError:
        return cls([ConfigProblem(file, key, message)])


class SourceUnavailable(SourceError, Retriable):
    """The source cannot be read now (unreachable, busy, timed out): the next cycle retries."""


class SourceRefused(SourceError, Permanent):
    """The source refuses us for a reason retrying won't fix (credentials, rights, base DN)."""


class TargetUnavailable(TargetError, Retriable):
    """A target call that cannot answer with a result value (an iterator) could not be made now."""


class TargetRefused(TargetError, Permanent):
    """A target call that cannot answer with a result value (an iterator) was refused."""

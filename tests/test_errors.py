"""One error hierarchy: every exception class hybridsync defines derives from
``HybridsyncError`` and says who is at fault or what the loop does."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

from hybridsync.engine.core import errors as E

PACKAGES = ["hybridsync.engine.core", "hybridsync.engine.config", "hybridsync.engine.mapping",
            "hybridsync.engine.lab", "hybridsync.connectors", "hybridsync.statestore"]


def _modules(package: str):
    pkg = importlib.import_module(package)
    yield pkg
    for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}."):
        try:
            yield importlib.import_module(info.name)
        except ModuleNotFoundError as exc:  # lab/seed_offline runs under the system's python3-samba
            if (exc.name or "").startswith("hybridsync"):
                raise


def _exception_classes():
    seen = {}
    for package in PACKAGES:
        for module in _modules(package):
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, BaseException) and cls.__module__ == module.__name__:
                    seen[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return seen


# Test doubles' own control flow, never raised to a caller of hybridsync: named here, one by one.
NOT_OURS = {
    "hybridsync.connectors.testing.graphfake.errors.GraphError": "the fake Graph server's HTTP error, turned into a reply",
    "hybridsync.statestore.testing.stateful.Boom": "the store kit's simulated crash inside a commit unit",
    "hybridsync.connectors.scim.transport.DeadlineExceeded":
        "an httpx.TimeoutException the SCIM transport raises and its target turns into RetryAfter",
    "hybridsync.connectors.scim.transport.ResponseTooLarge":
        "an httpx.RequestError the SCIM transport raises and its target turns into RetryAfter",
    "hybridsync.connectors.testing.graphfake.assertion.Refused":
        "the fake token endpoint's refusal of a client assertion, turned into a 401 reply",
}


def test_every_exception_class_derives_from_hybridsync_error():
    classes = _exception_classes()
    assert len(classes) > 15
    outside = sorted(name for name, cls in classes.items()
                     if not issubclass(cls, E.HybridsyncError) and name not in NOT_OURS)
    assert outside == []
    assert set(NOT_OURS) <= set(classes)  # an entry whose class is gone must go too


@pytest.mark.parametrize("cls, fault, loop", [
    (E.SourceUnavailable, E.SourceError, E.Retriable),
    (E.SourceRefused, E.SourceError, E.Permanent),
])
def test_concrete_source_errors_name_both_axes(cls, fault, loop):
    err = cls("DC x: refused", where="ldaps://x", stage="ldap_read")
    assert isinstance(err, fault) and isinstance(err, loop) and err.where == "ldaps://x"


def test_the_state_store_watermark_errors_are_safety_stops():
    from hybridsync.statestore import StaleWatermark, StoreError, WatermarkRegression

    assert issubclass(StaleWatermark, E.SafetyStop) and issubclass(WatermarkRegression, E.SafetyStop)
    assert issubclass(StoreError, E.EngineError)


def test_config_errors_are_configuration_errors_and_the_result_value_is_not_an_exception():
    from hybridsync.connectors.base import Terminal
    from hybridsync.connectors.scim.dialect import DialectError
    from hybridsync.engine.mapping.expressions import ExpressionError

    for cls in (E.ConfigError, DialectError, ExpressionError):
        assert issubclass(cls, E.ConfigurationError)
    assert not issubclass(Terminal, BaseException)  # the target's answer, a value
    assert not hasattr(E, "Terminal")  # the exception is ``Permanent``

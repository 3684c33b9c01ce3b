"""Helpers for engine tests: a config, an in-memory directory, a fake clock."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from hybridsync.connectors.testing.memory import MemorySource, MemoryTarget
from hybridsync.engine.core.config import Config, SafetyConfig, ScopeConfig, SourceConfig, TargetConfig
from hybridsync.engine.runtime.engine import Engine
from hybridsync.engine.core.values import ObjectKind, SourceObject
from hybridsync.statestore import Store

BASE = "DC=lab,DC=test"
STAFF = f"OU=Staff,{BASE}"
OTHER = f"OU=Other,{BASE}"


class Clock:
    def __init__(self, start: datetime = datetime(2026, 1, 1, tzinfo=UTC)):
        self.t = start

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **kw) -> None:
        self.t += timedelta(**kw)


def guid(n: int) -> str:
    return base64.b64encode(n.to_bytes(16, "big")).decode()


def user(n: int, ou: str = STAFF, *, disabled: bool = False, **extra) -> SourceObject:
    attrs = {"userprincipalname": f"u{n}@lab.test", "samaccountname": f"u{n}", "givenname": f"Given{n}",
             "sn": f"Sur{n}", "displayname": f"User {n}", "cn": f"u{n}",
             "useraccountcontrol": "514" if disabled else "512"}
    attrs.update({k.lower(): v for k, v in extra.items()})
    return SourceObject(anchor=guid(n), object_guid=guid(n), kind=ObjectKind.USER, dn=f"CN=u{n},{ou}",
                        attributes=attrs)


def group(n: int, members=(), ou: str = STAFF) -> SourceObject:
    return SourceObject(anchor=guid(n), object_guid=guid(n), kind=ObjectKind.GROUP, dn=f"CN=g{n},{ou}",
                        attributes={"cn": f"g{n}", "samaccountname": f"g{n}"},
                        members=frozenset(guid(m) for m in members))


def config(*, include=(STAFF,), safety: SafetyConfig | None = None, targets=("app",)) -> Config:
    return Config(
        sources=(SourceConfig(name="corp", kind="memory", base_dn=BASE, poll_interval=0.05,
                              scope=ScopeConfig(include_ous=tuple(include))),),
        targets=tuple(TargetConfig(name=t, kind="memory", object_types=("user", "group")) for t in targets),
        safety=safety or SafetyConfig(),
    )


def make_engine(source: MemorySource, targets: dict[str, MemoryTarget], *, store=None, clock=None, **cfg):
    cfg_ = config(targets=tuple(targets), **cfg)
    return Engine(cfg_, store=store or Store.open(":memory:"), sources={"corp": source}, targets=targets,
                  clock=clock or Clock())


def users_at(target: MemoryTarget) -> dict[str, dict]:
    """userName -> record of the target's users."""
    return {r["attributes"].get("userName"): r for r in target.store.values() if r["kind"] == ObjectKind.USER}

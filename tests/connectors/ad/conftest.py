"""Helpers for the AD source tests: a SourceConfig for a lab DC, with the password in the env."""

from __future__ import annotations

import itertools

import attrs
import pytest

from hybridsync.connectors.ad import AdSource
from hybridsync.engine.core.config import SourceConfig

_counter = itertools.count()


@pytest.fixture
def make_source(monkeypatch):
    """``make_source(dc, **config_overrides, attributes=..., member_range=...) -> AdSource``.

    Binds as the DC's administrator unless ``bind_dn``/``password`` are given. Every source is
    closed at the end of the test.
    """
    made: list[AdSource] = []

    def make(dc, *, password: str | None = None, attributes=("displayName", "mail", "givenName", "sn",
                                                               "telephoneNumber", "otherTelephone", "title"),
             member_range: int | None = None, **overrides) -> AdSource:
        env = f"HS_TEST_AD_PW_{next(_counter)}"
        monkeypatch.setenv(env, password if password is not None else dc.admin_password)
        config = SourceConfig(
            name="ad",
            urls=(dc.ldaps_url,),
            base_dn=dc.base_dn,
            bind_dn=dc.admin_dn,
            password_env=env,
            ca_file=str(dc.ca_file),
            tls_server_name=dc.tls_server_name,
        )
        config = attrs.evolve(config, **overrides)
        source = AdSource(config, attributes=attributes, member_range=member_range)
        made.append(source)
        return source

    yield make
    for source in made:
        source.close()


def everything(batches):
    """(objects by object_guid, errors, batches) of a list of batches."""
    batches = list(batches)
    objs = {o.object_guid: o for b in batches for o in b.objects}
    errs = [e for b in batches for e in b.errors]
    return objs, errs, batches

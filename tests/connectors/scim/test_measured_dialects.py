"""Each real SCIM server's measured dialect (issue 16's list of behaviours seen in the wild) is
recorded in ``tests/samples/measured-<server>.json``: the raw answers (``measure.py``) and the
dialect the connector learns by discovery and probing. This test measures again and compares,
so a server upgrade that changes a behaviour is named, and ``connectors/README.md`` stays true."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hybridsync.connectors.base import Done
from hybridsync.connectors.scim import ScimTarget
from hybridsync.engine.core.values import ObjectKind as K
from hybridsync.engine.lab.pytest_scim import MEASURED_SCIM_SERVERS, any_scim_server

from .measure import measure

pytestmark = pytest.mark.scim
SAMPLES = Path(__file__).resolve().parents[2] / "samples"
LEARNED = ("patch", "filter", "etag", "max_results", "member_removal", "patch_response", "extensions",
           "filter_vouched", "endpoints", "update_by_put", "dropped", "computed")


@pytest.fixture(params=sorted(MEASURED_SCIM_SERVERS))
def scim_server(request):
    return any_scim_server(request)


def learned(target: ScimTarget) -> dict:
    """The dialect after discovery and the first writes (which probe)."""
    uid = target.create(K.USER, "YQ==", {"userName": "Probe@corp.example"}).target_id
    other = target.create(K.USER, "Yg==", {"userName": "other@corp.example", "displayName": "Other",
                                           "name.givenName": "O", "name.familyName": "Ther", "title": "T",
                                           'emails[type eq "work"].value': "other@corp.example"}).target_id
    gid = target.create(K.GROUP, "Zw==", {"displayName": "Probe group"}).target_id
    inner = target.create(K.GROUP, "aA==", {"displayName": "Inner group"}).target_id
    assert isinstance(target.add_members(gid, [(K.USER, uid), (K.USER, other), (K.GROUP, inner)]), Done)
    assert isinstance(target.remove_members(gid, [(K.USER, uid)]), Done)
    assert isinstance(target.update(K.GROUP, gid, {"displayName": "Probe group renamed"}), Done)
    shown = target.describe()
    return {k: shown[k] for k in LEARNED}


def test_each_server_still_behaves_as_recorded(request, scim_server, scim_target_config):
    name = request.node.callspec.params["scim_server"]
    scim_server.reset()
    raw = measure(scim_server.url, scim_server.token)
    scim_server.reset()
    target = ScimTarget(scim_target_config)
    try:
        got = {"server": name, "measured": raw, "learned": learned(target)}
    finally:
        target.close()
    path = SAMPLES / f"measured-{name}.json"
    if not path.exists():  # first run on a new server: record it (review and commit the file)
        path.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert got == json.loads(path.read_text())

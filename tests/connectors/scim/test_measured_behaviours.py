"""Issue 16's behaviours measured in the wild that no other test drives through the connector:
SCIMMY answers ``emails.value eq`` with 400 as soon as a user has no email, and pages a listing
by 20 whatever was asked; a lookup by email still finds the user and a listing is complete."""

from __future__ import annotations

import attrs
import pytest

from hybridsync.connectors.base import Done
from hybridsync.connectors.scim import ScimTarget
from hybridsync.engine.core.values import ObjectKind as K

pytestmark = pytest.mark.scim
WORK = 'emails[type eq "work"].value'


def test_scimmy_lookup_by_email_and_a_complete_listing_past_its_pages(scimmy_server, scim_target_config):
    scimmy_server.reset()
    target = ScimTarget(attrs.evolve(scim_target_config, url=scimmy_server.url, token_file=scimmy_server.token_file))
    try:
        made = {}
        for i in range(45):
            attributes = {"userName": f"u{i}@corp.example"}
            if i % 3:  # every third user has no email: SCIMMY's emails filter then answers 400
                attributes[WORK] = f"mail{i}@corp.example"
            made[i] = target.create(K.USER, f"YW5jaG9y{i:02d}", attributes).target_id
        found = target.lookup_by_attribute(K.USER, WORK, "mail44@corp.example")
        assert isinstance(found, Done) and [o.target_id for o in found.found] == [made[44]]
        assert target.lookup_by_attribute(K.USER, WORK, "nobody@corp.example").found == ()
        listed = target.list_objects(K.USER)
        assert isinstance(listed, Done) and {o.target_id for o in listed.found} == set(made.values())
    finally:
        target.close()

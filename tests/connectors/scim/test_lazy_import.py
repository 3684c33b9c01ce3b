"""The SCIM connector does not load scim2-models (and pydantic) until an error answer needs
them: ~17 MB resident at every engine start (issue 17, P5). The URNs it spells out are
scim2-models' own."""

import subprocess
import sys

from scim2_models import EnterpriseUser, Group, PatchOp, User

from hybridsync.connectors.scim import check, prepare


def test_the_engine_with_the_scim_and_ad_connectors_starts_without_scim2_models():
    code = ("import sys\n"
            "from hybridsync.engine.runtime.engine import Engine\n"
            "from hybridsync.connectors.scim import ScimTarget\n"
            "from hybridsync.connectors.ad import AdSource\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scim2_models', 'pydantic')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_urns_are_the_ones_scim2_models_defines():
    assert prepare.USER_SCHEMA == User.__schema__
    assert prepare.GROUP_SCHEMA == Group.__schema__
    assert prepare.ENTERPRISE == EnterpriseUser.__schema__
    assert prepare.PATCH_SCHEMA == PatchOp.__schema__
    from scim2_models import BulkRequest
    assert prepare.BULK_REQUEST_SCHEMA == BulkRequest.__schema__


def test_an_error_answer_is_still_classified_through_scim2_models():
    r = check.classify(409, {}, {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "409",
                                 "scimType": "uniqueness", "detail": "userName taken"}, what="create u1",
                       conflict="userName")
    assert r.status == 409 and r.scim_type == "uniqueness" and "already in use" in r.why
    assert check.classify(404, {}, None, what="update u1").status == 404

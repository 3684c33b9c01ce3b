"""Issue 14, finding 5: every LDAP page's result code is checked (ldap3 does not raise on
timeLimitExceeded (3) or sizeLimitExceeded (4)); a read that is cut short is never complete and
never moves a watermark past what was read. Against a scripted connection: Samba cannot be made
to answer 3 with an empty paging cookie on demand."""

from __future__ import annotations

import pytest

from hybridsync.connectors.ad import query
from hybridsync.connectors.ad.source import AdSource
from hybridsync.engine.core.config import SourceConfig
from hybridsync.engine.core.errors import Retriable
from hybridsync.engine.core.values import DcIdentity, ReadMode, Refresh, UsnWatermark

DC = DcIdentity(url="ldap://dc1", invocation_id="inv-1", highest_usn=500)


class ScriptedConnection:
    """Answers each search with the next (result code, paging cookie) of its script, no entries."""

    closed = False

    def __init__(self, script: list[tuple[int, bytes]]):
        self.script = list(script)
        self.result: dict = {}
        self.response: list | None = None

    def search(self, *args, **kwargs) -> bool:
        code, cookie = self.script.pop(0)
        self.result = {"result": code, "description": {0: "success", 3: "timeLimitExceeded",
                                                        4: "sizeLimitExceeded"}.get(code, "other"),
                       "message": "", "controls": {query.OID_PAGED: {"value": {"cookie": cookie}}}}
        self.response = []
        return code == 0


def source(script: list[tuple[int, bytes]]) -> AdSource:
    src = AdSource(SourceConfig(name="corp", urls=("ldap://dc1",), base_dn="DC=lab,DC=test", delta="usn",
                                page_size=10))
    src._conn = ScriptedConnection(script)  # type: ignore[assignment]
    src._url = "ldap://dc1"
    src._deletions_visible = False
    src._start = lambda: DC  # type: ignore[method-assign]
    return src


@pytest.mark.parametrize("code", [3, 4, 11, 51])
def test_a_full_read_page_answering_a_non_success_code_fails_the_read_as_retriable(code):
    batches = []
    with pytest.raises(Retriable):
        for b in source([(0, b"more"), (code, b"")]).read(Refresh("first")):
            batches.append(b)
    assert all(not b.complete and not b.last for b in batches)


def test_a_full_read_of_success_pages_is_complete():
    batches = list(source([(0, b"more"), (0, b"")]).read(Refresh("first")))
    assert batches[-1].last and batches[-1].complete and batches[-1].mode == ReadMode.FULL


@pytest.mark.parametrize("code", [3, 4])
def test_a_usn_delta_cut_short_never_yields_the_new_watermark(code):
    batches = []
    with pytest.raises(Retriable):
        for b in source([(0, b"more"), (code, b"")]).read(UsnWatermark("inv-1", 100)):
            batches.append(b)
    assert all(b.cursor == UsnWatermark("inv-1", 100) for b in batches)

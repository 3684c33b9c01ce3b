"""``ad.changed``: a DirSync page's objects get the DC's whenChanged from one search per chunk;
objects that have it keep theirs, and a failed search leaves the page as read (the metric only)."""

from __future__ import annotations

import base64

from hybridsync.connectors.ad import changed
from hybridsync.engine.core.values import ObjectKind, SourceObject


class _Log:
    def __init__(self):
        self.events = []

    def info(self, event, **kw):
        self.events.append((event, kw))


def _obj(n: int, **attrs) -> SourceObject:
    guid = base64.b64encode(n.to_bytes(16, "big")).decode()
    return SourceObject(anchor=guid, object_guid=guid, kind=ObjectKind.USER, dn=f"CN=u{n}", partial=True,
                        attributes={k.lower(): (v,) for k, v in attrs.items()})


def test_each_object_lacking_whenchanged_gets_the_dcs_in_chunked_searches():
    objects = [_obj(n) for n in range(1, changed.CHUNK + 3)] + [_obj(500, whenChanged="20260101000000.0Z")]
    filters = []

    def search(op, base, flt, scope, **kw):
        filters.append(flt)
        assert kw["attributes"] == ["objectGUID", "whenChanged"] and base == "DC=lab,DC=test"
        return [{"raw_attributes": {"objectGUID": [n.to_bytes(16, "big")], "whenChanged": [b"20261203123456.0Z"]}}
                for n in range(1, changed.CHUNK + 2)]  # the last object is not found (gone meanwhile)

    out = changed.with_when_changed(search, "DC=lab,DC=test", objects, _Log())
    assert len(filters) == 2 and filters[0].count("(objectGUID=") == changed.CHUNK
    assert [o.first("whenChanged") for o in out[:changed.CHUNK + 1]] == ["20261203123456.0Z"] * (changed.CHUNK + 1)
    assert out[changed.CHUNK + 1] is objects[changed.CHUNK + 1]  # not found: as read
    assert out[-1] is objects[-1]  # had its own: not asked for
    assert all(o.partial and o.anchor == p.anchor for o, p in zip(out, objects))


def test_a_failed_search_leaves_the_page_as_read_and_says_so():
    objects = [_obj(1, displayName="x")]

    def search(*a, **kw):
        raise TimeoutError("DC gone")

    log = _Log()
    assert changed.with_when_changed(search, "DC=lab,DC=test", objects, log) == tuple(objects)
    assert log.events[0][0] == "ad.when_changed_unread" and "DC gone" in log.events[0][1]["error"]

"""Memory of the full-read path (issue 17, P5): a page is not held twice, and values every
object of a page repeats are held once. Behaviour, not RSS: no timing, no threshold."""

import json
from pathlib import Path

import structlog

from hybridsync.connectors.ad import pages
from hybridsync.connectors.ad.normalize import RawEntry, from_ldap_entry
from hybridsync.engine.core.values import ObjectKind, SourceObject

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def ldap3_page(name: str) -> list[dict]:
    """A golden Samba page in the shape ldap3 hands the source (``decode_raw_only``)."""
    out = []
    for e in json.loads((SAMPLES / name).read_text())["entries"]:
        raw = RawEntry.from_json(e)
        out.append({"raw_dn": raw.dn.encode(), "dn": raw.dn, "raw_attributes": dict(raw.raw), "attributes": {},
                    "type": "searchResEntry"})
    return out


def no_ranges(dn, attribute):  # the sample page's one ranged group is reported, not followed here
    return []


def normalize(found):
    return pages.normalize_page(found, partial=False, binary=frozenset(pages.normalize.BINARY_ATTRIBUTES),
                                member_range=None, read_range=no_ranges, log=structlog.get_logger())


def test_normalizing_a_page_releases_each_raw_entry_as_its_object_is_made():
    found = ldap3_page("samba-fullread-odd-page-1.json")
    n = len(found)
    objects, errors = normalize(found)
    assert len(found) == n and all(slot is None for slot in found)  # nothing of the raw page is kept
    assert len(objects) + len(errors) > 0


def test_a_page_gives_the_same_objects_as_one_entry_at_a_time():
    objects, errors = normalize(ldap3_page("samba-fullread-odd-page-1.json"))
    alone = [from_ldap_entry(RawEntry.from_ldap3(item)) for item in ldap3_page("samba-fullread-odd-page-1.json")]
    assert list(objects) == [o for o in alone if isinstance(o, SourceObject)]
    assert len(errors) == sum(1 for o in alone if o is not None and not isinstance(o, SourceObject))


def test_values_a_page_repeats_are_one_tuple_and_the_dn_and_guid_are_not_copied():
    objects, _ = normalize(ldap3_page("samba-fullread-odd-page-1.json"))
    users = [o for o in objects if o.kind is ObjectKind.USER]
    assert len(users) >= 2
    classes = {id(u.attributes["objectclass"]) for u in users}
    assert len(classes) == len({u.attributes["objectclass"] for u in users})  # one tuple per distinct value
    categories = {id(u.attributes["objectcategory"]) for u in users}
    assert len(categories) == len({u.attributes["objectcategory"] for u in users})
    for o in objects:
        if o.attributes.get("distinguishedname"):
            assert o.attributes["distinguishedname"][0] is o.dn
        assert o.attributes["objectguid"][0] is o.object_guid

"""The recordings codec (statestore/codec.py): every text comes back exactly; a plain row of an
older format reads as it is; a large JSON page is kept several-fold smaller."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hybridsync.statestore.codec import MIN_PACK, VERBATIM, ZLIB, pack, unpack

texts = st.one_of(
    st.text(),
    st.text(min_size=MIN_PACK, max_size=4 * MIN_PACK),
    st.builds(lambda t: t * 50, st.text(min_size=1, max_size=40)),  # long and compressible
    st.builds(lambda m, t: m + t, st.sampled_from(["~", ZLIB, VERBATIM, "~z", "~z1"]), st.text()),
)


@given(texts)
def test_every_text_comes_back_exactly_and_is_never_kept_longer_than_an_escape(text):
    kept = pack(text)
    assert unpack(kept) == text
    assert len(kept) <= len(text) + len(VERBATIM)
    if kept.startswith(ZLIB):
        assert kept.isascii()  # a plain text value in either store and in a dump


@given(st.text().filter(lambda t: not t.startswith("~")))
def test_a_plain_row_of_an_older_format_reads_as_it_is(text):
    assert unpack(text) == text


def test_a_page_of_json_objects_is_kept_compressed_several_fold():
    doc = json.dumps({"objects": [{"anchor": f"a{i}", "attributes": {"title": [f"t{i % 9}"]}} for i in range(500)]})
    kept = pack(doc)
    assert kept.startswith(ZLIB) and len(kept) * 5 < len(doc) and unpack(kept) == doc


def test_a_mark_of_an_unknown_codec_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown codec mark '~z9:'"):
        unpack("~z9:abc")

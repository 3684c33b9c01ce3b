"""Hypothesis strategies for target-connector tests: anchors, names that stress quoting, projections."""

from __future__ import annotations

import base64

from hypothesis import strategies as st

# objectGUIDs as anchors: base64 with '+', '/' and '=' in them (they must survive filters)
anchors = st.binary(min_size=16, max_size=16).map(lambda b: base64.b64encode(b).decode())

# text a filter or JSON body must quote and escape: quotes, backslashes, brackets, non-ASCII
_tricky = st.sampled_from(['"', "\\", "[", "]", " eq ", "'", "é", "ü", "李", " and "])
_plain = st.text(alphabet=st.characters(min_codepoint=0x30, max_codepoint=0x7A, categories=("Lu", "Ll", "Nd")),
                 min_size=1, max_size=8)
display_names = st.lists(st.one_of(_plain, _tricky), min_size=1, max_size=5).map("".join).map(str.strip).filter(bool)
local_parts = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=12).filter(
    lambda s: s[0].isalnum() and s[-1].isalnum() and ".." not in s
)
emails = local_parts.map(lambda s: f"{s}@corp.example")

# the mutable user attributes of a projection (userName is immutable in the model: it is the key)
user_changes = st.fixed_dictionaries(
    {},
    optional={
        "displayName": st.one_of(st.none(), display_names),
        "name.givenName": st.one_of(st.none(), display_names),
        "title": st.one_of(st.none(), display_names),
        'emails[type eq "work"].value': st.one_of(st.none(), emails),
    },
).filter(bool)

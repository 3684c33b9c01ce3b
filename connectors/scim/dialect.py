"""SCIM dialects: what a service provider supports and how it wants things said.

A ``Dialect`` is built in three layers, each recorded in ``sources`` so ``status`` can say where
every field came from:

1. a base: the built-in profile named by ``[target.dialect] profile = "..."``, else defaults;
2. discovery (``from_discovery``, pure): ``/ServiceProviderConfig`` and
   ``/ResourceTypes`` as fetched (each may be absent: then the base stands);
3. the admin's overrides from ``[target.dialect]`` (``with_overrides``), which always win.

What discovery cannot tell (boolean style, op-name case, member-removal style, how a
``emails[type eq "work"].value`` update must be phrased) comes from the profile, and the target
corrects it by probing on objects hybridsync itself created: e.g. a 400 to a PATCH that removes
members by ``path=members[value eq "x"]`` switches to the ``value`` array style and retries.

Built-in profiles (samples under ``tests/samples/`` named by origin):

- ``rfc7644-strict``: RFC 7644 as written (lowercase ops, JSON booleans, filtered-path removal,
  ``noTarget`` for a replace whose value filter matches nothing, so remove + add).
- ``entra-scim-client``: how Microsoft Entra's provisioning client talks: ``Replace``/``Add``/
  ``Remove``, booleans as ``"True"``/``"False"``, filters only ``eq`` and ``and``, member removal
  as a ``value`` array, ``emails[type eq "work"].value`` replaced in place.
- ``aws-identity-center``: AWS IAM Identity Center: at most 100 member changes per PATCH, no
  ``members`` in GET, filters ``eq`` only, no ETag, no bulk, at most 50 results per page.
- ``scim2-server``: python-scim's scim2-server 0.8 as measured on loopback: everything announced
  (PATCH, filter, sort, ETag, bulk 1000 ops, 1000 results); PATCH answers 204 without a body;
  ``remove`` with a ``value`` is refused (400 invalidValue), so removal is by filtered path; a
  replace of ``emails[type eq "work"].value`` with no work email is 400 noTarget (so remove +
  add); string booleans are accepted; adding an existing member is a no-op; ``/Bulk`` takes 1000
  operations and 1 MiB, each POST answered 201 with ``location`` and no resource.

Bulk (``bulk_max_operations``, 0 = none): announced by ``bulk.supported`` / ``maxOperations`` /
``maxPayloadSize``; the entra and aws profiles pin 0; ``[target.dialect] bulk_max_operations = 0``
turns it off; a 400/404/405/501 to ``/Bulk`` itself sets it to 0 (``probe:bulk-refused``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import attrs
from attrs import field, frozen

from hybridsync.engine.core.errors import ConfigurationError
from hybridsync.engine.core.values import frozen_mapping

ALL_OPERATORS = ("eq", "ne", "co", "sw", "ew", "pr", "gt", "ge", "lt", "le", "and", "or", "not")
CHOICES: Mapping[str, tuple[str, ...]] = {
    "member_removal": ("path-filter", "value-array"),
    "boolean_style": ("json", "string"),
    "op_case": ("lower", "capitalized"),
    "value_path_update": ("remove-add", "replace"),
    "patch_response": ("no-content", "resource", "unknown"),
}


KINDS = ("user", "group", "contact")  # the prefixes of ``dropped`` / ``computed`` entries


# Keys that once were dialect fields but never changed what hybridsync does (the enterprise
# extension is sent as mapped, members are never asked for in a GET): still accepted in
# ``[target.dialect]`` so that a config naming them keeps loading, and ignored.
RETIRED = frozenset({"enterprise_extension", "members_in_get"})
INTEGERS = ("bulk_max_operations", "bulk_max_payload")


ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def _optional_tuple(value: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(str(v) for v in value)


@frozen
class Dialect:
    profile: str = "discovered"
    patch: bool = True
    filter: bool = True
    filter_operators: tuple[str, ...] = ALL_OPERATORS
    etag: bool = False
    max_results: int | None = None
    member_removal: str = "path-filter"
    boolean_style: str = "json"
    op_case: str = "lower"
    value_path_update: str = "remove-add"
    member_chunk_max: int | None = None  # a hard per-PATCH cap of the service
    patch_response: str = "unknown"
    # SCIM Bulk (RFC 7644 §3.7): at most this many operations per /Bulk request (0 = no bulk:
    # creates go one POST each) and this many bytes per request (None = not announced)
    bulk_max_operations: int = 0
    bulk_max_payload: int | None = None
    # kinds ("user", "group", "contact") whose updates go by GET + PUT: the service refused a PATCH
    # of their attributes (405/501, e.g. a group rename); member deltas stay PATCH
    update_by_put: tuple[str, ...] = field(default=(), converter=tuple)
    # schema extensions of the User resource type (ResourceTypes ``schemaExtensions``); None =
    # not announced (everything is sent). Attributes of another extension are never sent.
    extensions: tuple[str, ...] | None = field(default=None, converter=_optional_tuple)
    # attributes whose ``eq`` filter answer is the truth (an empty answer proves absence); None =
    # every filter. Others: an empty answer falls back to a listing (lookup.py), issue 16.
    filter_vouched: tuple[str, ...] | None = field(default=(), converter=_optional_tuple)
    # "<kind>:<flat path>" the service answered without (``dropped``: e.g. django-scim2 keeps no
    # ``userType``, ``title`` or email ``type``) or with another value than was sent (``computed``:
    # its User ``displayName`` comes from the name parts), learned from its own answers to our
    # writes (``notkept.py``). Never an update loop (the state store remembers what was written),
    # never a failure; shown by ``describe()`` and recorded in the target profile.
    dropped: tuple[str, ...] = field(default=(), converter=tuple)
    computed: tuple[str, ...] = field(default=(), converter=tuple)
    endpoints: Mapping[str, str] = field(factory=dict, converter=frozen_mapping)  # type -> /Users
    sources: Mapping[str, str] = field(factory=dict, converter=frozen_mapping)  # field -> origin

    def to_dict(self) -> dict[str, Any]:
        out = attrs.asdict(self, recurse=False)
        out["filter_operators"] = list(self.filter_operators)
        out["extensions"] = None if self.extensions is None else list(self.extensions)
        out["update_by_put"] = list(self.update_by_put)
        out["dropped"] = list(self.dropped)
        out["computed"] = list(self.computed)
        out["filter_vouched"] = None if self.filter_vouched is None else list(self.filter_vouched)
        out["endpoints"] = dict(self.endpoints)
        out["sources"] = dict(self.sources)
        return out

    def supports(self, operator: str) -> bool:
        return self.filter and operator in self.filter_operators

    def vouches(self, attribute: str) -> bool:
        """True when an empty ``attribute eq`` answer proves that nothing matches."""
        return self.filter_vouched is None or attribute in self.filter_vouched

    def sends(self, attribute: str) -> bool:
        """False for an attribute of a schema extension the service does not announce."""
        if self.extensions is None or not attribute.startswith("urn:"):
            return True
        return any(attribute.startswith(ext + ":") for ext in self.extensions)

    def not_kept(self, kind: str) -> frozenset[str]:
        """The flat paths of ``kind`` the service drops or computes (never read back as sent)."""
        prefix = f"{kind}:"
        return frozenset(e[len(prefix):] for e in (*self.dropped, *self.computed) if e.startswith(prefix))

    def endpoint(self, resource_type: str) -> str:
        return self.endpoints.get(resource_type) or f"/{resource_type}s"

    def set(self, origin: str, **changes: Any) -> "Dialect":
        """A copy with ``changes`` applied and their origin recorded."""
        sources = dict(self.sources)
        sources.update({k: origin for k in changes})
        return attrs.evolve(self, sources=sources, **changes)


_RFC = Dialect(profile="rfc7644-strict", etag=True, filter_vouched=None)
PROFILES: Mapping[str, Dialect] = {
    "rfc7644-strict": _RFC,
    "entra-scim-client": Dialect(
        profile="entra-scim-client",
        filter_operators=("eq", "and"),
        etag=False,
        member_removal="value-array",
        boolean_style="string",
        op_case="capitalized",
        value_path_update="replace",
        patch_response="no-content",
        filter_vouched=None,
    ),
    "aws-identity-center": Dialect(
        profile="aws-identity-center",
        filter_operators=("eq",),
        etag=False,
        max_results=50,
        member_removal="value-array",
        member_chunk_max=100,
        value_path_update="replace",
        patch_response="no-content",
        filter_vouched=None,
    ),
    "scim2-server": Dialect(
        profile="scim2-server",
        etag=True,
        max_results=1000,
        member_removal="path-filter",
        boolean_style="json",
        value_path_update="remove-add",
        patch_response="no-content",
        extensions=(ENTERPRISE_USER,),
        bulk_max_operations=1000,
        bulk_max_payload=1048576,
        filter_vouched=("displayName", "externalId", "userName"),  # nickName eq: 200, 0 results
    ),
}


def base_dialect(overrides: Mapping[str, Any] | None) -> Dialect:
    name = (overrides or {}).get("profile")
    if name is None:
        return Dialect()
    if name not in PROFILES:
        raise DialectError("profile", f"unknown profile {name!r}; built in: {', '.join(sorted(PROFILES))}")
    base = PROFILES[name]
    return attrs.evolve(base, sources={k: f"profile:{name}" for k in _fields()})


class DialectError(ConfigurationError, ValueError):
    """A dialect setting that cannot work (names the ``dialect.<key>``)."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"dialect.{key}: {message}")


def _fields() -> list[str]:
    return [f.name for f in attrs.fields(Dialect) if f.name not in ("profile", "sources", "endpoints")]


def _get(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def resolve_endpoint(base_url: str, endpoint: str) -> str:
    """A ResourceType ``endpoint`` as the path to append to ``base_url``.

    RFC 7643 §6 says "relative to the Base URL, e.g. /Users", and servers differ: an endpoint
    that already repeats the base path (``/scim/v2/Users`` under ``.../scim/v2``) or an absolute
    URL on the same origin is used as it is. Another origin, or a path outside the base URL, is a
    ``DialectError`` (the credentials are never sent elsewhere).
    """
    base = urlsplit(base_url)
    base_path = base.path.rstrip("/")
    ep = endpoint.strip()
    parts = urlsplit(ep)
    if parts.scheme or parts.netloc:
        if (parts.scheme.lower(), parts.netloc.lower()) != (base.scheme.lower(), base.netloc.lower()):
            raise DialectError("endpoints", f"endpoint {endpoint!r} is on another origin than {base_url!r}")
        path = parts.path.rstrip("/")
        if base_path and not (path == base_path or path.startswith(base_path + "/")):
            raise DialectError("endpoints", f"endpoint {endpoint!r} is outside the base URL {base_url!r}")
        return path[len(base_path):] or "/"
    path = "/" + ep.strip("/")
    if base_path and path.startswith(base_path + "/"):
        return path[len(base_path):]
    return path


def from_discovery(
    base: Dialect,
    spc: Mapping[str, Any] | None,
    resource_types: Sequence[Mapping[str, Any]] | None,
    base_url: str | None = None,
) -> Dialect:
    """Refine ``base`` with what the service announces (pure; ``None`` = that document was absent)."""
    d = base
    pinned = {k for k, v in base.sources.items() if v.startswith("profile:")}
    found: dict[str, Any] = {}
    if spc:
        for name, keys in (("patch", ("patch", "supported")), ("filter", ("filter", "supported")),
                           ("etag", ("etag", "supported"))):
            value = _get(spc, *keys)
            if isinstance(value, bool):
                found[name] = value
        bulk = _get(spc, "bulk", "supported")
        if isinstance(bulk, bool):
            ops = _get(spc, "bulk", "maxOperations")
            found["bulk_max_operations"] = ops if bulk and isinstance(ops, int) and ops > 1 else 0
            size = _get(spc, "bulk", "maxPayloadSize")
            if bulk and isinstance(size, int) and size > 0:
                found["bulk_max_payload"] = size
        max_results = _get(spc, "filter", "maxResults")
        if isinstance(max_results, int) and max_results > 0:
            found["max_results"] = max_results
    if resource_types:
        found["endpoints"] = {
            rt["name"]: resolve_endpoint(base_url, rt["endpoint"]) if base_url else rt["endpoint"]
            for rt in resource_types if isinstance(rt.get("name"), str) and isinstance(rt.get("endpoint"), str)}
        user = next((rt for rt in resource_types if rt.get("name") == "User"), None)
        if user is not None:
            found["extensions"] = tuple(str(e["schema"]) for e in user.get("schemaExtensions") or ()
                                        if isinstance(e, Mapping) and e.get("schema"))
    # a named profile says what the service really does; discovery only fills what it leaves
    found = {k: v for k, v in found.items() if k not in pinned or k == "endpoints"}
    if found:
        d = d.set("discovery", **found)
    return d


def with_overrides(d: Dialect, overrides: Mapping[str, Any] | None) -> Dialect:
    """Apply ``[target.dialect]`` keys; unknown keys or bad values raise ``DialectError``."""
    changes: dict[str, Any] = {}
    names = set(_fields())
    for key, value in (overrides or {}).items():
        if key == "profile" or key in RETIRED:
            continue
        if key not in names:
            raise DialectError(key, f"unknown key; known: profile, {', '.join(sorted(names))}")
        if key in CHOICES and value not in CHOICES[key]:
            raise DialectError(key, f"{value!r} is not one of {', '.join(CHOICES[key])}")
        if key in INTEGERS and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise DialectError(key, f"a whole number >= 0; got {value!r}")
        if key == "filter_operators":
            value = tuple(str(v).lower() for v in value)
        if key in ("dropped", "computed"):
            bad = [v for v in value if not isinstance(v, str) or v.partition(":")[0] not in KINDS or not v.partition(":")[2]]
            if isinstance(value, str) or bad:
                raise DialectError(key, f"entries are \"<kind>:<path>\" with kind one of {', '.join(KINDS)} "
                                        f"(e.g. \"user:displayName\"); got {value if isinstance(value, str) else bad[0]!r}")
        changes[key] = value
    return d.set("config", **changes) if changes else d

"""Regenerate ``graph-v1.0-entities.json`` from Microsoft's published CSDL.

Source: the GitHub repository ``microsoftgraph/msgraph-metadata`` (MIT licence, text in
``LICENSE-msgraph-metadata.txt`` next to this file), file ``schemas/v1.0-Prod.csdl`` -- the
v1.0 metadata the Graph runtime hands off (the repository's README: "schema - the files handed
off ... directly from the runtime engine of Microsoft Graph").

Usage::

    git --git-dir=<msgraph-metadata>/.git show HEAD:schemas/v1.0-Prod.csdl > v1.0-Prod.csdl
    python -m hybridsync.connectors.testing.graphfake.trim_metadata v1.0-Prod.csdl <commit> > graph-v1.0-entities.json

Kept: the entity types ``user``, ``group``, ``orgContact`` with their base types
(``directoryObject``, ``entity``), their structural properties only (navigation properties are
relationships, written through ``$ref`` / ``@odata.bind``, never as plain body properties),
every complex type those properties reach (transitively), and every enum type they name.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from typing import Any

_EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
ENTITIES = ("user", "group", "orgContact")


def _strip(type_name: str) -> tuple[bool, str]:
    collection = type_name.startswith("Collection(")
    inner = type_name[len("Collection("):-1] if collection else type_name
    return collection, inner.replace("graph.", "").replace("microsoft.graph.", "")


def _props(node: ET.Element) -> list[dict[str, Any]]:
    out = []
    for p in node.findall(f"{_EDM}Property"):
        out.append({"name": p.get("Name"), "type": p.get("Type"),
                    "nullable": p.get("Nullable", "true") != "false"})
    return out


def trim(csdl_text: str, commit: str) -> dict[str, Any]:
    root = ET.fromstring(csdl_text)
    schema = next(s for s in root.iter(f"{_EDM}Schema") if s.get("Namespace") == "microsoft.graph")
    entities = {e.get("Name"): e for e in schema.findall(f"{_EDM}EntityType")}
    complexes = {c.get("Name"): c for c in schema.findall(f"{_EDM}ComplexType")}
    enums = {e.get("Name"): e for e in schema.findall(f"{_EDM}EnumType")}

    out_entities: dict[str, Any] = {}
    wanted = list(ENTITIES)
    while wanted:
        name = wanted.pop()
        if name in out_entities:
            continue
        node = entities[name]
        base = node.get("BaseType")
        base_name = _strip(base)[1] if base else None
        out_entities[name] = {"baseType": base_name, "properties": _props(node)}
        if base_name:
            wanted.append(base_name)

    out_complex: dict[str, Any] = {}
    out_enums: dict[str, Any] = {}
    pending = [p["type"] for e in out_entities.values() for p in e["properties"]]
    while pending:
        _, t = _strip(pending.pop())
        if t.startswith("Edm."):
            continue
        if t in complexes and t not in out_complex:
            node = complexes[t]
            base = node.get("BaseType")
            out_complex[t] = {"baseType": _strip(base)[1] if base else None, "properties": _props(node)}
            pending.extend(p["type"] for p in out_complex[t]["properties"])
            if base:
                pending.append(base)
        elif t in enums and t not in out_enums:
            out_enums[t] = [m.get("Name") for m in enums[t].findall(f"{_EDM}Member")]
    return {
        "source": {
            "repository": "https://github.com/microsoftgraph/msgraph-metadata",
            "file": "schemas/v1.0-Prod.csdl",
            "commit": commit,
            "licence": "MIT (see LICENSE-msgraph-metadata.txt)",
            "trimmed_by": "hybridsync.connectors.testing.graphfake.trim_metadata",
        },
        "entityTypes": dict(sorted(out_entities.items())),
        "complexTypes": dict(sorted(out_complex.items())),
        "enumTypes": dict(sorted(out_enums.items())),
    }


def main(argv: list[str]) -> int:
    path, commit = argv[1], argv[2]
    with open(path, encoding="utf-8") as f:
        data = trim(f.read(), commit)
    json.dump(data, sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

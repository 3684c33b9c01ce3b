"""``hybridsync explain OBJECT``: the object's timeline and, first, why it is where it is.

OBJECT is an objectGUID, a DN, a sAMAccountName or a userPrincipalName. Offline: reads only the
state store (a view of ``Engine.offline(config).explain(ref)``). ``--json`` prints the same as
one JSON document (``Explanation.to_dict``).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from hybridsync.engine.cli.util import offline_engine
from hybridsync.engine.runtime.admin import NoSuchObject


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("object", metavar="OBJECT", help="objectGUID, DN, sAMAccountName or UPN")
    parser.add_argument("--since", help="only history from this ISO time on")
    parser.add_argument("--json", action="store_true", help="one JSON document")


def run(args: argparse.Namespace) -> int:
    engine, code = offline_engine(args, "explain")
    if engine is None:
        return code
    since = datetime.fromisoformat(args.since) if args.since else None
    try:
        with engine:
            explanations = engine.explain(args.object, since=since)
    except NoSuchObject as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([e.to_dict() for e in explanations], indent=2, ensure_ascii=False, default=str))
        return 0
    for i, e in enumerate(explanations):
        if i:
            print()
        print("\n".join(e.lines()))
    return 0

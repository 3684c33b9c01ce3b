"""The planner is pure: ``needs.questions()``, ``lookups()`` and ``plan()`` run with the store, every
connector and every I/O library unimportable.

A subprocess installs a ``sys.meta_path`` finder refusing ``hybridsync.statestore``,
``hybridsync.connectors``, ``ldap3``, ``httpx``, ``sqlite3`` and ``sqlite_utils`` *before* the
planner is imported, then plans a realistic input over plain values -- creates, an update, a
delete with evidence (a tombstone), group members -- and prints the actions.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent('''
    import sys
    BLOCKED = ("hybridsync.statestore", "hybridsync.connectors", "ldap3", "httpx", "sqlite3",
               "sqlite_utils", "_sqlite3")

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                raise ImportError(f"the planner must not import {name}")
            return None

    sys.meta_path.insert(0, Refuse())
    for b in BLOCKED:
        assert not any(m == b or m.startswith(b + ".") for m in sys.modules), b

    import json
    import attrs
    from datetime import datetime, timedelta, timezone
    from hybridsync.engine.core.config import SafetyConfig, ScopeConfig, TargetConfig
    from hybridsync.engine.core.values import ObjectKind, ReadMode, SourceObject, TargetObject, TargetState
    from hybridsync.engine.mapping.projection import compile_mapping
    from hybridsync.engine.plan import needs, planner

    try:
        import sqlite3  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("the blocker does not block")

    NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
    STAFF = "OU=Staff,DC=lab,DC=test"

    def user(n, **attrs):
        a = {"userPrincipalName": f"user{n}@lab.test", "givenName": f"G{n}", "sn": f"S{n}",
             "displayName": f"User {n}", "userAccountControl": "512", **attrs}
        return SourceObject(anchor=f"u{n}", object_guid=f"u{n}", kind=ObjectKind.USER, dn=f"CN=User {n},{STAFF}",
                            attributes=a)

    cfg = TargetConfig(name="app")
    mapping = compile_mapping(cfg)
    ctx = planner.make_context(planner.PlanInput(source="corp", scope=ScopeConfig(), objects=(), targets=(),
                                                 clock=NOW), lambda dn: None)

    def provisioned(obj, tid, **kw):
        return TargetState(anchor=obj.anchor, target="app", kind=obj.kind, state="provisioned", target_id=tid,
                           projection=mapping.project(obj, ctx).values, since=NOW - timedelta(days=3), **kw)

    u1, u2, u3 = user(1, manager=f"CN=User 2,{STAFF}"), user(2), user(3)
    u4 = user(4)  # new: created
    u2_changed = user(2, title="Boss")  # an update
    u3_gone = SourceObject(anchor="u3", object_guid="u3", kind=ObjectKind.USER, dn=u3.dn, deleted=True)
    grp = SourceObject(anchor="g1", object_guid="g1", kind=ObjectKind.GROUP, dn=f"CN=G1,{STAFF}",
                       attributes={"cn": "G1"}, members=frozenset({"u1", "u2", "u4", "u5"}))  # u5: stored only
    states = {"u1": provisioned(u1, "t1"), "u2": provisioned(u2, "t2"), "u3": provisioned(u3, "t3"),
              "g1": TargetState(anchor="g1", target="app", kind=ObjectKind.GROUP, state="provisioned",
                                target_id="tg", projection={"displayName": "G1"},
                                members_sent=frozenset({"u1", "u3"}))}
    target = planner.TargetInput(config=cfg, mapping=mapping, states=states)
    inp = planner.PlanInput(
        source="corp", scope=ScopeConfig(include_ous=(STAFF,)), objects=(u1, u2_changed, u3_gone, u4, grp),
        targets=(target,), clock=NOW, read=planner.ReadEvidence(mode=ReadMode.DELTA),
        refs=planner.References(anchor_by_guid={"u1": "u1", "u2": "u2", "u3": "u3", "u4": "u4"},
                                kind_by_anchor={}, anchor_by_dn={}, members_by_guid={}),
        safety=SafetyConfig())
    # the first phase names what the store must answer; here the answers are plain dicts
    asked = needs.questions(attrs.evolve(inp, refs=planner.References(), targets=(attrs.evolve(target, states={}),)))
    questions = planner.lookups(inp)
    view = planner.TargetView(objects=(TargetObject(target_id="f9", kind=ObjectKind.USER,
                                                    attributes={"userName": "someone@else"}),))
    inp = attrs.evolve(inp, targets=(attrs.evolve(target, view=view),))
    p = planner.plan(inp)
    for b in BLOCKED:
        assert not any(m == b or m.startswith(b + ".") for m in sys.modules), f"{b} was imported"
    print(json.dumps({
        "lookups": sorted([q.path, q.value] for q in questions),
        "asked": {"states": sorted(asked.states["app"]), "guids": sorted(asked.anchor_by_guid),
                  "dns": sorted(asked.anchor_by_dn)},
        "actions": [[str(a.kind), a.anchor, dict(a.attributes), list(a.members), a.to_state] for a in p.actions],
    }, sort_keys=True, default=str))
''')


def test_plan_runs_with_store_connectors_and_io_libraries_unimportable():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["asked"] == {"states": ["g1", "u1", "u2", "u3", "u4"], "guids": ["u5"],
                            "dns": ["cn=user 2,ou=staff,dc=lab,dc=test"]}
    assert ["externalId", "u4"] in got["lookups"]  # only the unknown anchor is looked up
    assert all(v != "u1" and v != "u2" for _p, v in got["lookups"])
    acts = {(k, a): (attrs, members, to) for k, a, attrs, members, to in got["actions"]}
    create = acts[("create", "u4")]
    assert create[0]["userName"] == "user4@lab.test" and create[2] == "pending_create"
    assert acts[("update", "u2")][0] == {"title": "Boss"}
    assert acts[("disable", "u3")] == ({"active": False}, [], "soft_deleted")  # a tombstone is evidence
    assert acts[("add_members", "g1")][1] == ["u2", "u4"]  # u4 is created in this very plan
    assert acts[("remove_members", "g1")][1] == ["u3"]
    assert ("noop", "u1") in acts
    kinds = [k for k, *_ in got["actions"]]
    assert kinds.index("create") < kinds.index("add_members") < kinds.index("remove_members") < kinds.index("disable")

"""``hybridsync provision OBJECT [--ignore-scope] [--dry-run]``: provision one object right now.

Prints each step: the read from the source, the scope decision with the clause behind it, the
match, the attribute diff, the action and the target's response. The outcome is recorded in the
store like any cycle's (the source cursor does not move).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import attrs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("object", metavar="OBJECT", help="objectGUID, DN, sAMAccountName or userPrincipalName")
    parser.add_argument("--ignore-scope", action="store_true", help="provision even if the object is out of scope")
    parser.add_argument("--dry-run", action="store_true", help="show the steps without applying")


def _reasons(action: Any, prefix: str) -> list[str]:
    return [f"{r.rule}{': ' + r.detail if r.detail else ''}" for r in action.reasons if r.rule.startswith(prefix)]


def provision(engine: Any, ref: str, *, ignore_scope: bool = False, dry_run: bool = False,
              out: Any = print) -> int:
    """The library side of ``provision``: read, plan and apply one object, reporting each step."""
    from hybridsync.engine.plan import planner
    from hybridsync.engine.core.config import ScopeConfig
    from hybridsync.engine.runtime.context import CycleContext
    from hybridsync.engine.plan.merge import merge, to_state
    from hybridsync.engine.core.values import ReadMode

    for name, source in engine.sources.items():
        obj = source.read_object(ref)
        if obj is None:
            continue
        out(f"read    {name}: {obj.dn} ({obj.kind}, anchor {obj.anchor})")
        for attr, values in sorted(obj.attributes.items()):
            out(f"          {attr}: {', '.join(values)[:120]}")
        config = engine.config
        if ignore_scope:
            src_cfg = attrs.evolve(config.source(name), scope=ScopeConfig())
            config = attrs.evolve(config, sources=tuple(src_cfg if s.name == name else s for s in config.sources))
        stored = engine.store.get_object(name, obj.anchor)
        m = merge(stored, obj)
        ctx = CycleContext(store=engine.store, config=config, source_name=name, sources=engine.sources,
                           targets=engine.targets, mappings=engine.mappings, clock=engine.clock, dry_run=dry_run,
                           seed=engine.seed)
        ctx.begin("provision")
        state = to_state(name, m.obj, previous=stored)
        ctx.objects_overlay[state.anchor] = state
        actions: list[Any] = []
        outcomes = ctx.plan_and_apply((m.obj,), planner.ReadEvidence(mode=ReadMode.DELTA, final=True), frozenset())
        actions = [o.action for o, _ in outcomes] if outcomes else list(ctx.planned)
        for action in actions:
            if action.anchor != obj.anchor:
                continue
            out(f"target  {action.target}")
            for line in _reasons(action, "scope") or ["scope: in scope"]:
                out(f"  scope   {line}")
            for line in _reasons(action, "match") or ["match: known anchor"]:
                out(f"  match   {line}")
            if action.attributes:
                out("  diff    " + json.dumps(dict(action.attributes), ensure_ascii=False, default=str))
            lc = _reasons(action, "lifecycle") + _reasons(action, "safety")
            out(f"  action  {action.kind}" + (f" ({'; '.join(lc)})" if lc else ""))
        for outcome, _ in outcomes:
            if outcome.action.anchor == obj.anchor:
                detail = f" {outcome.detail}" if outcome.detail else ""
                out(f"  result  {outcome.action.target}: {outcome.action.kind} -> {outcome.result}"
                    f"{' (HTTP ' + str(outcome.status) + ')' if outcome.status else ''}{detail}")
        if dry_run:
            out("  (dry run: nothing applied)")
        ctx.commit(batch=None, objects=[state], observations=[(m.obj, {"changes": list(m.changed), "mode": "provision"})]
                   if m.changed else [], outcomes=outcomes, round_no=0, seen_anchors=[], trapped=[], complete_count=None)
        ctx.finish()
        for p in ctx.problems:
            out(f"problem {p['stage']}: {p['message']}")
        failed = any(o.result in ("failed", "retry") for o, _ in outcomes) or bool(ctx.problems)
        return 1 if failed else 0
    out(f"{ref}: not found in any source")
    return 1


def run(args: argparse.Namespace) -> int:
    from hybridsync.engine.cli.sync import open_engine

    with open_engine(args.config, dry_run=args.dry_run) as engine:
        return provision(engine, args.object, ignore_scope=args.ignore_scope, dry_run=args.dry_run)

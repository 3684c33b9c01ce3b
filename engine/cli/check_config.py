"""``hybridsync check-config [-c FILE]``: validate the config, report every problem.

Valid: exit 0, one summary line on stdout (warnings such as ``tls_verify = false`` go to stderr
as ``warning: file: key: message``). Invalid: exit 2, one ``file: key: problem`` line per problem
on stderr. Secrets are checked for presence only and never printed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import attrs

from hybridsync.engine.core.config import Config, insecure_source, insecure_target
from hybridsync.engine.config.loader import load_config
from hybridsync.engine.core.errors import ConfigError, ConfigProblem


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-secrets",
        action="store_true",
        help="don't require the *_env variables to be set and the *_file / ca_file files to exist",
    )


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config, check_secrets=not getattr(args, "no_secrets", False))
    except ConfigError as exc:
        for problem in exc.problems:
            print(str(problem), file=sys.stderr)
        n = len(exc.problems)
        print(f"{args.config}: {n} problem{'' if n == 1 else 's'}", file=sys.stderr)
        return 2
    for warning in config_warnings(config):
        print(f"warning: {attrs.evolve(warning, file=args.config)}", file=sys.stderr)
    print(summary(config, args.config))
    return 0


def config_warnings(config: Config) -> list[ConfigProblem]:
    """Valid but risky settings, for check-config to print (TLS off, credentials sent in clear)."""
    out = []
    for i, s in enumerate(config.sources):
        out += [ConfigProblem(config.path, f"source[{i}].{key}", msg) for key, msg in insecure_source(s)]
    for i, t in enumerate(config.targets):
        out += [ConfigProblem(config.path, f"target[{i}].{key}", msg) for key, msg in insecure_target(t)]
    return out


def summary(config: Config, shown_path: str) -> str:
    """The one line check-config prints for a valid config."""

    def plural(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    sources = ", ".join(f"{s.name}: {plural(len(s.urls), 'DC')}, {s.delta}" for s in config.sources)
    targets = ", ".join(f"{t.name}: {t.kind}" for t in config.targets)
    state = config.state.path
    if config.path and state != ":memory:":
        rel = os.path.relpath(state, Path(config.path).resolve().parent)
        state = rel if not rel.startswith("..") else state
    return (
        f"ok: {shown_path}: {plural(len(config.sources), 'source')} ({sources}), "
        f"{plural(len(config.targets), 'target')} ({targets}), state {state}"
    )


"""``hybridsync migrate-store --to DEST``: copy the config's state store into another one --
SQLite into PostgreSQL (``--to postgresql://user@host/db``) or back (``--to path.db``) --
verified by comparing the two stores' dumps row by row (statestore/copy.py).

The source is held with the writer's lease while it is copied (a running ``sync`` is named and
the command exits 2), and read in one transaction. The destination must be empty. The
PostgreSQL password comes from ``--password-env`` / ``--password-file`` (never the url). Then
point ``[state]`` at the copy (``url = ...`` or ``path = ...``). Exit 0 copied and verified,
2 usage error, destination not empty, store in use, or a mismatch.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to", required=True, metavar="DEST",
                        help="postgresql://user@host[:port]/db, or the path of a new SQLite file")
    parser.add_argument("--schema", help="PostgreSQL schema for the copy (created when missing)")
    parser.add_argument("--password-env", metavar="VARIABLE", help="environment variable holding the PostgreSQL password")
    parser.add_argument("--password-file", metavar="PATH", help="file holding the PostgreSQL password")


def _loader(args: argparse.Namespace) -> Any:
    from hybridsync.statestore.postgres.store import redact

    dest = args.to
    if dest.startswith(("postgresql://", "postgres://")):
        from urllib.parse import urlsplit

        from hybridsync.statestore.postgres.store import PostgresStore

        if urlsplit(dest).password is not None:
            raise ValueError("--to holds a password: use --password-env or --password-file")
        password = None
        if args.password_env:
            password = os.environ.get(args.password_env)
            if password is None:
                raise ValueError(f"environment variable {args.password_env} is not set")
        elif args.password_file:
            with open(args.password_file, encoding="utf-8") as fp:
                password = fp.read().strip()
        where = redact(dest) + (f" schema {args.schema}" if args.schema else "")
        return where, lambda fp: PostgresStore.load(fp, dest, schema=args.schema, password=password)
    from hybridsync.statestore.store import Store

    return dest, lambda fp: Store.load(fp, dest)


def run(args: argparse.Namespace) -> int:
    from hybridsync.engine.config.loader import load_config
    from hybridsync.engine.runtime.leadership import Leadership
    from hybridsync.statestore.copy import CopyMismatch, copy_store
    from hybridsync.statestore.errors import StoreError
    from hybridsync.statestore.factory import open_existing, where
    from hybridsync.statestore.lease import LeaseHeld

    config = load_config(args.config, check_secrets=False)
    try:
        dest, load = _loader(args)
    except (ValueError, OSError) as exc:
        print(f"hybridsync migrate-store: {exc}", file=sys.stderr)
        return 2
    source = open_existing(config.state, readonly=True)
    if source is None:
        print(f"hybridsync migrate-store: no state store at {where(config.state)}: nothing to copy", file=sys.stderr)
        return 2
    try:
        with Leadership(source, config, wait=0, fence=False):
            report = copy_store(source, load)
    except LeaseHeld as exc:
        print(f"hybridsync migrate-store: the state store is in use: {exc}; stop it first", file=sys.stderr)
        return 2
    except FileExistsError:
        print(f"hybridsync migrate-store: {dest} is not empty: copy into an empty database, schema or file",
              file=sys.stderr)
        return 2
    except CopyMismatch as exc:
        print(f"hybridsync migrate-store: the copy differs from the source: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"hybridsync migrate-store: {exc}", file=sys.stderr)
        return 2
    finally:
        source.close()
    tables = sum(1 for n in report.rows.values() if n)
    print(f"copied {where(config.state)} -> {dest}: {report.total} rows in {tables} tables, "
          f"format version {report.format_version}; dumps compared row by row: identical")
    return 0

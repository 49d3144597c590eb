"""`ordex audit --order ID | --clordid ID --session S | --account A [--from T] [--to T]`

The full lifecycle of orders from the journal: every command that touched them (time, sequence,
actor = the session that sent it, or admin:<operator>) and every event the engine answered with
(state, quantities, reason), reproduced by replaying the journal through the engine.  Use the
server's own configuration (--config): replay needs the same reference data.  The journal may be
read while the server runs.  Exit status: 0 records found, 1 none, 2 bad usage or journal.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from ordex.core.audit import AuditError, AuditQuery, Names, audit, format_entry, parse_time
from ordex.core.journal import read_journal
from ordex.core.journal_segments import JournalCorrupt, list_segments
from ordex.core.sequencer import ReplayError
from ordex.gateway import config as config_mod


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE",
                        help="the server's configuration (default: the embedded one)")
    parser.add_argument("--journal", type=Path, metavar="DIR",
                        help="journal directory (default: the configuration's)")
    parser.add_argument("--from", dest="from_time", metavar="TIME",
                        help="from this time: ISO 8601 (UTC unless an offset is given), a date, "
                             "or ns since the epoch")
    parser.add_argument("--to", dest="to_time", metavar="TIME", help="up to this time (inclusive)")


def open_source(args: argparse.Namespace, prog: str):
    """(config, journal directory, from_ns, to_ns), or raises SystemExit(2) with a message."""
    try:
        cfg = config_mod.load(args.config)
        from_ns = parse_time(args.from_time) if args.from_time else None
        to_ns = parse_time(args.to_time) if args.to_time else None
    except (config_mod.ConfigError, AuditError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    directory = args.journal or cfg.journal_dir
    if not directory.is_dir() or not list_segments(directory):
        print(f"{prog}: no journal in {directory}", file=sys.stderr)
        raise SystemExit(2)
    return cfg, directory, from_ns, to_ns


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--order", type=int, action="append", metavar="ID",
                       help="engine order id (repeatable)")
    which.add_argument("--clordid", help="client order id (with --session)")
    which.add_argument("--account", help="every order of the account")
    which.add_argument("--instrument", metavar="SYMBOL",
                       help="the instrument's trading status: halts, resumes, opens, closes")
    parser.add_argument("--session", help="the session that used --clordid")
    add_source_arguments(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per line")


def run(args: argparse.Namespace) -> int:
    prog = "ordex audit"
    try:
        cfg, directory, from_ns, to_ns = open_source(args, prog)
    except SystemExit as e:
        return int(e.code)
    names = Names(cfg.reference)
    try:
        q = AuditQuery(order_ids=set(args.order or ()), from_ns=from_ns, to_ns=to_ns)
        if args.clordid is not None:
            if args.session is None:
                raise AuditError("--clordid needs --session (a ClOrdID is unique per session)")
            q.clordid, q.session = args.clordid.encode(), names.lookup("session", args.session)
        elif args.session is not None:
            raise AuditError("--session goes with --clordid")
        if args.account is not None:
            q.account = names.lookup("account", args.account)
        if args.instrument is not None:
            q.instrument = names.lookup("instrument", args.instrument)
        found = 0
        out = sys.stdout
        for entry in audit(cfg.reference, lambda: read_journal(directory), q,
                           max_orders=cfg.max_orders):
            out.write((orjson.dumps(entry).decode() if args.json else format_entry(entry)) + "\n")
            found += 1
        out.flush()
    except (AuditError, ReplayError, JournalCorrupt) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    if not found:
        print(f"{prog}: nothing in {directory} matches", file=sys.stderr)
        return 1
    return 0

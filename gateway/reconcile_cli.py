"""`ordex reconcile --venue FILE [--account A ...] [--from T] [--to T]`

End-of-day reconciliation of ordex's executions (the journal, replayed) against an external
record: a FIX drop-copy log or a CSV of executions (see ordex.core.reconcile).  Prints matched,
missing on either side, and quantity / price / field mismatches.  Exit status: 0 reconciled,
1 breaks found, 2 bad usage or unreadable input.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from ordex.core.audit import AuditError, Names, trade_rows, trades
from ordex.core.journal import read_journal
from ordex.core.journal_segments import JournalCorrupt
from ordex.core.reconcile import (Execution, VenueFileError, format_report, read_venue,
                                  reconcile)
from ordex.core.sequencer import ReplayError
from ordex.gateway.audit_cli import add_source_arguments, open_source


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--venue", type=Path, required=True, metavar="FILE",
                        help="the external record: FIX drop-copy log or CSV of executions")
    parser.add_argument("--account", action="append", default=[], metavar="A",
                        help="only ordex executions of this account (repeatable): the accounts "
                             "the record covers")
    add_source_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def ordex_executions(names: Names, chunks, accounts: set[str] | None):
    for chunk in chunks:
        for r in trade_rows(names, chunk):
            if accounts and r["account"] not in accounts:
                continue
            yield Execution(exec_id=str(r["exec_id"]), qty=r["qty"], price=r["price"],
                            symbol=r["instrument"], side=r["side"], account=r["account"],
                            order_id=str(r["order_id"]), clordid=r["clordid"],
                            where=f"seq {r['seq']}")


def run(args: argparse.Namespace) -> int:
    prog = "ordex reconcile"
    try:
        cfg, directory, from_ns, to_ns = open_source(args, prog)
    except SystemExit as e:
        return int(e.code)
    names = Names(cfg.reference)
    try:
        for a in args.account:
            names.lookup("account", a)
        venue, problems = read_venue(args.venue)
        chunks = trades(cfg.reference, read_journal(directory), from_ns, to_ns,
                        max_orders=cfg.max_orders)
        result = reconcile(ordex_executions(names, chunks, set(args.account)), venue, problems)
    except (AuditError, VenueFileError, ReplayError, JournalCorrupt) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(orjson.dumps({"ordex": result.ordex_count, "venue": result.venue_count,
                            "matched": result.matched, "counts": result.counts(),
                            "breaks": [{"kind": b.kind, "exec_id": b.exec_id, "detail": b.detail}
                                       for b in result.breaks]},
                           option=orjson.OPT_INDENT_2).decode())
    else:
        print(format_report(result))
    return 1 if result.breaks else 0

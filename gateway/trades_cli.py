"""`ordex trades --from T --to T [--account A] --format csv|parquet [--out FILE]`

Trade history from the journal (replayed through the engine): one row per side of each fill,
with time, exec id, order ids, account, instrument, side, maker/taker, price, quantity and fee as
exact decimals, plus the integer counts they come from (price_ticks, qty_lots, fee_cash).
CSV writes each amount at its instrument's own precision; Parquet uses decimal128 columns scaled
to hold every instrument exactly.  Without --out, CSV goes to stdout.
"""
from __future__ import annotations

import argparse
import csv
import sys
from decimal import Decimal
from pathlib import Path

from ordex.core.audit import TRADE_COLUMNS, AuditError, Names, trade_rows, trades
from ordex.core.journal import read_journal
from ordex.core.journal_segments import JournalCorrupt
from ordex.core.sequencer import ReplayError
from ordex.gateway.audit_cli import add_source_arguments, open_source


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    parser.add_argument("--account", help="only this account's trades")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--out", "-o", type=Path, metavar="FILE",
                        help="write here (required for parquet; csv defaults to stdout)")


def parquet_schema(names: Names):
    import pyarrow as pa
    px, qty, cash = names.scales()
    types = {"seq": pa.int64(), "ts_ns": pa.int64(), "time": pa.timestamp("ns", tz="UTC"),
             "exec_id": pa.int64(), "order_id": pa.int64(), "contra_order_id": pa.int64(),
             "price": pa.decimal128(38, px), "qty": pa.decimal128(38, qty),
             "fee": pa.decimal128(38, cash), "price_ticks": pa.int64(), "qty_lots": pa.int64(),
             "fee_cash": pa.int64()}
    return pa.schema([(c, types.get(c, pa.string())) for c in TRADE_COLUMNS])


def write_parquet(path: Path, names: Names, chunks) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq
    schema = parquet_schema(names)
    rows = 0
    tmp = path.with_name(path.name + ".partial")
    try:
        with pq.ParquetWriter(tmp, schema) as writer:
            for chunk in chunks:
                batch = list(trade_rows(names, chunk))
                cols = {c: [r[c] for r in batch] for c in TRADE_COLUMNS}
                cols["time"] = cols["ts_ns"]
                arrays = [pa.array(cols[f.name], type=f.type if f.name != "time" else pa.int64())
                          for f in schema]
                arrays[TRADE_COLUMNS.index("time")] = arrays[TRADE_COLUMNS.index("time")].cast(
                    schema.field("time").type)
                writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
                rows += len(batch)
            if rows == 0:
                writer.write_table(schema.empty_table())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
    return rows


def write_csv(stream, names: Names, chunks) -> int:
    w = csv.writer(stream, lineterminator="\n")
    w.writerow(TRADE_COLUMNS)
    rows = 0
    for chunk in chunks:
        for r in trade_rows(names, chunk):
            w.writerow([format(v, "f") if isinstance(v, Decimal) else v
                        for v in (r[c] for c in TRADE_COLUMNS)])
            rows += 1
    return rows


def run(args: argparse.Namespace) -> int:
    prog = "ordex trades"
    try:
        cfg, directory, from_ns, to_ns = open_source(args, prog)
    except SystemExit as e:
        return int(e.code)
    names = Names(cfg.reference)
    try:
        account = names.lookup("account", args.account) if args.account else None
        chunks = trades(cfg.reference, read_journal(directory), from_ns, to_ns, account,
                        max_orders=cfg.max_orders)
        if args.format == "parquet":
            if args.out is None:
                raise AuditError("--format parquet needs --out FILE")
            rows = write_parquet(args.out, names, chunks)
        elif args.out is None:
            rows = write_csv(sys.stdout, names, chunks)
            sys.stdout.flush()
            return 0
        else:
            tmp = args.out.with_name(args.out.name + ".partial")
            with open(tmp, "w", newline="") as f:
                rows = write_csv(f, names, chunks)
            tmp.replace(args.out)
    except (AuditError, ReplayError, JournalCorrupt) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    print(f"{prog}: {rows} trades written to {args.out}", file=sys.stderr)
    return 0

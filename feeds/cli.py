"""`ordex feeds replay SOURCE [--format ...] [--out DIR]`: normalise a recorded market-data
source, filter it, store ticks and bars, and print a summary."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys

from ordex.feeds.model import Instruments
from ordex.feeds.replay import (DEFAULT_BAND_BPS, FORMATS, FormatError, Progress, ReplaySummary,
                                replay)
from ordex.feeds.ticks import TickSpec


def _decimals(text: str) -> tuple[int, int]:
    p, sep, q = text.partition(",")
    try:
        pair = (int(p), int(q)) if sep else (int(p), int(p))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected PRICE_DECIMALS,QTY_DECIMALS")
    if not all(0 <= d <= 18 for d in pair):
        raise argparse.ArgumentTypeError(f"{text!r}: decimals must be 0..18")
    return pair


def _scale(text: str) -> tuple[str, tuple[int, int]]:
    symbol, sep, rest = text.partition("=")
    if not sep or not symbol:
        raise argparse.ArgumentTypeError(f"{text!r}: expected SYMBOL=PRICE_DECIMALS,QTY_DECIMALS")
    return symbol, _decimals(rest)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected YYYY-MM-DD")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = sub.add_parser("replay", help="normalise a recording; store ticks and bars; summarise")
    p.add_argument("source", metavar="SOURCE",
                   help="file (ITCH plain or .gz, JSON recording, CSV, Parquet) or folder")
    p.add_argument("--format", choices=FORMATS, help="default: detected from the contents")
    p.add_argument("--out", metavar="DIR", help="write DIR/ticks (partitioned Parquet) and "
                   "DIR/bars (1s, 1m, 1h OHLCV)")
    p.add_argument("--snapshots", metavar="FILE",
                   help="binance: REST depth snapshots recording (default: *.http.log beside it)")
    p.add_argument("--date", type=_date, help="itch: session date (default: YYYYMMDD in the name)")
    p.add_argument("--decimals", type=_decimals, default=(8, 8), metavar="P,Q",
                   help="JSON/tick sources: price and quantity decimals (default 8,8)")
    p.add_argument("--scale", type=_scale, action="append", default=[], metavar="SYM=P,Q",
                   help="decimals of one symbol (repeatable)")
    p.add_argument("--map", default="", metavar="FIELD=COLUMN,...",
                   help="csv/parquet: our field names to the file's columns, e.g. ts=time,price=px")
    p.add_argument("--ts-unit", default="ns", choices=("ns", "us", "ms", "s"),
                   help="csv/parquet: unit of numeric timestamps")
    p.add_argument("--symbol", help="csv/parquet: symbol when the file has no symbol column")
    p.add_argument("--stale-ms", type=int, help="receive - exchange time beyond which data is "
                   "stale (default per source; 0 disables)")
    p.add_argument("--band-bps", type=int, default=DEFAULT_BAND_BPS,
                   help=f"out-of-band threshold around the reference price (default "
                   f"{DEFAULT_BAND_BPS}; 0 disables)")
    p.add_argument("--no-bars", action="store_true", help="do not build OHLCV bars")
    p.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                   help="progress bar on stderr (auto: when stderr is a terminal)")
    p.add_argument("--json", metavar="FILE", help="also write the summary as JSON")
    p.add_argument("--top", type=int, default=20, metavar="N",
                   help="print the top of book of at most N instruments (default 20)")


def _print(summary: ReplaySummary, top: int, out=None) -> None:
    w = (out or sys.stdout).write
    rate = summary.bytes / summary.elapsed_s / 1e6 if summary.elapsed_s else 0.0
    w(f"{summary.source} ({summary.format}): {summary.elapsed_s:.2f} s, {rate:.1f} MB/s\n")
    for note in summary.notes:
        w(f"  note: {note}\n")
    w("messages:  " + ", ".join(f"{k} {v:,}" for k, v in summary.messages.items()) + "\n")
    w("events:    " + ", ".join(f"{k} {v:,}" for k, v in summary.events.items()) + "\n")
    if summary.reasons:
        w("filtered / flagged (reason: count):\n")
        for k, v in summary.reasons.items():
            w(f"  {k:<28} {v:>12,}\n")
    else:
        w("filtered / flagged: none\n")
    for symbol, c in summary.bbo.items():
        w(f"venue BBO check {symbol}: {c['checked']} compared, {c['mismatched']} mismatched, "
          f"{c['skipped']} not comparable\n")
    w(f"top of book ({len(summary.tops)} instruments"
      f"{f', first {top}' if len(summary.tops) > top else ''}):\n")
    for symbol, (b, bq, a, aq) in list(summary.tops.items())[:top]:
        w(f"  {symbol:<12} {bq:>16} @ {b:<14} | {a:>14} @ {aq:<16}\n")
    if summary.references:
        w("reference prices (mark, exchange ts_ns):\n")
        for symbol, (price, ts) in list(summary.references.items())[:top]:
            w(f"  {symbol:<12} {price:>16}  {ts}\n")
    if summary.files:
        w(f"wrote {len(summary.files)} files\n")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    instruments = Instruments(*args.decimals, scales=dict(args.scale))
    try:
        spec = TickSpec.parse_mapping(args.map, ts_unit=args.ts_unit, symbol=args.symbol)
    except ValueError as exc:
        print(f"ordex feeds replay: {exc}", file=sys.stderr)
        return 2
    show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    progress = Progress(os.path.getsize(args.source) if os.path.isfile(args.source) else 0,
                        sys.stderr) if show else None
    try:
        summary = replay(args.source, args.format, args.out, snapshots=args.snapshots,
                         date=args.date, instruments=instruments, spec=spec,
                         stale_ms=args.stale_ms, band_bps=args.band_bps, bars=not args.no_bars,
                         progress=progress)
    except (FormatError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        print(f"ordex feeds replay: {exc}", file=sys.stderr)
        return 2
    _print(summary, args.top)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary.as_dict(), f, indent=2)
    return 0

"""`ordex perf NAME [--json FILE] [options]`: one benchmark per component, each a module
perf/<name>.py with `add_arguments(parser)` and `run(args) -> Report`, imported only when run."""
from __future__ import annotations

import argparse
import importlib

from ordex.perf.report import Report

# name -> (module, what it measures)
BENCHMARKS: dict[str, tuple[str, str]] = {
    "book": ("ordex.perf.book", "order book: exchange-core mix and insert-heavy, per-call and batch"),
    "engine": ("ordex.perf.engine", "full engine path (risk, lifecycle, book, accounts) on the exchange-core mix"),
    "fix": ("ordex.perf.fix", "FIX order->ack end to end vs ordex serve per durability mode, QuickFIX, generator ceiling"),
    "binary": ("ordex.perf.binary", "OUCH order->ack round trip and pipelined throughput, ITCH feed to 1 and 20 subscribers, vs ordex serve"),
    "fixcodec": ("ordex.perf.fixcodec", "FIX codec: parse and encode NewOrderSingle/ExecutionReport vs simplefix"),
    "journal": ("ordex.perf.journal", "journal: append per durability mode, fdatasync latency, decode, 10M recovery"),
    "recovery": ("ordex.perf.recovery", "recovery: journal replay through the engine, 10M-command start-up with and without a snapshot, snapshot of 1M orders"),
    "feeds": ("ordex.perf.feeds", "market data: ITCH parse and book build vs itchfeed/meatpy, JSON L2 normalisation"),
    "all": ("ordex.perf.all", "every benchmark above, short settings: one Markdown report with plots (--out DIR)"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("benchmark", choices=sorted(BENCHMARKS), metavar="NAME",
                        help="; ".join(f"{n}: {h}" for n, (_, h) in BENCHMARKS.items()))
    parser.add_argument("options", nargs=argparse.REMAINDER,
                        help="options of that benchmark (ordex perf NAME --help)")


def run(args: argparse.Namespace) -> int:
    module_name, help_text = BENCHMARKS[args.benchmark]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"ordex perf {args.benchmark}", description=help_text)
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    module.add_arguments(parser)
    bench_args = parser.parse_args(args.options)
    report: Report = module.run(bench_args)
    print(report.table())
    if bench_args.json:
        report.write_json(bench_args.json)
    return 0

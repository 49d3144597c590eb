"""`ordex perf NAME [--json FILE]`: one benchmark per component, each in perf/<name>.py with
`add_arguments(parser)` and `run(args) -> Report`."""
from __future__ import annotations

import argparse
import importlib

from ordex.perf.report import Report

# name -> module; each module documents its workload.
BENCHMARKS: dict[str, str] = {
    "book": "ordex.perf.book",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="benchmark", metavar="NAME", required=True)
    for name, module in BENCHMARKS.items():
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=(mod.__doc__ or "").strip().splitlines()[0])
        p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
        mod.add_arguments(p)
        p.set_defaults(_bench=module)


def run(args: argparse.Namespace) -> int:
    report: Report = importlib.import_module(args._bench).run(args)
    print(report.table())
    if args.json:
        report.write_json(args.json)
    return 0

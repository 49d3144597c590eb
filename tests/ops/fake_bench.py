"""Stand-in benchmarks for the `ordex perf all` tests: quick, and one that fails."""
import argparse

import numpy as np

from ordex.perf.report import Report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--fail", action="store_true")


def run(args: argparse.Namespace) -> Report:
    if args.fail:
        raise RuntimeError("the disk caught fire")
    r = Report("fake", settings={"messages": args.messages, "repeat": args.repeat,
                                 "seconds": args.seconds})
    r.add("api.work.throughput", "/s", 12345.0)
    r.add_latency("api.work", np.arange(1, args.messages + 1, dtype=np.int64) * 100)
    r.add("api.work.ratio_vs_baseline", "", 3.5)
    return r

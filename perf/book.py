"""Order book: exchange-core mix and insert-heavy, per-call and batch API, vs the reference book.

Reported per workload W (exchange_core_mix, insert_heavy):
  batch.W.throughput      execute() over the stream in chunks, events drained after each chunk
  batch.W.p50/p99/p999/max   per-command latency inside execute_timed (C clock, ns)
  percall.W.throughput    the Python per-call API (limit/replace/cancel...) from a Python loop
  percall.W.p50/...       per call, timed from Python with perf_counter_ns (includes the call)
  reference.W.throughput  the pure-Python reference book, same per-call loop, first --ref-commands
  percall.W.ratio_vs_reference, batch.W.ratio_vs_reference
Throughputs are the median of --repeat runs on a fresh book each time.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from ordex.ext.book import OrderBook
from ordex.perf.book_workloads import Workload, as_calls, exchange_core_mix, insert_heavy, run_calls
from ordex.perf.report import Report

CHUNK = 4096


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--commands", type=int, default=1_000_000, help="measured commands per workload")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure; the median is reported")
    parser.add_argument("--ref-commands", type=int, default=20_000,
                        help="commands run through the slow reference book")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workload", choices=("all", "exchange_core_mix", "insert_heavy"), default="all")


def fresh_book(w: Workload, factory=OrderBook):
    book = factory(max_orders=w.max_orders, max_instruments=1)
    book.add_instrument(0)
    if len(w.setup):
        book.execute(w.setup.copy())
        book.clear_events()
    return book


def batch_throughput(w: Workload) -> float:
    book = fresh_book(w)
    cmds = w.main.copy()
    t0 = time.perf_counter_ns()
    for start in range(0, len(cmds), CHUNK):
        book.execute(cmds[start:start + CHUNK])
        book.clear_events()
    dt = time.perf_counter_ns() - t0
    return len(cmds) / (dt / 1e9)


def batch_latency(w: Workload) -> np.ndarray:
    book = fresh_book(w)
    lat = np.empty(len(w.main), dtype=np.int64)
    book.execute_timed(w.main.copy(), lat)
    return lat


def percall_throughput(w: Workload, calls: list[tuple], factory=OrderBook) -> float:
    book = fresh_book(w, factory)
    t0 = time.perf_counter_ns()
    run_calls(book, calls)
    dt = time.perf_counter_ns() - t0
    return len(calls) / (dt / 1e9)


def percall_latency(w: Workload, calls: list[tuple]) -> np.ndarray:
    book = fresh_book(w)
    out = np.empty(len(calls), dtype=np.int64)
    clock = time.perf_counter_ns
    limit, cancel, replace, clear = book.limit, book.cancel, book.replace, book.clear_events
    for i, (op, instrument, oid, side, price, qty, tif) in enumerate(calls):
        t0 = clock()
        if op == 5:
            replace(oid, price, qty)
        elif op == 1:
            limit(instrument, oid, side, price, qty, tif)
        else:
            cancel(oid)
        out[i] = clock() - t0
        if i & 1023 == 0:
            clear()
    return out


def measure(report: Report, w: Workload, repeat: int, ref_commands: int) -> None:
    name = w.name
    calls = as_calls(w.main)
    batch = statistics.median(batch_throughput(w) for _ in range(repeat))
    percall = statistics.median(percall_throughput(w, calls) for _ in range(repeat))
    report.add(f"batch.{name}.throughput", "/s", batch)
    report.add_latency(f"batch.{name}", batch_latency(w))
    report.add(f"percall.{name}.throughput", "/s", percall)
    report.add_latency(f"percall.{name}", percall_latency(w, calls))
    try:
        from ordex.core.refbook import ReferenceBook
    except ImportError:
        return
    ref_w = Workload(name, w.setup, w.main[:ref_commands], w.max_orders, w.mix)
    ref_calls = calls[:ref_commands]
    ref = statistics.median(percall_throughput(ref_w, ref_calls, ReferenceBook) for _ in range(3))
    report.add(f"reference.{name}.throughput", "/s", ref)
    report.add(f"percall.{name}.ratio_vs_reference", "", percall / ref)
    report.add(f"batch.{name}.ratio_vs_reference", "", batch / ref)


def run(args: argparse.Namespace) -> Report:
    report = Report("book", settings={"commands": args.commands, "repeat": args.repeat,
                                      "seed": args.seed, "ref_commands": args.ref_commands,
                                      "batch_chunk": CHUNK})
    workloads = []
    if args.workload in ("all", "exchange_core_mix"):
        workloads.append(exchange_core_mix(args.commands, seed=args.seed))
    if args.workload in ("all", "insert_heavy"):
        workloads.append(insert_heavy(args.commands, seed=args.seed + 1))
    for w in workloads:
        report.settings[f"{w.name}.mix"] = w.mix
        measure(report, w, args.repeat, args.ref_commands)
    return report

"""Engine: the full path (risk + lifecycle + book + accounts; no journal, no network).

The exchange-core mix from `ordex perf book`, as order-entry commands from one session for 1,000
accounts on one instrument (collar, fees, position holds for sells and cash holds for buys all
active).  Reported:
  engine.exchange_core_mix.throughput / p50 / p99 / p999 / max   (apply() in chunks; C-timed)
  book.exchange_core_mix.throughput        the bare book on the same stream, same run
  engine.exchange_core_mix.book_share      book throughput / engine throughput would be 1.0 if
                                           risk and accounting were free; reported as the
                                           fraction of engine time spent in the book
  reference.exchange_core_mix.throughput, engine.exchange_core_mix.ratio_vs_reference
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from ordex.core import refdata
from ordex.core.commands import COMMAND_DTYPE, CommandKind, OrdType, Tif
from ordex.ext.book import Op
from ordex.ext.engine import Engine
from ordex.perf.book import batch_throughput
from ordex.perf.book_workloads import Workload, exchange_core_mix
from ordex.perf.report import Report

CHUNK = 4096
ACCOUNTS = 1000


def reference_data() -> refdata.ReferenceData:
    return refdata.from_dicts(
        [{"symbol": "XCORE", "currency": "USD", "price_increment": "0.01", "qty_increment": "1",
          "band_pct": "50", "maker_fee_bps": "1", "taker_fee_bps": "2"}],
        [{"name": f"acct{i}", "balances": {"USD": "1000000000"}, "positions": {"XCORE": "1000000000"}}
         for i in range(ACCOUNTS)],
        [{"name": "perf", "accounts": [f"acct{i}" for i in range(ACCOUNTS)]}])


def engine_commands(rows: np.ndarray, totals: np.ndarray, seq0: int) -> np.ndarray:
    """Book workload rows as order-entry commands (engine ids equal the workload's order ids,
    since every NEW_ORDER gets the next id)."""
    n = len(rows)
    out = np.zeros(n, dtype=COMMAND_DTYPE)
    seq = np.arange(seq0, seq0 + n, dtype=np.int64)
    out["seq"] = seq
    out["ts_ns"] = seq * 1000
    out["session"] = 0
    op = rows["op"]
    new = op == Op.LIMIT
    out["kind"] = np.select([new, op == Op.CANCEL, op == Op.REPLACE],
                            [CommandKind.NEW_ORDER, CommandKind.CANCEL, CommandKind.REPLACE])
    out["order_id"] = np.where(new, 0, rows["order_id"])
    out["account"] = np.where(new, (rows["owner"] - 1) % ACCOUNTS, 0)
    out["side"] = rows["side"]
    out["ord_type"] = np.where(new, OrdType.LIMIT, 0)
    out["tif"] = np.where(rows["tif"] == 1, Tif.IOC, Tif.GTC)
    out["price"] = rows["price"]
    out["qty"] = np.where(op == Op.REPLACE, totals, rows["qty"])
    out["clordid"] = np.char.encode(np.char.add("c", seq.astype(str)))
    return out


def prepare(n: int, seed: int) -> tuple[Workload, np.ndarray, np.ndarray]:
    w = exchange_core_mix(n, seed=seed)
    setup = engine_commands(w.setup, w.setup["qty"], 1)
    main = engine_commands(w.main, w.totals, 1 + len(setup))
    return w, setup, main


def fresh_engine(setup: np.ndarray, factory=Engine):
    eng = factory(reference_data(), max_orders=1 << 16)
    eng.apply(setup)
    eng.clear_events()
    return eng


def engine_throughput(setup: np.ndarray, main: np.ndarray) -> float:
    eng = fresh_engine(setup)
    t0 = time.perf_counter_ns()
    for start in range(0, len(main), CHUNK):
        eng.apply(main[start:start + CHUNK])
        eng.clear_events()
    return len(main) / ((time.perf_counter_ns() - t0) / 1e9)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--commands", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--ref-commands", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)


def run(args: argparse.Namespace) -> Report:
    report = Report("engine", settings={"commands": args.commands, "repeat": args.repeat,
                                        "accounts": ACCOUNTS, "seed": args.seed, "chunk": CHUNK})
    w, setup, main = prepare(args.commands, args.seed)
    report.settings["mix"] = w.mix
    eng = statistics.median(engine_throughput(setup, main) for _ in range(args.repeat))
    book = statistics.median(batch_throughput(w) for _ in range(args.repeat))
    name = "exchange_core_mix"
    report.add(f"engine.{name}.throughput", "/s", eng)
    lat = np.empty(len(main), dtype=np.int64)
    fresh_engine(setup).apply_timed(main.copy(), lat)
    report.add_latency(f"engine.{name}", lat)
    report.add(f"book.{name}.throughput", "/s", book)
    report.add(f"engine.{name}.book_share", "", eng / book)
    try:
        from ordex.core.refengine import ReferenceEngine
    except ImportError:
        return report
    ref_main = main[:args.ref_commands]
    ref = fresh_engine(setup, ReferenceEngine)
    t0 = time.perf_counter_ns()
    ref.apply(ref_main)
    ref_tput = len(ref_main) / ((time.perf_counter_ns() - t0) / 1e9)
    report.add(f"reference.{name}.throughput", "/s", ref_tput)
    report.add(f"engine.{name}.ratio_vs_reference", "", eng / ref_tput)
    return report

"""Market data normaliser: ITCH 5.0 parse and book build, vs pure-Python parsers; JSON L2.

Reported (W = itch_synthetic: --messages messages of feeds.synth over 50 instruments):
  parse.W.throughput               ItchParser.scan(): every message decoded into a record (msg/s)
  parse_book.W.throughput          ItchBook: parse + order book per instrument + normalised events
                                   (book deltas, trades, quotes when the top moves), msg/s
  itchfeed_parse.W.throughput      itchfeed (pure Python) MessageParser on the first
                                   --python-messages messages
  meatpy_parse.W.throughput        meatpy (pure Python) ITCH50MessageReader, same messages
  itchfeed_book.W.throughput       itchfeed parse + a plain dict order book, same messages
  parse.W.ratio_vs_itchfeed        parse / itchfeed_parse (same run, same bytes)
  parse.W.ratio_vs_meatpy          parse / meatpy_parse
  parse_book.W.ratio_vs_itchfeed   parse_book / itchfeed_book
  meatpy_book.itch_one_instrument.throughput   meatpy's own book builder (ITCH50MarketProcessor,
                                   parse + limit order book) on --python-messages / 5 synthetic
                                   messages of a single instrument (it keeps one book per
                                   processor, so one instrument is the fair comparison)
  parse_book.itch_one_instrument.throughput    ItchBook on the same bytes (repeated to time it)
  parse_book.itch_one_instrument.ratio_vs_meatpy
  normalise.coinbase_l2.throughput     the Coinbase recording, line by line to events: l2update
                                       level changes per second, while also handling everything
                                       else in it (snapshots, matches, tickers)
  normalise.coinbase_l2_msgs.throughput  the same in messages/s
  normalise.binance_depth.throughput   depth diffs (2 levels each) after one snapshot, through
                                       the snapshot/diff rule: diff levels per second
  normalise.binance_recording_msgs.throughput  the Binance recording (diffs, snapshots,
                                       bookTicker, trades, merged by receive time): messages/s
Throughputs are medians of --repeat runs (wall clock).  The JSON workloads replay the real
recordings in ../shared/data/marketdata when present, else synthetic messages of the same shape.
"""
from __future__ import annotations

import argparse
import io
import logging
import os
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import orjson

from ordex.ext.itch import ItchBook, ItchParser
from ordex.feeds.binance import BinanceNormaliser
from ordex.feeds.coinbase import CoinbaseNormaliser
from ordex.feeds.model import Counters
from ordex.feeds.recording import Record, merge_by_time, read_records
from ordex.feeds.synth import synthetic_itch
from ordex.perf.report import Report

WORKLOAD = "itch_synthetic"
DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "marketdata"


def parse_rate(data: bytes, n: int) -> float:
    parser = ItchParser()
    t = time.perf_counter()
    got = parser.scan(data)
    dt = time.perf_counter() - t
    assert got == n, f"parsed {got} of {n}"
    return n / dt


def book_run(data: bytes) -> int:
    """Parse and build; returns the number of events (the consumer takes every batch)."""
    book = ItchBook()
    pos = events = 0
    while True:
        pos = book.step(data, pos, True)
        events += len(book.events.take())
        if not book.stopped:
            return events


def book_rate(data: bytes, n: int) -> float:
    t = time.perf_counter()
    book_run(data)
    return n / (time.perf_counter() - t)


def itchfeed_parse(data: bytes) -> list:
    from itch.parser import MessageParser
    return list(MessageParser().parse_file(io.BytesIO(data)))


def meatpy_parse(path: str) -> int:
    from meatpy.itch50 import ITCH50MessageReader
    return sum(1 for _ in ITCH50MessageReader().read_file(path))


def meatpy_book(path: str, symbol: str) -> int:
    import datetime

    from meatpy.itch50 import ITCH50MarketProcessor, ITCH50MessageReader
    from meatpy.lob import ExecutionPriorityExceptionList
    proc = ITCH50MarketProcessor(symbol, datetime.datetime(2024, 1, 2))
    n = 0
    for m in ITCH50MessageReader().read_file(path):
        try:
            proc.process_message(m)
        except ExecutionPriorityExceptionList:
            pass    # meatpy applies the execution, then reports it was not first in the queue
        n += 1
    return n


def dict_book(messages: list) -> dict:
    """The same book work in plain Python: order map and aggregated levels per instrument."""
    orders: dict[int, list] = {}
    levels: dict = defaultdict(lambda: defaultdict(int))
    for m in messages:
        t = m.message_type
        if t in (b"A", b"F"):
            side = 1 if m.buy_sell_indicator == b"B" else -1
            orders[m.order_reference_number] = [m.stock_locate, side, m.price, m.shares]
            levels[(m.stock_locate, side)][m.price] += m.shares
        elif t in (b"E", b"C", b"X", b"D", b"U"):
            o = orders.get(m.order_reference_number)
            if o is None:
                continue
            n = (m.executed_shares if t in (b"E", b"C") else m.cancelled_shares if t == b"X"
                 else o[3])
            lv = levels[(o[0], o[1])]
            lv[o[2]] -= n
            if lv[o[2]] <= 0:
                del lv[o[2]]
            o[3] -= n
            if o[3] <= 0:
                del orders[m.order_reference_number]
            if t == b"U":
                orders[m.new_order_reference_number] = [o[0], o[1], m.price, m.shares]
                lv = levels[(o[0], o[1])]
                lv[m.price] += m.shares
    return levels


def _coinbase_lines() -> tuple[list[tuple[bytes, int]], str]:
    path = DATA / "coinbase" / "level2-2021-04-17.ws.log"
    if path.is_file():
        return [(r.payload, r.recv_ns) for r in read_records(path, Counters("perf"))], str(path)
    return synthetic_coinbase(10_000), "synthetic"


def synthetic_coinbase(n: int) -> list[tuple[bytes, int]]:
    import random
    rng = random.Random(7)
    lines = [(orjson.dumps({"type": "snapshot", "product_id": "SYN-USD",
                            "bids": [[f"{100 - i * 0.01:.2f}", "1.5"] for i in range(1, 200)],
                            "asks": [[f"{100 + i * 0.01:.2f}", "2.5"] for i in range(1, 200)]}),
              1_618_677_817_000_000_000)]
    for i in range(n):
        side = rng.choice(("buy", "sell"))
        px = 100 + (-1 if side == "buy" else 1) * rng.randint(1, 50) * 0.01
        lines.append((orjson.dumps({"type": "l2update", "product_id": "SYN-USD",
                                    "changes": [[side, f"{px:.2f}", f"{rng.randint(0, 99)}.5"]],
                                    "time": "2021-04-17T16:43:37.075687Z"}),
                      1_618_677_817_000_000_000 + i))
    return lines


def _binance_records() -> tuple[list[Record], str]:
    ws = DATA / "binance" / "depth-2021-10-12.ws.log"
    http = DATA / "binance" / "depth-snapshots-2021-10-12.http.log"
    if ws.is_file() and http.is_file():
        c = Counters("perf")
        return list(merge_by_time(read_records(ws, c), read_records(http, c))), str(ws)
    return _synthetic_binance(2_000), "synthetic"


def _synthetic_binance(n: int) -> list[Record]:
    snap = {"lastUpdateId": 100, "bids": [[f"{1 - i / 1e4:.8f}", "10"] for i in range(1, 500)],
            "asks": [[f"{1 + i / 1e4:.8f}", "10"] for i in range(1, 500)]}
    url = b"https://api.binance.com/api/v3/depth?symbol=SYNUSDT"
    out = [Record(1, url, orjson.dumps(snap), 1)]
    for i in range(n):
        d = {"e": "depthUpdate", "E": 1_633_998_512_000 + i, "s": "SYNUSDT", "U": 101 + i,
             "u": 101 + i, "b": [[f"{1 - (i % 40 + 1) / 1e4:.8f}", f"{i % 7}"]],
             "a": [[f"{1 + (i % 40 + 1) / 1e4:.8f}", f"{i % 5 + 1}"]]}
        out.append(Record(2 + i, b"", orjson.dumps({"stream": "synusdt@depth", "data": d}), i + 2))
    return out


def _level_updates_coinbase(lines) -> int:
    """Level changes carried by l2update messages (snapshots not counted)."""
    total = 0
    for payload, _ in lines:
        m = orjson.loads(payload)
        if m.get("type") == "l2update":
            total += len(m["changes"])
    return total


def _level_updates_binance(records) -> int:
    """Levels carried by depth diffs (snapshots not counted)."""
    total = 0
    for r in records:
        d = orjson.loads(r.payload).get("data", {})
        if d.get("e") == "depthUpdate":
            total += len(d["b"]) + len(d["a"])
    return total


def coinbase_run(lines) -> None:
    n = CoinbaseNormaliser()
    feed = n.feed_line
    for payload, recv in lines:
        feed(payload, recv)
        if n.pending() >= 8192:
            n.take()
    n.take()


def binance_run(records) -> None:
    n = BinanceNormaliser()
    for r in records:
        n.feed_line(r.payload, r.recv_ns, r.url)
        if n.pending() >= 8192:
            n.take()
    n.take()


def _median_rate(fn, work: int, repeat: int) -> float:
    rates = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        rates.append(work / (time.perf_counter() - t))
    return statistics.median(rates)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--messages", type=int, default=1_000_000,
                        help="synthetic ITCH messages (default 1,000,000)")
    parser.add_argument("--python-messages", type=int, default=100_000,
                        help="messages given to the pure-Python parsers (default 100,000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median)")


def run(args: argparse.Namespace) -> Report:
    # The JSON replays count and log filter hits (the first few per normaliser): not the work.
    logging.getLogger("ordex.feeds").setLevel(logging.ERROR)
    data = synthetic_itch(args.messages)
    n = args.messages
    small_n = min(args.python_messages, n)
    small = data if small_n == n else synthetic_itch(small_n)
    report = Report("feeds", settings={
        "workload": f"{WORKLOAD}: {n:,} messages ({len(data) / 1e6:.1f} MB), 50 instruments",
        "python_parsers_on": f"{small_n:,} messages", "repeat": args.repeat,
    })
    parse = statistics.median(parse_rate(data, n) for _ in range(args.repeat))
    book = statistics.median(book_rate(data, n) for _ in range(args.repeat))
    py_repeat = max(1, args.repeat // 2)
    itchfeed = _median_rate(lambda: itchfeed_parse(small), small_n, py_repeat)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "small.itch50")
        with open(path, "wb") as f:
            f.write(small)
        meatpy = _median_rate(lambda: meatpy_parse(path), small_n, py_repeat)
        one_n = max(1, small_n // 5)
        one = synthetic_itch(one_n, n_instruments=1, seed=2)
        one_path = os.path.join(tmp, "one.itch50")
        with open(one_path, "wb") as f:
            f.write(one)
        meatpy_bk = _median_rate(lambda: meatpy_book(one_path, "S0000"), one_n, py_repeat)
    reps = max(1, 1_000_000 // one_n)
    one_book = _median_rate(lambda: [book_run(one) for _ in range(reps)], one_n * reps,
                            args.repeat)
    pybook = _median_rate(lambda: dict_book(itchfeed_parse(small)), small_n, py_repeat)
    report.add(f"parse.{WORKLOAD}.throughput", "/s", parse)
    report.add(f"parse_book.{WORKLOAD}.throughput", "/s", book)
    report.add(f"itchfeed_parse.{WORKLOAD}.throughput", "/s", itchfeed)
    report.add(f"meatpy_parse.{WORKLOAD}.throughput", "/s", meatpy)
    report.add(f"itchfeed_book.{WORKLOAD}.throughput", "/s", pybook)
    report.add(f"parse.{WORKLOAD}.ratio_vs_itchfeed", "", parse / itchfeed)
    report.add(f"parse.{WORKLOAD}.ratio_vs_meatpy", "", parse / meatpy)
    report.add(f"parse_book.{WORKLOAD}.ratio_vs_itchfeed", "", book / pybook)
    report.add("meatpy_book.itch_one_instrument.throughput", "/s", meatpy_bk)
    report.add("parse_book.itch_one_instrument.throughput", "/s", one_book)
    report.add("parse_book.itch_one_instrument.ratio_vs_meatpy", "", one_book / meatpy_bk)

    lines, source = _coinbase_lines()
    updates = _level_updates_coinbase(lines)
    reps = max(1, 100_000 // max(1, updates))
    rate = _median_rate(lambda: [coinbase_run(lines) for _ in range(reps)], updates * reps,
                        args.repeat)
    report.add("normalise.coinbase_l2.throughput", "/s", rate)
    report.add("normalise.coinbase_l2_msgs.throughput", "/s", rate * len(lines) / updates)
    report.settings["coinbase_l2"] = (f"{source} x{reps}: {updates * reps:,} l2update level "
                                      f"changes in {len(lines) * reps:,} messages")

    records = _synthetic_binance(20_000)
    updates = _level_updates_binance(records[1:])
    rate = _median_rate(lambda: binance_run(records), updates, args.repeat)
    report.add("normalise.binance_depth.throughput", "/s", rate)
    report.settings["binance_depth"] = (f"synthetic: one 998-level snapshot, then "
                                        f"{len(records) - 1:,} diffs with {updates:,} levels")
    records, source = _binance_records()
    reps = max(1, 20_000 // len(records))
    rate = _median_rate(lambda: [binance_run(records) for _ in range(reps)], len(records) * reps,
                        args.repeat)
    report.add("normalise.binance_recording_msgs.throughput", "/s", rate)
    report.settings["binance_recording"] = f"{source} x{reps}: {len(records) * reps:,} messages"
    return report

"""Seeded, reproducible order-book workloads, as COMMAND_DTYPE arrays.

Each workload returns (setup, main): `setup` builds the starting book and is not timed; `main` is
the measured stream.  Commands are valid for the book state they meet (the generator tracks live
orders by applying every command to a scratch book), so the benchmark measures real work, not
rejects.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

from ordex.ext.book import COMMAND_DTYPE, EventKind, Op, OrderBook, Side, TimeInForce

CENTER = 100_000    # price in ticks around which both workloads trade
BUY, SELL = int(Side.BUY), int(Side.SELL)


@dataclass
class Workload:
    name: str
    setup: np.ndarray
    main: np.ndarray
    max_orders: int
    mix: dict[str, float] = field(default_factory=dict)
    # per main command: the order's total quantity (filled + new remaining) for moves, as an
    # order-entry protocol states it (FIX OrderQty); `qty` elsewhere
    totals: np.ndarray | None = None


class _LiveSet:
    """Live order ids with O(1) random choice and removal."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.pos: dict[int, int] = {}

    def add(self, oid: int) -> None:
        if oid not in self.pos:
            self.pos[oid] = len(self.ids)
            self.ids.append(oid)

    def discard(self, oid: int) -> None:
        i = self.pos.pop(oid, None)
        if i is not None:
            last = self.ids.pop()
            if i < len(self.ids):
                self.ids[i] = last
                self.pos[last] = i

    def __len__(self) -> int:
        return len(self.ids)


def exchange_core_mix(n: int, seed: int = 1, resting: int = 1000, half_range: int = 900,
                      accounts: int = 1000) -> Workload:
    """exchange-core's published mix on one instrument: about `resting` orders over ~750 levels
    (prices uniform within +-half_range ticks of the centre, bids below, asks above), `accounts`
    owners; commands 9% new GTC limit, 3% IOC, 6% cancel, 82% move (replace price, same quantity).
    The share of new vs cancel is nudged to hold the book near `resting` orders."""
    rng = random.Random(seed)
    scratch = OrderBook(max_orders=max(4 * resting, 1024), max_instruments=1)
    scratch.add_instrument(0)
    live = _LiveSet()
    rows: list[tuple] = []
    totals: list[int] = []
    filled: dict[int, int] = {}
    next_id = 1
    counts = {"gtc": 0, "ioc": 0, "cancel": 0, "move": 0}
    row = np.zeros(1, dtype=COMMAND_DTYPE)

    def apply(op: int, oid: int, side: int, price: int, qty: int, tif: int, owner: int) -> None:
        row[0] = (oid, price, qty, 0, owner, 0, op, side, tif, 0, 0, 0, 0, 0, 0)
        rows.append(row[0].item())
        totals.append(qty + filled.get(oid, 0) if op == Op.REPLACE else qty)
        scratch.execute(row)
        for ev in scratch.take_events():
            kind = ev[7]
            if kind == EventKind.FILL:
                filled[ev[0]] = filled.get(ev[0], 0) + ev[3]
                filled[ev[1]] = filled.get(ev[1], 0) + ev[3]
            for x in (ev[0], ev[1]):
                if x and scratch.order(x) is None:
                    live.discard(x)
            if kind == EventKind.RESTED:
                live.add(ev[0])

    def passive_price(side: int) -> int:
        off = rng.randint(1, half_range)
        return CENTER - off if side == BUY else CENTER + off

    def new_gtc() -> None:
        nonlocal next_id
        side = rng.choice((BUY, SELL))
        price = passive_price(side)
        if rng.random() < 0.1:    # an aggressive limit now and then, so GTC orders trade too
            best = scratch.best_ask(0) if side == BUY else scratch.best_bid(0)
            if best:
                price = best
        apply(Op.LIMIT, next_id, side, price, rng.randint(1, 100), TimeInForce.GTC,
              rng.randint(1, accounts))
        next_id += 1

    for _ in range(resting):
        side = rng.choice((BUY, SELL))
        apply(Op.LIMIT, next_id, side, passive_price(side), rng.randint(1, 100), TimeInForce.GTC,
              rng.randint(1, accounts))
        next_id += 1
    n_setup = len(rows)

    while len(rows) - n_setup < n:
        r = rng.random()
        if r < 0.09 or len(live) < 0.9 * resting:
            new_gtc()
            counts["gtc"] += 1
        elif r < 0.12:
            side = rng.choice((BUY, SELL))
            best = scratch.best_ask(0) if side == BUY else scratch.best_bid(0)
            price = (best or CENTER) + (rng.randint(0, 3) if side == BUY else -rng.randint(0, 3))
            apply(Op.LIMIT, next_id, side, price, rng.randint(1, 100), TimeInForce.IOC,
                  rng.randint(1, accounts))
            next_id += 1
            counts["ioc"] += 1
        elif (r < 0.18 or len(live) > 1.1 * resting) and len(live):
            apply(Op.CANCEL, rng.choice(live.ids), 0, 0, 0, 0, 0)
            counts["cancel"] += 1
        elif len(live):
            oid = rng.choice(live.ids)
            o = scratch.order(oid)
            step = rng.choice((-1, 1)) * rng.randint(1, 10)
            lo, hi = (CENTER - half_range, CENTER - 1) if o["side"] == BUY else (CENTER + 1, CENTER + half_range)
            price = min(max(o["price"] + step, lo), hi)
            if price == o["price"]:
                price = o["price"] - step if lo <= o["price"] - step <= hi else o["price"]
            apply(Op.REPLACE, oid, 0, price, o["leaves"], 0, 0)
            counts["move"] += 1
    arr = np.array(rows, dtype=COMMAND_DTYPE)
    total = sum(counts.values())
    return Workload("exchange_core_mix", arr[:n_setup].copy(), arr[n_setup:].copy(),
                    max_orders=max(4 * resting, 1024),
                    mix={k: round(v / total, 4) for k, v in counts.items()},
                    totals=np.array(totals[n_setup:], dtype=np.int64))


def insert_heavy(n: int, seed: int = 2, half_range: int = 50) -> Workload:
    """New GTC limit orders only, alternating sides; every second one is priced to cross
    (it trades against the best opposite levels), the others rest near the touch."""
    rng = np.random.default_rng(seed)
    arr = np.zeros(n, dtype=COMMAND_DTYPE)
    i = np.arange(n)
    side = np.where(i % 2 == 0, BUY, SELL)
    crossing = (i // 2) % 2 == 1
    off = rng.integers(1, half_range + 1, n)
    sign = np.where(side == BUY, -1, 1)
    arr["price"] = CENTER + np.where(crossing, -sign * off, sign * off)
    arr["order_id"] = i + 1
    arr["qty"] = rng.integers(1, 101, n)
    arr["owner"] = rng.integers(1, 1001, n)
    arr["op"] = Op.LIMIT
    arr["side"] = side
    arr["tif"] = TimeInForce.GTC
    return Workload("insert_heavy", np.zeros(0, dtype=COMMAND_DTYPE), arr, max_orders=n + 1024,
                    mix={"gtc": 1.0, "crossing": 0.5}, totals=arr["qty"].copy())


def as_calls(cmds: np.ndarray) -> list[tuple]:
    """Rows as (op, instrument, order_id, side, price, qty, tif) tuples for per-call loops."""
    return list(zip(*(cmds[f].tolist() for f in ("op", "instrument", "order_id", "side", "price",
                                                  "qty", "tif"))))


def run_calls(book, calls: list[tuple], drain_every: int = 1024) -> None:
    """Drive a book through its per-call Python API, draining events as a consumer would."""
    limit, market, cancel, reduce, replace, clear = (
        book.limit, book.market, book.cancel, book.reduce, book.replace, book.clear_events)
    n = 0
    for op, instrument, oid, side, price, qty, tif in calls:
        if op == 5:
            replace(oid, price, qty)
        elif op == 1:
            limit(instrument, oid, side, price, qty, tif)
        elif op == 3:
            cancel(oid)
        elif op == 2:
            market(instrument, oid, side, qty, price, tif)
        else:
            reduce(oid, qty)
        n += 1
        if n == drain_every:
            clear()
            n = 0
    clear()

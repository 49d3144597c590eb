"""Seeded engine command streams for the snapshot tests: everything a snapshot must carry.

`mixed_commands` draws every command kind through the engine's command schema: limit orders with
every TIF (GTD included), icebergs, post-only and self-trade prevention, market orders, stops and
stop-limits, OCO pairs and OTO children, cancels and replaces by id and by ClOrdID, mass cancels,
halts/closes, reference prices, kill switches, risk limit changes (SET_LIMIT), timers, status requests, duplicate ClOrdIDs,
PURGE_CLORDIDS every PURGE_EVERY commands, and
a throttled session.  Prices stay near a drifting centre so that orders cross, stops trigger and
icebergs replenish.  `exchange_core_commands` is the book benchmark's mix as engine commands.
"""
from __future__ import annotations

import random

import numpy as np

from ordex.core.commands import (COMMAND_DTYPE, CommandKind, Flag, Limit, OrdType, Scope, Tif,
                                 target)
from ordex.core.refdata import from_dicts
from ordex.perf.book_workloads import exchange_core_mix
from ordex.perf.engine import engine_commands

INSTRUMENTS = [
    dict(symbol="AAA", currency="USD", price_increment="0.01", qty_increment="1", band_pct="20",
         ref_max_age_s="5", maker_fee_bps="1", taker_fee_bps="3"),
    dict(symbol="BBB", currency="EUR", price_increment="0.01", qty_increment="1", tick="0.05",
         lot="10", maker_fee_bps="10", taker_fee_bps="20"),
    dict(symbol="FRAC", currency="USD", price_increment="0.01", qty_increment="0.000001",
         lot="0.5"),
]
TICK = {0: 1, 1: 5, 2: 1}
LOT = {0: 1, 1: 10, 2: 500_000}
CENTRE = {0: 10_000, 1: 5_000, 2: 2_000}
PURGE_EVERY = 1000               # commands between PURGE_CLORDIDS (the ClOrdID table shrinks)
ACCOUNTS = [
    dict(name="alice", balances={"USD": "50000000", "EUR": "50000000"},
         positions={"AAA": "100000", "BBB": "100000", "FRAC": "1000"}),
    dict(name="bob", balances={"USD": "50000000", "EUR": "50000000"}, may_short=True),
    dict(name="carol", balances={"USD": "20000000", "EUR": "20000000"},
         positions={"AAA": "50000", "BBB": "50000", "FRAC": "500"}, max_position="200000"),
    dict(name="dave", balances={"USD": "30000000", "EUR": "30000000"}, may_short=True),
]
SESSIONS = [dict(name="s0", accounts=["alice", "bob", "carol", "dave"]),
            dict(name="s1", accounts=["bob", "dave"], max_orders_per_sec=50)]
SESSION_ACCOUNTS = {0: [0, 1, 2, 3], 1: [1, 3]}


def refdata(balance_override: str | None = None):
    accounts = [dict(a) for a in ACCOUNTS]
    if balance_override is not None:
        accounts[0]["balances"] = {"USD": balance_override, "EUR": "50000000"}
    return from_dicts(INSTRUMENTS, accounts, SESSIONS, {"USD": "0.01", "EUR": "0.01"})


class _Gen:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.rows: list[np.ndarray] = []
        self.ts = 1_700_000_000_000_000_000
        self.next_id = 1                 # the engine numbers NEW_ORDERs with fresh ClOrdIDs
        self.ids: list[tuple] = []       # (id, session, account, instrument, ord_type)
        self.clordids: dict[int, list[str]] = {0: [], 1: []}
        self.day_start = {0: 0, 1: 0}    # clordids before these indexes were purged
        self.n = 0
        self.centre = dict(CENTRE)

    def clordid(self, session: int) -> tuple[str, bool]:
        used = self.clordids[session][self.day_start[session]:]     # still duplicates
        if used and self.rng.random() < 0.02:
            return self.rng.choice(used), True
        used = self.clordids[session]
        self.n += 1
        cid = f"k{self.n}"
        used.append(cid)
        return cid, False

    def emit(self, kind: int, **fields) -> None:
        row = np.zeros(1, dtype=COMMAND_DTYPE)
        row["kind"] = kind
        row["ts_ns"] = self.ts
        for k, v in fields.items():
            row[k] = v.encode() if isinstance(v, str) else v
        self.rows.append(row)

    def recent(self, session: int | None = None):
        pool = self.ids[-25:]
        if session is not None:
            pool = [x for x in pool if x[1] == session] or pool
        return self.rng.choice(pool) if pool else None

    def price(self, instrument: int, side: int, spread: int = 15) -> int:
        tick = TICK[instrument]
        off = self.rng.randint(-3, spread)      # mostly passive, sometimes crossing
        base = self.centre[instrument] // tick
        return max(1, base + (-off if side == 1 else off)) * tick

    def qty(self, instrument: int, big: bool = False) -> int:
        return self.rng.randint(1, 40 if big else 12) * LOT[instrument]

    def new_order(self, session: int, ord_type: int, **extra) -> None:
        rng = self.rng
        account = rng.choice(SESSION_ACCOUNTS[session])
        instrument = extra.pop("instrument", rng.randrange(3))
        side = extra.pop("side", rng.choice((1, 2)))
        cid, dup = self.clordid(session)
        fields = dict(session=session, account=account, instrument=instrument, side=side,
                      ord_type=ord_type, clordid=cid, stp=rng.choice((0, 0, 1, 2, 3, 4)))
        if ord_type in (OrdType.LIMIT, OrdType.STOP_LIMIT):
            fields["price"] = self.price(instrument, side)
        if ord_type in (OrdType.STOP, OrdType.STOP_LIMIT):
            off = rng.randint(1, 6) * TICK[instrument]
            fields["stop_price"] = self.centre[instrument] + (off if side == 1 else -off)
        if ord_type == OrdType.LIMIT:
            fields["tif"] = rng.choice((Tif.GTC, Tif.GTC, Tif.DAY, Tif.IOC, Tif.FOK, Tif.GTD))
            if fields["tif"] == Tif.GTD:
                fields["expire_ts_ns"] = self.ts + rng.randint(1, 40) * 10_000_000
        else:
            fields["tif"] = rng.choice((Tif.GTC, Tif.DAY)) if ord_type != OrdType.MARKET else Tif.IOC
        qty = self.qty(instrument, big=True)
        fields["qty"] = qty
        if ord_type == OrdType.LIMIT and rng.random() < 0.25:
            fields["display"] = rng.randint(1, max(1, qty // LOT[instrument] // 3)) * LOT[instrument]
        if ord_type == OrdType.LIMIT and rng.random() < 0.08:
            fields["flags"] = Flag.POST_ONLY
        fields.update(extra)
        self.emit(CommandKind.NEW_ORDER, **fields)
        if not dup:
            self.ids.append((self.next_id, session, account, instrument, ord_type))
            self.next_id += 1

    def set_limit(self) -> None:
        """An operator's SET_LIMIT: every limit, now and then a value the engine refuses."""
        rng = self.rng
        limit = rng.choice(list(Limit))
        inst = rng.randrange(3)
        value = {Limit.MAX_POSITION: rng.choice((0, 150_000, 300_000)) * LOT[inst],
                 Limit.MAX_ORDER_QTY: rng.choice((0, 40, 400)) * LOT[inst],
                 Limit.MAX_NOTIONAL: rng.choice((0, 10**7, 10**9)),
                 Limit.COLLAR_BPS: rng.choice((0, 500, 2000)),
                 Limit.REF_MAX_AGE: rng.choice((10**9, 5 * 10**9)),
                 Limit.THROTTLE: rng.choice((0, 20, 50))}[limit]
        if rng.random() < 0.1:
            value = -1
        self.emit(CommandKind.SET_LIMIT, session=-1, status=limit, account=rng.randrange(4),
                  instrument=inst, target_session=target(rng.randrange(2)), qty=value,
                  clordid="adm:test")

    def step(self) -> None:
        rng = self.rng
        if len(self.rows) % PURGE_EVERY == PURGE_EVERY - 1:     # a new trading day for ClOrdIDs
            self.emit(CommandKind.PURGE_CLORDIDS, session=-1, clordid=f"day{len(self.rows)}")
            self.day_start = {s: len(used) for s, used in self.clordids.items()}
            return
        self.ts += rng.choice((0, 1_000, 50_000, 2_000_000, 20_000_000))
        session = 0 if rng.random() < 0.8 else 1
        r = rng.random()
        if r < 0.30:
            self.new_order(session, OrdType.LIMIT)
        elif r < 0.36:
            self.new_order(session, OrdType.MARKET)
        elif r < 0.44:
            self.new_order(session, rng.choice((OrdType.STOP, OrdType.STOP_LIMIT)))
        elif r < 0.49:
            target = self.recent(session)
            if target:
                kind = rng.choice((OrdType.LIMIT, OrdType.STOP, OrdType.STOP_LIMIT))
                self.new_order(session, kind, account=target[2], instrument=target[3],
                               flags=Flag.OCO, link=target[0])
        elif r < 0.53:
            target = self.recent(session)
            if target:
                self.new_order(session, OrdType.LIMIT, account=target[2], instrument=target[3],
                               flags=Flag.OTO, link=target[0])
        elif r < 0.65:
            target = self.recent(session)
            if target:
                cid, _ = self.clordid(session)
                if rng.random() < 0.5:
                    self.emit(CommandKind.CANCEL, session=session, clordid=cid, order_id=target[0])
                else:
                    orig = rng.choice(self.clordids[session][-40:])
                    self.emit(CommandKind.CANCEL, session=session, clordid=cid, orig_clordid=orig)
        elif r < 0.77:
            target = self.recent(session)
            if target:
                cid, _ = self.clordid(session)
                inst, ord_type = target[3], target[4]
                side = rng.choice((1, 2))
                price = self.price(inst, side) if ord_type in (OrdType.LIMIT, OrdType.STOP_LIMIT) else 0
                stop = self.centre[inst] if ord_type in (OrdType.STOP, OrdType.STOP_LIMIT) else 0
                self.emit(CommandKind.REPLACE, session=session, clordid=cid, order_id=target[0],
                          price=price, qty=self.qty(inst, big=True), stop_price=stop)
        elif r < 0.785:
            scope = rng.choice((Scope.SESSION, Scope.ACCOUNT, Scope.INSTRUMENT))
            self.emit(CommandKind.MASS_CANCEL, session=rng.choice((session, -1)), scope=scope,
                      account=rng.randrange(4), instrument=rng.choice((-1, 0, 1, 2)))
        elif r < 0.81:
            self.emit(CommandKind.SET_STATUS, instrument=rng.randrange(3),
                      status=rng.choice((0, 0, 0, 0, 0, 0, 1, 2)))
        elif r < 0.87:
            inst = rng.randrange(3)
            self.centre[inst] = max(100 * TICK[inst], self.centre[inst]
                                    + rng.randint(-3, 3) * TICK[inst])
            self.emit(CommandKind.REFERENCE_PRICE, instrument=inst, price=self.centre[inst])
        elif r < 0.875:
            on = Flag.ON if rng.random() < 0.3 else 0
            if rng.random() < 0.5:
                self.emit(CommandKind.KILL_SWITCH, scope=Scope.ACCOUNT, account=rng.randrange(4),
                          flags=on)
            else:
                self.emit(CommandKind.KILL_SWITCH, scope=Scope.SESSION, session=1, flags=on)
        elif r < 0.885:
            self.set_limit()
        elif r < 0.93:
            self.emit(CommandKind.TIMER)
        elif r < 0.97:
            self.new_order(session, OrdType.LIMIT)
        else:
            target = self.recent(session)
            if target:
                self.emit(CommandKind.STATUS_REQUEST, session=session, order_id=target[0])


def mixed_commands(n: int, seed: int) -> np.ndarray:
    """n commands with seq 1..n and non-decreasing ts_ns (see the module docstring)."""
    g = _Gen(seed)
    for inst in range(3):        # markets need a fresh reference from the start
        g.emit(CommandKind.REFERENCE_PRICE, instrument=inst, price=g.centre[inst])
    while len(g.rows) < n:
        g.step()
    rows = np.concatenate(g.rows[:n])
    rows["seq"] = np.arange(1, n + 1)
    return rows


def exchange_core_commands(n: int, seed: int = 5):
    """(reference data, commands): the book benchmark's mix through the engine schema."""
    from ordex.perf.engine import reference_data
    w = exchange_core_mix(n, seed=seed, resting=300)
    rows = engine_commands(np.concatenate([w.setup, w.main]),
                           np.concatenate([w.setup["qty"], w.totals]), 1)
    return reference_data(), rows

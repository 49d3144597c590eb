"""Shared helpers for the engine tests: standard reference data, a command driver, event views.

Units in the standard reference data (see `refdata()`): USD and EUR have a cash increment of 0.01
and every instrument but FRAC a price increment of 0.01 and a quantity increment of 1, so that
notional(p, q) = p * q exactly and the expected numbers below can be worked out by hand.
"""
from __future__ import annotations

from collections import namedtuple

from ordex.core.commands import CommandKind, Flag, OrdType, Side, Tif, command
from ordex.core.events import EVENT_DTYPE, EventKind
from ordex.core.lifecycle import OrderState
from ordex.core.reasons import Reason
from ordex.core.refdata import from_dicts
from ordex.core.refengine import ReferenceEngine

Ev = namedtuple("Ev", EVENT_DTYPE.names)

AAA, BBB, FRAC, CRS = 0, 1, 2, 3            # instruments
ALICE, BOB, CAROL = 0, 1, 2                 # accounts: alice may not short, bob may
S0, S1 = 0, 1                               # sessions: S0 trades alice+bob, S1 bob+carol (throttled)
BUY, SELL = Side.BUY, Side.SELL

CURRENCIES = {"USD": "0.01", "EUR": "0.01"}


def instruments(**overrides):
    """The standard instruments; `overrides` maps a symbol to fields replacing the defaults."""
    rows = [
        dict(symbol="AAA", currency="USD", price_increment="0.01", qty_increment="1"),
        dict(symbol="BBB", currency="EUR", price_increment="0.01", qty_increment="1",
             maker_fee_bps="10", taker_fee_bps="20"),
        dict(symbol="FRAC", currency="USD", price_increment="0.01", qty_increment="0.000001"),
        dict(symbol="CRS", currency="USD", price_increment="0.01", tick="0.05", qty_increment="1",
             lot="10"),
    ]
    for r in rows:
        r.update(overrides.get(r["symbol"], {}))
    return rows


def accounts(**overrides):
    rows = [
        dict(name="alice", balances={"USD": "1000", "EUR": "1000"}, positions={"AAA": "100", "BBB": "100"}),
        dict(name="bob", balances={"USD": "1000", "EUR": "1000"}, may_short=True),
        dict(name="carol", balances={"USD": "1000"}, instruments=["AAA", "FRAC"]),
    ]
    for r in rows:
        r.update(overrides.get(r["name"], {}))
    return rows


def sessions(**overrides):
    rows = [dict(name="s0", accounts=["alice", "bob"]),
            dict(name="s1", accounts=["bob", "carol"], max_orders_per_sec=2)]
    for r in rows:
        r.update(overrides.get(r["name"], {}))
    return rows


def refdata(instrument_overrides=None, account_overrides=None, session_overrides=None):
    return from_dicts(instruments(**(instrument_overrides or {})),
                      accounts(**(account_overrides or {})),
                      sessions(**(session_overrides or {})), CURRENCIES)


def compiled_engine_class():
    from ordex.ext.engine import Engine
    return Engine


ENGINES = {"reference": lambda: ReferenceEngine, "compiled": compiled_engine_class}


class Driver:
    """Sends one command at a time, stamping seq and ts_ns, and returns that command's events.

    After every command it runs check_invariants(), so every test also checks the accounting
    invariants along the way."""

    def __init__(self, engine, ts_ns=1_000_000_000):
        self.engine = engine
        self.seq = 0
        self.ts_ns = ts_ns
        self.clordid_n = 0

    def send(self, kind, ts_ns=None, **fields):
        self.seq += 1
        if ts_ns is not None:
            self.ts_ns = ts_ns
        row = command(kind, seq=self.seq, ts_ns=self.ts_ns, **fields)
        n = self.engine.apply(row)
        events = [Ev(*e) for e in self.engine.take_events()]
        assert n == len(events)
        self.engine.check_invariants()
        return events

    def next_clordid(self):
        self.clordid_n += 1
        return f"c{self.clordid_n}"

    def new(self, side, qty, price=0, *, session=S0, account=ALICE, instrument=AAA,
            ord_type=None, tif=Tif.GTC, clordid=None, **fields):
        if ord_type is None:
            ord_type = OrdType.LIMIT if price else OrdType.MARKET
        return self.send(CommandKind.NEW_ORDER, session=session, account=account,
                         instrument=instrument, side=side, qty=qty, price=price,
                         ord_type=ord_type, tif=tif, clordid=clordid or self.next_clordid(),
                         **fields)

    def buy(self, qty, price=0, **kw):
        return self.new(BUY, qty, price, **kw)

    def sell(self, qty, price=0, **kw):
        return self.new(SELL, qty, price, **kw)

    def cancel(self, order_id=0, orig_clordid="", session=S0, clordid=None):
        return self.send(CommandKind.CANCEL, session=session, order_id=order_id,
                         orig_clordid=orig_clordid, clordid=clordid or self.next_clordid())

    def replace(self, order_id=0, *, qty, price=0, stop_price=0, orig_clordid="", session=S0,
                clordid=None):
        return self.send(CommandKind.REPLACE, session=session, order_id=order_id,
                         orig_clordid=orig_clordid, qty=qty, price=price, stop_price=stop_price,
                         clordid=clordid or self.next_clordid())

    def status(self, instrument, status):
        return self.send(CommandKind.SET_STATUS, instrument=instrument, status=status)

    def reference(self, instrument, price, ts_ns=None):
        return self.send(CommandKind.REFERENCE_PRICE, instrument=instrument, price=price, ts_ns=ts_ns)

    def kill(self, scope, on, account=0, session=0):
        return self.send(CommandKind.KILL_SWITCH, scope=scope, account=account, session=session,
                         flags=Flag.ON if on else 0)

    def timer(self, ts_ns):
        return self.send(CommandKind.TIMER, ts_ns=ts_ns)


def brief(e):
    """(kind, order_id, state, leaves, cum_qty, avg_px, reason): what most assertions need."""
    return (EventKind(e.kind).name, e.order_id, e.state, e.leaves, e.cum_qty, e.avg_px, e.reason)


def briefs(events):
    return [brief(e) for e in events]


def trade(e):
    """(order_id, other_order_id, last_px, last_qty, leaves, cum_qty, avg_px, fee, liquidity, state)."""
    assert e.kind == EventKind.TRADE, e
    return (e.order_id, e.other_order_id, e.last_px, e.last_qty, e.leaves, e.cum_qty, e.avg_px,
            e.fee, e.liquidity, e.state)


def only(events, kind=None):
    assert len(events) == 1, briefs(events)
    if kind is not None:
        assert events[0].kind == kind, briefs(events)
    return events[0]


def rejected(events, reason):
    """The single REJECTED event of a refused NEW_ORDER, with the expected reason."""
    e = only(events, EventKind.REJECTED)
    assert e.reason == reason, (Reason(e.reason).name, Reason(reason).name)
    assert (e.state, e.leaves, e.cum_qty) == (OrderState.REJECTED, 0, 0)
    return e


def cancel_rejected(events, reason):
    e = only(events, EventKind.CANCEL_REJECTED)
    assert e.reason == reason, (Reason(e.reason).name, Reason(reason).name)
    return e


def accepted(events):
    assert events and events[0].kind in (EventKind.NEW, EventKind.PENDING_TRIGGER), briefs(events)
    return events[0].order_id


def unchanged(before, after):
    """States equal apart from the order-id and exec-id counters (a reject consumes both) and the
    number of recorded ClOrdIDs (a rejected NEW_ORDER, CANCEL or REPLACE records its clordid)."""
    assert before[2:-1] == after[2:-1]
    assert after[-1] - before[-1] in (0, 1)

"""A slow, plain-Python engine implementing the contract in ext/engine.pyi.

It exists to check the compiled `ordex.ext.engine.Engine`: the tests run both on the same command
streams and require identical events and identical `state()`.  It is written to be read against the
contract paragraph by paragraph, so it keeps orders in a dict and scans it where the contract says
"in order-id order"; it uses the pure-Python `ReferenceBook` and never imports compiled code.
Arithmetic is on Python ints, with the contract's rounding spelled out (`_floor_div`, `_ceil_div`,
`_trunc_div`), so nothing depends on Python's floor-toward-minus-infinity `//` by accident.

Where the contract (including its "Edge decisions") is silent or ambiguous, this engine takes the
readings below; the tests pin them, and each is a question for the contract:

R1  The admin session (-1) may cancel, replace, query and mass-cancel anything, but enters no
    orders: a NEW_ORDER from it is "session unknown" (ACCOUNT_NOT_PERMITTED, order_id 0).  It is
    never throttled and has no kill switch.
R2  Step 10 checks, in the contract's order: link not a live or pending order of the same account
    (UNKNOWN_ORDER), then both flags / target already linked / OTO child not LIMIT
    (INVALID_ORDER_TYPE).  "Already linked": an OCO target may have no OCO sibling, no OTO child
    and must not itself be an OTO child (even after its release); an OTO parent may have no OTO
    child and no OCO sibling (an OTO child may be a parent: chains are allowed).
R3  Links take effect when the order is accepted (its NEW or PENDING_TRIGGER event).  An order
    rejected at entry -- by risk or by the book -- never affects the order it named.
R4  A leg's trade or end dissolves the OCO link at once and queues the sibling's cancel, so a
    sibling that trades later in the same book operation queues nothing more.  For one event the
    OCO follow-up is queued before the OTO one.
R5  A triggered stop or released child that the book refuses (post-only would cross) is CANCELLED
    with that reason, after its TRIGGERED event.
R6  The engine's order table (live and pending orders) holds at most max_orders: an order that
    passes steps 1-14 when it is full is REJECTED BOOK_FULL before any hold is taken.
R7  REPLACE: the collar (11) applies to LIMIT / STOP_LIMIT only; a STOP's hold price follows its
    new stop price.
R8  A REFERENCE_PRICE with price <= 0 is ignored.
R9  Position limit in increments: floor(max_position / qty_increment); 0 means no limit.
R10 Realized P&L on a short reduced by a buy is (-removed) - n_r, where removed is the signed
    share of the (negative) cost basis; the contract's "removed - n_r" read literally would have
    the sign wrong.
R11 Ended orders report leaves 0.  TRADE-only fields (last_px, fee, liquidity, other_order_id)
    are 0 on other kinds; RESTATED carries last_qty.
R12 A self-trade (STP NONE, one account on both sides) updates the account for the taker's side,
    then for the maker's, as the events are emitted.
R13 state(): expire_ts_ns is 0 for non-GTD orders; every currency of the reference data is listed
    for every account; unthrottled sessions keep tokens_ns and last_ts_ns at 0, and a command
    stamped earlier than the bucket's last_ts_ns refills nothing.
R14 KILL_SWITCH reads Flag.ON (8) as "on" (commands.py's comment says bit 0).
R15 SET_LIMIT checks actor, then selector, then target, then value; the limits it changes are
    this engine's own copies (`_limits`, `_max_position`, a session's rate), which every check
    reads instead of the reference data.
R16 target_session is read from the admin session's commands only (trading sessions' records
    journaled before the sequencer zeroed padding may hold garbage there).
R17 PURGE_CLORDIDS (admin only) keeps exactly the (session, clordid) entries whose order id is a
    live or pending order; SET_STATUS emits STATUS_CHANGED only when the status changes.
"""
from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from types import SimpleNamespace
from typing import Any

import numpy as np

from ordex.core.commands import (ADMIN_SESSION, COMMAND_DTYPE, CommandKind, Flag, Limit, OrdType,
                                 Scope, Side, Tif)
from ordex.core.events import EVENT_DTYPE, EventKind, Liquidity
from ordex.core.lifecycle import LifecycleEvent as LE
from ordex.core.lifecycle import OrderState as OS
from ordex.core.lifecycle import TERMINAL, next_state
from ordex.core.reasons import Reason
from ordex.core.refbook import CancelReason as BookReason
from ordex.core.refbook import EventKind as BookEvent
from ordex.core.refbook import ReferenceBook
from ordex.core.refbook import Result as BookResult
from ordex.core.refbook import TimeInForce as BookTif
from ordex.core.refdata import ReferenceData

BPS = 10_000
TOKEN_NS = 1_000_000_000          # one order's worth of throttle tokens, in token-ns

_TIFS = {int(t) for t in Tif}
_ORD_TYPES = {int(t) for t in OrdType}
_BOOK_TIF = {Tif.IOC: BookTif.IOC, Tif.FOK: BookTif.FOK}      # DAY / GTC / GTD rest as GTC
_BOOK_CANCEL_REASON = {BookReason.IOC_REMAINDER: Reason.IOC_REMAINDER,
                       BookReason.FOK_UNFILLABLE: Reason.FOK_UNFILLABLE,
                       BookReason.SELF_TRADE: Reason.SELF_TRADE}
_BOOK_REJECT_REASON = {BookResult.POST_ONLY_WOULD_TAKE: Reason.POST_ONLY_WOULD_TAKE,
                       BookResult.POOL_EXHAUSTED: Reason.BOOK_FULL}


def _floor_div(a: int, b: int) -> int:
    return a // b


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _trunc_div(a: int, b: int) -> int:
    """Division rounding toward zero (C's int64 `/`), unlike Python's `//`."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


class InvariantViolation(AssertionError):
    """check_invariants() found engine state that the contract forbids."""


@dataclass
class _Order:
    id: int
    session: int
    account: int
    instrument: int
    side: int
    ord_type: int
    tif: int
    price: int
    stop_price: int
    qty: int
    display: int
    expire_ts_ns: int
    post_only: bool
    stp: int
    clordid: bytes
    leaves: int = 0
    cum_qty: int = 0
    px_qty: int = 0               # sum of price * qty over fills, for avg_px
    state: int = OS.PENDING_NEW
    hold_price: int = 0           # price holds are computed at (MARKET: its protection price)
    hold_cash: int = 0
    hold_qty: int = 0
    oco: int = 0                  # OCO sibling id, 0 = none
    oto_parent: int = 0           # an OTO child waiting for this parent to fill, 0 = none
    oto_child: int = 0            # this order's OTO child, 0 = none
    is_child: bool = False        # entered as an OTO child (stays true after release)

    @property
    def avg_px(self) -> int:
        return _floor_div(self.px_qty, self.cum_qty) if self.cum_qty else 0


@dataclass
class _Position:
    qty: int = 0
    held_qty: int = 0
    cost: int = 0
    realized: int = 0


@dataclass
class _Market:                     # per instrument, mutable
    status: int
    last_px: int = 0
    last_ts: int = 0
    ref_px: int = 0
    ref_ts: int = 0


@dataclass
class _InstrumentLimits:           # per instrument, changed by SET_LIMIT
    max_qty: int
    max_notional: int
    band_bps: int
    ref_max_age_ns: int


@dataclass
class _Session:
    accounts: frozenset[int]
    rate: int                      # orders per second, 0 = unthrottled
    kill: bool = False
    tokens_ns: int = 0
    last_ts_ns: int = 0


@dataclass
class _Account:
    may_short: bool
    instruments: frozenset[int] | None
    kill: bool = False


class ReferenceEngine:
    def __init__(self, refdata: ReferenceData, max_orders: int = 1 << 20) -> None:
        if max_orders < 1:
            raise ValueError("max_orders must be positive")
        self.refdata = refdata
        self.max_orders = max_orders
        self._instr = list(refdata.instruments)
        self._book = ReferenceBook(max_orders=max_orders, max_instruments=max(1, len(self._instr)))
        for ins in self._instr:
            self._book.add_instrument(ins.id, tick=ins.tick, lot=ins.lot)
        self._markets = [_Market(status=ins.status) for ins in self._instr]
        self._limits = [_InstrumentLimits(ins.max_qty, ins.max_notional, ins.band_bps,
                                          ins.ref_max_age_ns) for ins in self._instr]
        sym = {ins.symbol: ins.id for ins in self._instr}
        acct_id = {a.name: a.id for a in refdata.accounts}
        self._accounts = [
            _Account(may_short=a.may_short,
                     instruments=(None if a.instruments is None
                                  else frozenset(sym[s] for s in a.instruments)))
            for a in refdata.accounts]
        # R9: in increments, floor(max_position / qty_increment) (int() truncates: both >= 0)
        self._max_position = [[int(Fraction(a.max_position) / Fraction(ins.qty_increment))
                               for ins in self._instr] for a in refdata.accounts]
        self._sessions = [
            _Session(accounts=frozenset(acct_id[n] for n in s.accounts), rate=s.max_orders_per_sec,
                     tokens_ns=s.max_orders_per_sec * TOKEN_NS)
            for s in refdata.sessions]
        # (account, currency) -> [available, held]; (account, instrument) -> position
        self._cash: dict[tuple[int, str], list[int]] = {}
        self._positions: dict[tuple[int, int], _Position] = {}
        for a in refdata.accounts:
            for cur, amount in a.balances.items():
                self._cash[a.id, cur] = [amount, 0]
            for s, qty in a.positions.items():
                self._positions[a.id, sym[s]] = _Position(qty=qty)
        self._fees: dict[str, int] = {}
        self._orders: dict[int, _Order] = {}                     # live and pending orders only
        self._clordids: dict[tuple[int, bytes], int] = {}        # used -> order id (0 = none)
        self._next_order_id = 1
        self._next_exec_id = 1
        self._events: list[tuple] = []
        self._followups: deque[tuple[str, int]] = deque()       # (action, order id), FIFO
        self._seq = 0
        self._ts = 0
        self._initial_cash = self._cash_totals()
        self._initial_positions = self._position_totals()

    # ---- public API --------------------------------------------------------------------------

    def apply(self, commands: np.ndarray) -> int:
        if not isinstance(commands, np.ndarray) or commands.dtype != COMMAND_DTYPE:
            raise TypeError("apply() takes a numpy array of COMMAND_DTYPE")
        before = len(self._events)
        for row in commands.reshape(-1):
            c = SimpleNamespace(**{name: row[name].item() for name in COMMAND_DTYPE.names})
            self._seq, self._ts = c.seq, c.ts_ns
            handler = self._HANDLERS.get(c.kind)
            if handler is not None:
                handler(self, c)
            self._settle()
        return len(self._events) - before

    def take_events(self) -> list[tuple]:
        events, self._events = self._events, []
        return events

    def events_array(self) -> np.ndarray:
        return np.array(self._events, dtype=EVENT_DTYPE)

    def clear_events(self) -> None:
        self._events = []

    def order(self, order_id: int) -> dict[str, Any] | None:
        o = self._orders.get(order_id)
        if o is None:
            return None
        return {"order_id": o.id, "session": o.session, "account": o.account,
                "instrument": o.instrument, "side": o.side, "ord_type": o.ord_type, "tif": o.tif,
                "price": o.price, "stop_price": o.stop_price, "qty": o.qty, "display": o.display,
                "cum_qty": o.cum_qty, "leaves": o.leaves, "avg_px": o.avg_px, "state": o.state,
                "hold_cash": o.hold_cash, "hold_qty": o.hold_qty,
                "expire_ts_ns": o.expire_ts_ns, "clordid": o.clordid}

    def account(self, account_id: int) -> dict[str, Any]:
        if not 0 <= account_id < len(self._accounts):
            raise KeyError(account_id)
        cash, positions, kill = self._account_state(account_id)
        return {"cash": {cur: (avail, held) for cur, avail, held in cash},
                "positions": {p[0]: p[1:] for p in positions},
                "kill_switch": kill}

    def instrument_status(self, instrument: int) -> int:
        """0 open, 1 halted, 2 closed."""
        if not 0 <= instrument < len(self._instr):
            raise KeyError(f"unknown instrument {instrument}")
        return self._markets[instrument].status

    def unrealized_pnl(self, account_id: int, instrument: int,
                       mark_px: int | None = None) -> int | None:
        """The position's value at the mark minus its cost basis, in cash increments; the mark
        defaults to the instrument's reference (None if it has none)."""
        if not (0 <= account_id < len(self._accounts) and 0 <= instrument < len(self._instr)):
            raise KeyError(f"unknown account {account_id} or instrument {instrument}")
        if mark_px is None:
            ref = self._reference(instrument)
            if ref is None:
                return None
            mark_px = ref[0]
        p = self._positions.get((account_id, instrument), _Position())
        value = self._notional(instrument, mark_px, abs(p.qty))
        return (value if p.qty >= 0 else -value) - p.cost

    def state(self) -> tuple:
        orders = tuple(
            (o.id, o.session, o.account, o.instrument, o.side, o.ord_type, o.tif, o.price,
             o.stop_price, o.qty, o.cum_qty, o.leaves, int(o.state), o.hold_cash, o.hold_qty,
             o.expire_ts_ns, o.clordid)
            for o in (self._orders[i] for i in sorted(self._orders)))
        big = 1 << 40
        books = tuple((tuple(self._book.depth(i, Side.BUY, big)),
                       tuple(self._book.depth(i, Side.SELL, big)))
                      for i in range(len(self._instr)))
        accounts = tuple(self._account_state(a) for a in range(len(self._accounts)))
        fees = tuple((cur, amt) for cur, amt in sorted(self._fees.items()) if amt)
        instruments = tuple((m.status, m.last_px, m.last_ts, m.ref_px, m.ref_ts)
                            for m in self._markets)
        sessions = tuple((s.kill, s.tokens_ns, s.last_ts_ns) for s in self._sessions)
        return (self._next_order_id, self._next_exec_id, orders, books, accounts, fees,
                instruments, sessions, self.limits(), len(self._clordids))

    def limits(self) -> tuple:
        """(per instrument (max_qty, max_notional, band_bps, ref_max_age_ns), per account a
        tuple of max_position per instrument, per session max orders per second)."""
        return (tuple((x.max_qty, x.max_notional, x.band_bps, x.ref_max_age_ns)
                      for x in self._limits),
                tuple(tuple(row) for row in self._max_position),
                tuple(s.rate for s in self._sessions))

    def state_hash(self) -> str:
        return hashlib.blake2b(repr(self.state()).encode(), digest_size=16).hexdigest()

    def check_invariants(self) -> None:
        def check(ok: bool, what: str) -> None:
            if not ok:
                raise InvariantViolation(what)

        self._book.validate()
        totals, initial = self._cash_totals(), self._initial_cash
        for cur in set(totals) | set(initial):
            check(totals.get(cur, 0) == initial.get(cur, 0),
                  f"{cur}: cash + holds + fees {totals.get(cur, 0)} != {initial.get(cur, 0)}")
        positions, initial = self._position_totals(), self._initial_positions
        for i in set(positions) | set(initial):
            check(positions.get(i, 0) == initial.get(i, 0),
                  f"instrument {i}: positions sum {positions.get(i, 0)} != {initial.get(i, 0)}")
        held_cash: dict[tuple[int, str], int] = {}
        held_qty: dict[tuple[int, int], int] = {}
        in_book = 0
        for o in self._orders.values():
            where = f"order {o.id}"
            check(o.state not in TERMINAL and o.state != OS.PENDING_NEW,
                  f"{where} in state {OS(o.state).name}")
            check(o.leaves > 0 and o.leaves == o.qty - o.cum_qty,
                  f"{where}: leaves {o.leaves} qty {o.qty} cum {o.cum_qty}")
            needed = self._hold_needed(o, o.leaves)
            check((o.hold_cash, o.hold_qty) == needed,
                  f"{where}: hold {o.hold_cash}/{o.hold_qty} != needed {needed}")
            cur = self._instr[o.instrument].currency
            held_cash[o.account, cur] = held_cash.get((o.account, cur), 0) + o.hold_cash
            key = (o.account, o.instrument)
            held_qty[key] = held_qty.get(key, 0) + o.hold_qty
            b = self._book.order(o.id)
            if o.state == OS.PENDING_TRIGGER:
                check(b is None, f"{where} is pending but in the book")
            else:
                in_book += 1
                check(b is not None and b["leaves"] == o.leaves,
                      f"{where}: book has {b}, engine leaves {o.leaves}")
        check(in_book == self._book.order_count,
              f"book holds {self._book.order_count} orders, engine {in_book}")
        for key, (available, held) in self._cash.items():
            check(held == held_cash.get(key, 0),
                  f"account {key}: held {held} != orders' holds {held_cash.get(key, 0)}")
            check(available >= 0, f"account {key}: available {available} < 0 (a fill cost more "
                                  f"than its hold)")
        for key, p in self._positions.items():
            check(p.held_qty == held_qty.get(key, 0),
                  f"position {key}: held {p.held_qty} != {held_qty.get(key, 0)}")

    # ---- helpers: reference data, money -------------------------------------------------------

    def _trading_session(self, session: int) -> bool:
        return 0 <= session < len(self._sessions)

    def _session_known(self, session: int) -> bool:
        return session == ADMIN_SESSION or self._trading_session(session)

    def _may_trade(self, session: int, account: int) -> bool:
        if session == ADMIN_SESSION:
            return 0 <= account < len(self._accounts)
        return 0 <= session < len(self._sessions) and account in self._sessions[session].accounts

    def _notional(self, instrument: int, price: int, qty: int) -> int:
        ins = self._instr[instrument]
        return _floor_div(price * qty * ins.notional_mult, ins.notional_div)

    def _hold_needed(self, o: _Order, leaves: int) -> tuple[int, int]:
        """(cash, qty) an order with these leaves must hold (contract step 14)."""
        if o.side == Side.BUY:
            ins = self._instr[o.instrument]
            base = _ceil_div(o.hold_price * leaves * ins.notional_mult, ins.notional_div)
            allowance = _ceil_div(base * max(ins.maker_fee_bps, ins.taker_fee_bps), BPS)
            return base + allowance, 0
        if self._accounts[o.account].may_short:
            return 0, 0
        return 0, leaves

    def _cash_entry(self, account: int, currency: str) -> list[int]:
        return self._cash.setdefault((account, currency), [0, 0])

    def _position(self, account: int, instrument: int) -> _Position:
        return self._positions.setdefault((account, instrument), _Position())

    def _set_hold(self, o: _Order) -> None:
        """Re-take the order's hold for its current leaves; the difference moves to or from
        available."""
        cash, qty = self._hold_needed(o, o.leaves)
        if cash != o.hold_cash:
            entry = self._cash_entry(o.account, self._instr[o.instrument].currency)
            entry[0] -= cash - o.hold_cash
            entry[1] += cash - o.hold_cash
            o.hold_cash = cash
        if qty != o.hold_qty:
            self._position(o.account, o.instrument).held_qty += qty - o.hold_qty
            o.hold_qty = qty

    def _reference(self, instrument: int) -> tuple[int, int] | None:
        """(price, ts) of the later of last trade and external reference; ties go to the trade."""
        m = self._markets[instrument]
        sources = []
        if m.last_px > 0:
            sources.append((m.last_ts, 1, m.last_px))
        if m.ref_px > 0:
            sources.append((m.ref_ts, 0, m.ref_px))
        if not sources:
            return None
        ts, _, px = max(sources)
        return px, ts

    def _protection(self, instrument: int, side: int, ref: int) -> int:
        """A market order's price limit: the collar around `ref`, on the tick."""
        ins, band = self._instr[instrument], self._limits[instrument].band_bps
        if side == Side.BUY:
            price = _floor_div(_floor_div(ref * (BPS + band), BPS), ins.tick) * ins.tick
        else:
            price = _ceil_div(ref * (BPS - band), BPS * ins.tick) * ins.tick
        return max(ins.tick, price)

    def _stop_hold_price(self, instrument: int, side: int, stop_price: int) -> int:
        """A buy stop holds at (and, triggered, is protected by) the collar above its stop price."""
        return self._protection(instrument, side, stop_price) if side == Side.BUY else stop_price

    def _position_limit(self, account: int, instrument: int) -> int:
        return self._max_position[account][instrument]

    def _open_qty(self, account: int, instrument: int, side: int) -> int:
        return sum(o.leaves for o in self._orders.values()
                   if o.account == account and o.instrument == instrument and o.side == side)

    # ---- events ------------------------------------------------------------------------------

    def _event(self, kind: int, *, order_id: int = 0, other: int = 0, price: int = 0,
               stop_price: int = 0, qty: int = 0, last_px: int = 0, last_qty: int = 0,
               leaves: int = 0, cum_qty: int = 0, avg_px: int = 0, fee: int = 0, session: int = 0,
               account: int = 0, instrument: int = 0, reason: int = 0, state: int = 0,
               side: int = 0, ord_type: int = 0, tif: int = 0, liquidity: int = 0,
               clordid: bytes = b"", orig_clordid: bytes = b"") -> None:
        self._events.append((
            self._seq, self._ts, self._next_exec_id, order_id, other, price, stop_price, qty,
            last_px, last_qty, leaves, cum_qty, avg_px, fee, session, account, instrument,
            int(reason), int(kind), int(state), side, ord_type, tif, int(liquidity), clordid,
            orig_clordid))
        self._next_exec_id += 1

    def _order_event(self, kind: int, o: _Order, reason: int = 0, **extra: Any) -> None:
        fields = dict(order_id=o.id, price=o.price, stop_price=o.stop_price, qty=o.qty,
                      leaves=o.leaves, cum_qty=o.cum_qty, avg_px=o.avg_px, session=o.session,
                      account=o.account, instrument=o.instrument, reason=reason, state=o.state,
                      side=o.side, ord_type=o.ord_type, tif=o.tif, clordid=o.clordid)
        fields.update(extra)
        self._event(kind, **fields)

    def _cancel_reject(self, c: SimpleNamespace, reason: int, target_id: int = 0) -> None:
        """CANCEL_REJECTED: a live target's fields and state, else the command's (state REJECTED);
        clordid and orig_clordid always from the command."""
        o = self._orders.get(target_id)
        if o is not None:
            # the answer goes to whoever asked: the requester's session, not the order's
            self._order_event(EventKind.CANCEL_REJECTED, o, reason, clordid=c.clordid,
                              orig_clordid=c.orig_clordid, session=c.session)
            return
        self._event(EventKind.CANCEL_REJECTED, order_id=target_id, price=c.price,
                    stop_price=c.stop_price, qty=c.qty, session=c.session, account=c.account,
                    instrument=c.instrument, reason=reason, state=OS.REJECTED, side=c.side,
                    ord_type=c.ord_type, tif=c.tif, clordid=c.clordid, orig_clordid=c.orig_clordid)

    def _reject_new(self, c: SimpleNamespace, order_id: int, reason: int) -> None:
        self._event(EventKind.REJECTED, order_id=order_id, price=c.price, stop_price=c.stop_price,
                    qty=c.qty, session=c.session, account=c.account, instrument=c.instrument,
                    reason=reason, state=next_state(OS.PENDING_NEW, LE.REJECT), side=c.side,
                    ord_type=c.ord_type, tif=c.tif, clordid=c.clordid)

    # ---- NEW_ORDER ---------------------------------------------------------------------------

    def _take_token(self, session: int) -> bool:
        """Throttle: refill from ts_ns, then take one order's worth of tokens if there is one."""
        if not 0 <= session < len(self._sessions):
            return True
        s = self._sessions[session]
        if s.rate <= 0:
            return True
        if self._ts > s.last_ts_ns:               # time never runs backwards for the bucket
            s.tokens_ns = min(s.rate * TOKEN_NS, s.tokens_ns + (self._ts - s.last_ts_ns) * s.rate)
            s.last_ts_ns = self._ts
        if s.tokens_ns < TOKEN_NS:
            return False
        s.tokens_ns -= TOKEN_NS
        return True

    def _check_prices(self, ord_type: int, price: int, stop_price: int, tick: int) -> int:
        """Contract step 8."""
        if ord_type in (OrdType.LIMIT, OrdType.STOP_LIMIT):
            if price <= 0:
                return Reason.INVALID_PRICE
            if price % tick:
                return Reason.PRICE_OFF_TICK
        elif price != 0:
            return Reason.INVALID_PRICE
        if ord_type in (OrdType.STOP, OrdType.STOP_LIMIT):
            if stop_price <= 0 or stop_price % tick:
                return Reason.INVALID_STOP_PRICE
        elif stop_price != 0:
            return Reason.INVALID_STOP_PRICE
        return Reason.OK

    def _check_qty(self, qty: int, instrument: int) -> int:
        """Contract step 9 without the display check."""
        ins = self._instr[instrument]
        if qty <= 0:
            return Reason.INVALID_QTY
        if qty % ins.lot:
            return Reason.QTY_OFF_LOT
        if qty < ins.min_qty:
            return Reason.QTY_BELOW_MIN
        max_qty = self._limits[instrument].max_qty
        if max_qty and qty > max_qty:
            return Reason.QTY_ABOVE_MAX
        return Reason.OK

    def _outside_collar(self, instrument: int, price: int) -> bool:
        band = self._limits[instrument].band_bps
        ref = self._reference(instrument)
        return band > 0 and ref is not None and abs(price - ref[0]) * BPS > band * ref[0]

    def _check_new(self, c: SimpleNamespace, freeing: int = 0) -> tuple[int, int]:
        """Steps 3-14 of the contract: (reason, hold price); reason OK means accept.  `freeing`
        orders are about to end (a QUOTE's previous side): their slots count as free (R6)."""
        if self._sessions[c.session].kill:
            return Reason.SESSION_KILL_SWITCH, 0
        if not self._take_token(c.session):
            return Reason.THROTTLED, 0
        if not 0 <= c.account < len(self._accounts):
            return Reason.UNKNOWN_ACCOUNT, 0
        if not self._may_trade(c.session, c.account):
            return Reason.ACCOUNT_NOT_PERMITTED, 0
        acct = self._accounts[c.account]
        if acct.kill:
            return Reason.ACCOUNT_KILL_SWITCH, 0
        if not 0 <= c.instrument < len(self._instr):
            return Reason.UNKNOWN_INSTRUMENT, 0
        ins = self._instr[c.instrument]
        if acct.instruments is not None and c.instrument not in acct.instruments:
            return Reason.ACCOUNT_NOT_PERMITTED, 0
        status = self._markets[c.instrument].status
        if status == 1:
            return Reason.INSTRUMENT_HALTED, 0
        if status == 2:
            return Reason.INSTRUMENT_CLOSED, 0
        # 7
        if c.side not in (Side.BUY, Side.SELL):
            return Reason.INVALID_SIDE, 0
        if c.ord_type not in _ORD_TYPES:
            return Reason.INVALID_ORDER_TYPE, 0
        if c.tif not in _TIFS:
            return Reason.INVALID_TIF, 0
        if c.ord_type in (OrdType.MARKET, OrdType.STOP) and c.tif == Tif.GTD:
            return Reason.INVALID_TIF, 0
        if c.tif == Tif.GTD and c.expire_ts_ns <= c.ts_ns:
            return Reason.INVALID_EXPIRY, 0
        if c.stp > 4:
            return Reason.INVALID_ORDER_TYPE, 0
        # 8, 9
        reason = self._check_prices(c.ord_type, c.price, c.stop_price, ins.tick)
        if reason:
            return reason, 0
        reason = self._check_qty(c.qty, c.instrument)
        if reason:
            return reason, 0
        if c.display < 0 or c.display % ins.lot or c.display > c.qty:
            return Reason.INVALID_DISPLAY, 0
        # 10
        oco, oto = bool(c.flags & Flag.OCO), bool(c.flags & Flag.OTO)
        if oco or oto:
            target = self._orders.get(c.link)
            if target is None or target.account != c.account:
                return Reason.UNKNOWN_ORDER, 0
            if oco and oto or target.oco or target.oto_child or (oco and target.is_child):
                return Reason.INVALID_ORDER_TYPE, 0
            if oto and c.ord_type != OrdType.LIMIT:
                return Reason.INVALID_ORDER_TYPE, 0
        # 11, 12
        if c.ord_type == OrdType.MARKET:
            ref = self._reference(c.instrument)
            if ref is None or c.ts_ns - ref[1] > self._limits[c.instrument].ref_max_age_ns:
                return Reason.NO_FRESH_REFERENCE, 0
            hold_price = self._protection(c.instrument, c.side, ref[0])
        elif c.ord_type == OrdType.STOP:
            hold_price = self._stop_hold_price(c.instrument, c.side, c.stop_price)
        else:
            if self._outside_collar(c.instrument, c.price):
                return Reason.PRICE_OUTSIDE_COLLAR, 0
            hold_price = c.price
        max_notional = self._limits[c.instrument].max_notional
        if max_notional and self._notional(c.instrument, hold_price, c.qty) > max_notional:
            return Reason.NOTIONAL_ABOVE_MAX, 0
        # 13
        pos = self._positions.get((c.account, c.instrument), _Position())
        limit = self._position_limit(c.account, c.instrument)
        if limit:
            open_qty = self._open_qty(c.account, c.instrument, c.side)
            if c.side == Side.BUY and pos.qty + open_qty + c.qty > limit:
                return Reason.POSITION_LIMIT, 0
            if c.side == Side.SELL and pos.qty - open_qty - c.qty < -limit:
                return Reason.POSITION_LIMIT, 0
        # 14
        probe = _Order(0, c.session, c.account, c.instrument, c.side, c.ord_type, c.tif, 0, 0,
                       c.qty, 0, 0, False, 0, b"", hold_price=hold_price)
        cash, _ = self._hold_needed(probe, c.qty)
        if c.side == Side.BUY:
            available = self._cash.get((c.account, ins.currency), [0, 0])[0]
            if available < cash:
                return Reason.INSUFFICIENT_BUYING_POWER, 0
        elif not acct.may_short and pos.qty - pos.held_qty < c.qty:
            return Reason.INSUFFICIENT_POSITION, 0
        if len(self._orders) - freeing >= self.max_orders:
            return Reason.BOOK_FULL, 0
        return Reason.OK, hold_price

    def _on_new_order(self, c: SimpleNamespace) -> None:
        if not self._trading_session(c.session):
            return self._reject_new(c, 0, Reason.ACCOUNT_NOT_PERMITTED)
        key = (c.session, c.clordid)
        if key in self._clordids:
            return self._reject_new(c, 0, Reason.DUPLICATE_CLORDID)
        oid = self._next_order_id
        self._next_order_id += 1
        self._clordids[key] = oid
        reason, hold_price = self._check_new(c)
        if reason:
            return self._reject_new(c, oid, reason)
        o = _Order(oid, c.session, c.account, c.instrument, c.side, c.ord_type, c.tif, c.price,
                   c.stop_price, c.qty, c.display, c.expire_ts_ns if c.tif == Tif.GTD else 0,
                   bool(c.flags & Flag.POST_ONLY), c.stp, c.clordid, leaves=c.qty,
                   hold_price=hold_price)
        self._orders[oid] = o
        self._set_hold(o)
        is_child = bool(c.flags & Flag.OTO)
        if is_child or c.ord_type in (OrdType.STOP, OrdType.STOP_LIMIT):
            o.state = next_state(o.state, LE.PARK)
            self._link(o, c)
            self._order_event(EventKind.PENDING_TRIGGER, o)
            return
        self._accept(o, c)

    def _accept(self, o: _Order, c: SimpleNamespace) -> None:
        """A new order that passed its checks enters the book: REJECTED if the book refuses it,
        else NEW (with the command's OCO/OTO link) and then whatever it traded."""
        result, events = self._enter_book(o)
        if result != BookResult.OK:
            o.state = next_state(o.state, LE.REJECT)
            self._end(o, EventKind.REJECTED, _BOOK_REJECT_REASON[result])
            return
        o.state = next_state(o.state, LE.ACCEPT)
        self._link(o, c)
        self._order_event(EventKind.NEW, o)
        self._map_book_events(events)

    def _link(self, o: _Order, c: SimpleNamespace) -> None:
        """Make the command's OCO / OTO link effective for the accepted order (R5)."""
        if c.flags & Flag.OCO:
            o.oco = c.link
            self._orders[c.link].oco = o.id
        elif c.flags & Flag.OTO:
            o.oto_parent = c.link
            o.is_child = True
            self._orders[c.link].oto_child = o.id

    # ---- the book ----------------------------------------------------------------------------

    def _enter_book(self, o: _Order) -> tuple[int, list[tuple]]:
        owner, tif = o.account + 1, _BOOK_TIF.get(o.tif, BookTif.GTC)
        if o.ord_type == OrdType.MARKET:
            result = self._book.market(o.instrument, o.id, o.side, o.leaves, o.hold_price, tif,
                                       owner, o.stp)
        elif o.ord_type == OrdType.STOP:
            protection = self._protection(o.instrument, o.side, o.stop_price)
            result = self._book.market(o.instrument, o.id, o.side, o.leaves, protection, tif,
                                       owner, o.stp)
        else:
            result = self._book.limit(o.instrument, o.id, o.side, o.price, o.leaves, tif, owner,
                                      o.stp, o.post_only, o.display)
        events = self._book.take_events()
        if result not in (BookResult.OK, *_BOOK_REJECT_REASON):
            raise AssertionError(f"book refused validated order {o.id}: {BookResult(result).name}")
        return result, events

    def _map_book_events(self, events: list[tuple]) -> None:
        """Turn one book operation's events into engine events (follow-ups are only queued)."""
        for oid, other, price, qty, leaves, other_leaves, _, kind, _, reason in events:
            if kind == BookEvent.FILL:
                taker, maker = self._orders[oid], self._orders[other]
                self._fill(taker, maker, price, qty, Liquidity.TAKER)
                self._fill(maker, taker, price, qty, Liquidity.MAKER)
                if (taker.leaves, maker.leaves) != (leaves, other_leaves):
                    raise AssertionError(f"book and engine disagree on leaves: fill {oid}/{other}")
            elif kind == BookEvent.CANCELLED:
                o = self._orders[oid]
                o.state = next_state(o.state, LE.CANCEL)
                self._end(o, EventKind.CANCELLED, _BOOK_CANCEL_REASON[reason])
            elif kind == BookEvent.REDUCED and reason == BookReason.SELF_TRADE:
                o = self._orders[oid]
                o.qty -= qty
                o.leaves -= qty
                o.state = next_state(o.state, LE.RESTATE)
                self._set_hold(o)
                self._order_event(EventKind.RESTATED, o, Reason.SELF_TRADE, last_qty=qty)
            # RESTED, REPLENISHED, REPLACED and a replace's own REDUCED have no engine event.

    # ---- fills and accounts ------------------------------------------------------------------

    def _fill(self, o: _Order, other: _Order, px: int, q: int, liquidity: int) -> None:
        ins = self._instr[o.instrument]
        n = self._notional(o.instrument, px, q)
        fee = n * (ins.taker_fee_bps if liquidity == Liquidity.TAKER else ins.maker_fee_bps) // BPS
        o.cum_qty += q
        o.px_qty += px * q
        o.leaves -= q
        o.state = next_state(o.state, LE.FILL if o.leaves == 0 else LE.PARTIAL_FILL)
        self._set_hold(o)
        entry = self._cash_entry(o.account, ins.currency)
        entry[0] += -(n + fee) if o.side == Side.BUY else n - fee
        self._fees[ins.currency] = self._fees.get(ins.currency, 0) + fee
        self._book_position(o, px, q)
        m = self._markets[o.instrument]
        m.last_px, m.last_ts = px, self._ts
        self._order_event(EventKind.TRADE, o, last_px=px, last_qty=q, fee=fee,
                          liquidity=liquidity, other=other.id)
        self._follow_oco(o)
        if o.leaves == 0:
            del self._orders[o.id]
            self._follow_oto(o, "release")

    def _book_position(self, o: _Order, px: int, q: int) -> None:
        """Position, cost basis and realized P&L for a fill of q at px (contract: Accounts)."""
        p = self._position(o.account, o.instrument)
        sign = 1 if o.side == Side.BUY else -1
        rest = q
        if p.qty * sign < 0:                          # the fill reduces the open position
            r = min(q, abs(p.qty))
            removed = _trunc_div(p.cost * r, abs(p.qty))
            n_r = self._notional(o.instrument, px, r)
            p.realized += n_r - removed if p.qty > 0 else -removed - n_r
            p.cost -= removed
            p.qty += sign * r
            rest = q - r
        if rest:
            p.cost += sign * self._notional(o.instrument, px, rest)
            p.qty += sign * rest

    # ---- ending orders and their consequences -------------------------------------------------

    def _end(self, o: _Order, kind: int, reason: int, **extra: Any) -> None:
        """The order (its state already set by the table) ends: release holds, report, drop it."""
        o.leaves = 0
        self._set_hold(o)
        del self._orders[o.id]
        self._order_event(kind, o, reason, **extra)
        self._follow_oco(o)
        self._follow_oto(o, "orphan")
        if o.oto_parent in self._orders:
            self._orders[o.oto_parent].oto_child = 0

    def _terminate(self, o: _Order, event: int, kind: int, reason: int) -> None:
        """End a live or pending order on the engine's initiative (cancel, expiry)."""
        if self._book.order(o.id) is not None:
            if self._book.cancel(o.id) != BookResult.OK:
                raise AssertionError(f"book could not cancel order {o.id}")
            self._book.clear_events()
        o.state = next_state(o.state, event)
        self._end(o, kind, reason)

    def _follow_oco(self, o: _Order) -> None:
        """A leg traded or ended: queue the sibling's cancel and dissolve the link."""
        if o.oco:
            sibling = self._orders.get(o.oco)
            if sibling is not None:
                sibling.oco = 0
                self._followups.append(("oco", sibling.id))
            o.oco = 0

    def _follow_oto(self, o: _Order, action: str) -> None:
        """A parent ended: queue its child's release (filled) or cancel (anything else)."""
        if o.oto_child:
            self._followups.append((action, o.oto_child))
            o.oto_child = 0

    def _drain_followups(self) -> None:
        while self._followups:
            action, oid = self._followups.popleft()
            o = self._orders.get(oid)
            if o is None:
                continue
            if action == "oco":
                self._terminate(o, LE.CANCEL, EventKind.CANCELLED, Reason.OCO_SIBLING)
            elif action == "orphan":
                self._terminate(o, LE.CANCEL, EventKind.CANCELLED, Reason.OTO_PARENT_ENDED)
            else:
                o.oto_parent = 0
                self._activate(o)

    def _activate(self, o: _Order) -> None:
        """A pending order (triggered stop, released child) becomes NEW and enters the book."""
        o.state = next_state(o.state, LE.TRIGGER)
        self._order_event(EventKind.TRIGGERED, o)
        result, events = self._enter_book(o)
        if result != BookResult.OK:
            o.state = next_state(o.state, LE.CANCEL)
            self._end(o, EventKind.CANCELLED, _BOOK_REJECT_REASON[result])
            return
        self._map_book_events(events)

    def _settle(self) -> None:
        """After every command: follow-ups, then stops (lowest id first), each stop's follow-ups
        before the next stop is looked for."""
        self._drain_followups()
        while (stop := self._next_triggered_stop()) is not None:
            self._activate(stop)
            self._drain_followups()

    def _next_triggered_stop(self) -> _Order | None:
        for oid in sorted(self._orders):
            o = self._orders[oid]
            if o.state == OS.PENDING_TRIGGER and o.ord_type in (OrdType.STOP, OrdType.STOP_LIMIT):
                last = self._markets[o.instrument].last_px
                hit = last >= o.stop_price if o.side == Side.BUY else last <= o.stop_price
                if last > 0 and hit:
                    return o
        return None

    # ---- order-addressed commands -------------------------------------------------------------

    def _lookup(self, c: SimpleNamespace) -> tuple[int, int]:
        """(reason, target id) for CANCEL / REPLACE / STATUS_REQUEST; reason OK = live target.
        By order_id only a live order of a tradeable account is found (nothing leaks about
        others); by clordid a finished order is ORDER_DONE."""
        if c.order_id != 0:
            o = self._orders.get(c.order_id)
            if o is None or not self._may_trade(c.session, o.account):
                return Reason.UNKNOWN_ORDER, 0
            return Reason.OK, o.id
        oid = self._clordids.get((c.session, c.orig_clordid), 0)
        if not oid:
            return Reason.UNKNOWN_ORDER, 0
        return (Reason.OK if oid in self._orders else Reason.ORDER_DONE), oid

    def _admit(self, c: SimpleNamespace) -> bool:
        """Session and duplicate checks for CANCEL / REPLACE (a reject is emitted if they fail)."""
        if not self._session_known(c.session):
            self._cancel_reject(c, Reason.ACCOUNT_NOT_PERMITTED)
            return False
        if (c.session, c.clordid) in self._clordids:
            self._cancel_reject(c, Reason.DUPLICATE_CLORDID)
            return False
        return True

    def _resolve_and_record(self, c: SimpleNamespace) -> tuple[int, int]:
        """Look the target up, then record the command's clordid as naming it (0 if not found)."""
        reason, oid = self._lookup(c)
        self._clordids[c.session, c.clordid] = oid
        return reason, oid

    def _on_cancel(self, c: SimpleNamespace) -> None:
        if not self._admit(c):
            return
        reason, oid = self._resolve_and_record(c)
        if reason:
            return self._cancel_reject(c, reason, oid)
        o = self._orders[oid]
        previous, o.clordid = o.clordid, c.clordid
        if self._book.order(o.id) is not None:
            self._book.cancel(o.id)
            self._book.clear_events()
        o.state = next_state(o.state, LE.CANCEL)
        self._end(o, EventKind.CANCELLED, Reason.USER_CANCEL, orig_clordid=previous)

    def _check_replace(self, c: SimpleNamespace, o: _Order) -> tuple[int, int]:
        """(reason, new hold price) for a replace of live order o: 8, 9 (no display: the order
        keeps its own), QTY_NOT_ABOVE_FILLED, 11, 12, 13 and 14 for the increase only."""
        ins = self._instr[o.instrument]
        reason = (self._check_prices(o.ord_type, c.price, c.stop_price, ins.tick)
                  or self._check_qty(c.qty, o.instrument))
        if reason:
            return reason, 0
        if c.qty <= o.cum_qty:
            return Reason.QTY_NOT_ABOVE_FILLED, 0
        limit_priced = o.ord_type in (OrdType.LIMIT, OrdType.STOP_LIMIT)
        if limit_priced and self._outside_collar(o.instrument, c.price):
            return Reason.PRICE_OUTSIDE_COLLAR, 0
        if o.ord_type == OrdType.STOP:
            hold_price = self._stop_hold_price(o.instrument, o.side, c.stop_price)
        else:
            hold_price = c.price
        max_notional = self._limits[o.instrument].max_notional
        if max_notional and self._notional(o.instrument, hold_price, c.qty) > max_notional:
            return Reason.NOTIONAL_ABOVE_MAX, 0
        change = (c.qty - o.cum_qty) - o.leaves
        limit = self._position_limit(o.account, o.instrument)
        if limit and change > 0:
            pos = self._positions.get((o.account, o.instrument), _Position()).qty
            open_qty = self._open_qty(o.account, o.instrument, o.side)
            if o.side == Side.BUY and pos + open_qty + change > limit:
                return Reason.POSITION_LIMIT, 0
            if o.side == Side.SELL and pos - open_qty - change < -limit:
                return Reason.POSITION_LIMIT, 0
        probe = _Order(**{**o.__dict__, "hold_price": hold_price})
        cash, qty = self._hold_needed(probe, c.qty - o.cum_qty)
        if cash > o.hold_cash:
            if self._cash.get((o.account, ins.currency), [0, 0])[0] < cash - o.hold_cash:
                return Reason.INSUFFICIENT_BUYING_POWER, 0
        if qty > o.hold_qty:
            pos = self._positions.get((o.account, o.instrument), _Position())
            if pos.qty - pos.held_qty < qty - o.hold_qty:
                return Reason.INSUFFICIENT_POSITION, 0
        return Reason.OK, hold_price

    def _on_replace(self, c: SimpleNamespace) -> None:
        if not self._admit(c):
            return
        if not self._take_token(c.session):
            self._clordids[c.session, c.clordid] = 0
            return self._cancel_reject(c, Reason.THROTTLED)
        reason, oid = self._resolve_and_record(c)
        if reason:
            return self._cancel_reject(c, reason, oid)
        o = self._orders[oid]
        reason, hold_price = self._check_replace(c, o)
        if reason:
            return self._cancel_reject(c, reason, oid)
        events: list[tuple] = []
        if self._book.order(oid) is not None:
            result = self._book.replace(oid, c.price, c.qty - o.cum_qty)
            events = self._book.take_events()
            if result != BookResult.OK:
                return self._cancel_reject(c, _BOOK_REJECT_REASON[result], oid)
        previous = o.clordid
        o.price, o.stop_price, o.qty, o.hold_price = c.price, c.stop_price, c.qty, hold_price
        o.leaves = c.qty - o.cum_qty
        o.clordid = c.clordid
        o.state = next_state(o.state, LE.REPLACE)
        self._set_hold(o)
        self._order_event(EventKind.REPLACED, o, orig_clordid=previous)
        self._map_book_events(events)

    def _on_quote(self, c: SimpleNamespace) -> None:
        """QUOTE, read against the contract's paragraph: CANCEL of the previous side, then
        NEW_ORDER of a LIMIT DAY order -- or, when the previous side is live and may take the
        new terms, one in-place replace."""
        if c.qty == 0:
            return self._on_cancel(c)
        if not self._trading_session(c.session):
            return self._reject_new(c, 0, Reason.ACCOUNT_NOT_PERMITTED)
        if (c.session, c.clordid) in self._clordids:
            return self._reject_new(c, 0, Reason.DUPLICATE_CLORDID)
        prev = None
        if c.order_id != 0 or c.orig_clordid:
            reason, target = self._lookup(c)
            if reason == Reason.OK:
                prev = self._orders[target]
        oid = self._next_order_id
        self._next_order_id += 1
        n = SimpleNamespace(**{**vars(c), "kind": int(CommandKind.NEW_ORDER),
                               "ord_type": int(OrdType.LIMIT), "tif": int(Tif.DAY),
                               "stop_price": 0, "display": 0, "expire_ts_ns": 0, "link": 0,
                               "order_id": 0, "flags": c.flags & int(Flag.POST_ONLY)})
        if prev is not None:          # checked as if cancelled: open quantity and hold freed
            prev.leaves = 0
            self._set_hold(prev)
        reason, hold_price = self._check_new(n, freeing=1 if prev is not None else 0)
        if (not reason and prev is not None and self._book.order(prev.id) is not None
                and (prev.session, prev.account, prev.instrument, prev.side, prev.stp)
                == (c.session, n.account, n.instrument, n.side, n.stp)
                and prev.ord_type == OrdType.LIMIT and prev.tif == Tif.DAY and prev.display == 0
                and prev.post_only == bool(n.flags & Flag.POST_ONLY) and not prev.oco
                and not prev.oto_child and not prev.is_child):
            result = self._book.replace(prev.id, n.price, n.qty)
            events = self._book.take_events()
            if result == BookResult.OK:
                self._clordids[c.session, c.clordid] = prev.id
                previous = prev.clordid
                prev.price, prev.qty, prev.hold_price = n.price, prev.cum_qty + n.qty, hold_price
                prev.leaves = n.qty
                prev.clordid = c.clordid
                prev.state = next_state(prev.state, LE.REPLACE)
                self._set_hold(prev)
                self._order_event(EventKind.REPLACED, prev, orig_clordid=previous)
                self._map_book_events(events)
                return
            reason = _BOOK_REJECT_REASON[result]
        self._clordids[c.session, c.clordid] = oid
        if prev is not None:
            self._terminate(prev, LE.CANCEL, EventKind.CANCELLED, Reason.USER_CANCEL)
            ev = self._events[-1]
            self._events[-1] = ev[:-1] + (c.clordid,)       # orig_clordid: the quote's
        if reason:
            return self._reject_new(n, oid, reason)
        o = _Order(oid, n.session, n.account, n.instrument, n.side, n.ord_type, n.tif, n.price,
                   0, n.qty, 0, 0, bool(n.flags & Flag.POST_ONLY), n.stp, n.clordid,
                   leaves=n.qty, hold_price=hold_price)
        self._orders[oid] = o
        self._set_hold(o)
        self._accept(o, n)

    def _on_status_request(self, c: SimpleNamespace) -> None:
        if not self._session_known(c.session):
            return self._cancel_reject(c, Reason.ACCOUNT_NOT_PERMITTED)
        reason, oid = self._lookup(c)
        if reason:
            return self._cancel_reject(c, reason, oid)
        self._order_event(EventKind.ORDER_STATUS, self._orders[oid])

    # ---- operator commands -------------------------------------------------------------------

    def _cancel_all(self, orders: list[_Order], event: int, kind: int, reason: int) -> int:
        """End the given orders in id order, skipping those a consequence already ended."""
        done = 0
        for o in sorted(orders, key=lambda o: o.id):
            if o.id in self._orders:
                self._terminate(o, event, kind, reason)
                done += 1
        return done

    def _on_mass_cancel(self, c: SimpleNamespace) -> None:
        """Scopes: SESSION (orders it entered), ACCOUNT (an existing account), INSTRUMENT (an
        existing instrument), ALL; instrument >= 0 narrows SESSION and ACCOUNT.  A command naming
        no existing session / account / instrument, or no scope, does nothing at all."""
        s = c.session
        if not self._session_known(s) or not -1 <= c.instrument < len(self._instr):
            return
        if c.scope == Scope.SESSION:
            t = self._target(c)
            if s == ADMIN_SESSION and c.target_session and not self._trading_session(t):
                return

            def in_scope(o: _Order) -> bool:
                return o.session == t and c.instrument in (-1, o.instrument)
        elif c.scope == Scope.ACCOUNT:
            if not 0 <= c.account < len(self._accounts):
                return

            def in_scope(o: _Order) -> bool:
                return (o.account == c.account and self._may_trade(s, o.account)
                        and c.instrument in (-1, o.instrument))
        elif c.scope == Scope.INSTRUMENT:
            if c.instrument < 0:
                return

            def in_scope(o: _Order) -> bool:
                return o.instrument == c.instrument and self._may_trade(s, o.account)
        elif c.scope == Scope.ALL:
            def in_scope(o: _Order) -> bool:
                return self._may_trade(s, o.account)
        else:
            return
        n = self._cancel_all([o for o in self._orders.values() if in_scope(o)], LE.CANCEL,
                             EventKind.CANCELLED, Reason.MASS_CANCEL)
        self._event(EventKind.MASS_CANCEL_DONE, qty=n, session=s, account=c.account,
                    instrument=c.instrument, clordid=c.clordid)

    def _on_set_status(self, c: SimpleNamespace) -> None:
        if not 0 <= c.instrument < len(self._instr) or c.status > 2:
            return
        m = self._markets[c.instrument]
        if m.status != c.status:        # the event precedes what a close expires
            self._event(EventKind.STATUS_CHANGED, session=c.session, instrument=c.instrument,
                        qty=c.status, last_qty=m.status, clordid=c.clordid)
        m.status = c.status
        if c.status == 2:
            day = [o for o in self._orders.values()
                   if o.instrument == c.instrument and o.tif == Tif.DAY]
            self._cancel_all(day, LE.EXPIRE, EventKind.EXPIRED, Reason.SESSION_CLOSE)

    def _on_reference_price(self, c: SimpleNamespace) -> None:
        if 0 <= c.instrument < len(self._instr) and c.price > 0:
            m = self._markets[c.instrument]
            m.ref_px, m.ref_ts = c.price, c.ts_ns

    def _on_kill_switch(self, c: SimpleNamespace) -> None:
        on = bool(c.flags & Flag.ON)
        if c.scope == Scope.ACCOUNT and 0 <= c.account < len(self._accounts):
            self._accounts[c.account].kill = on
            mine = [o for o in self._orders.values() if o.account == c.account]
        elif c.scope == Scope.SESSION and self._trading_session(self._target(c)):
            t = self._target(c)
            self._sessions[t].kill = on
            mine = [o for o in self._orders.values() if o.session == t]
        else:
            return
        if on:
            self._cancel_all(mine, LE.CANCEL, EventKind.CANCELLED, Reason.KILL_SWITCH_CANCEL)

    @staticmethod
    def _target(c: SimpleNamespace) -> int:
        """R16: the session a SESSION-scope command is about: the admin's target_session - 1;
        any other actor's (and an admin command without a target) is the actor itself."""
        if c.session == ADMIN_SESSION and c.target_session:
            return c.target_session - 1
        return c.session

    def _admin_reject(self, c: SimpleNamespace, reason: int) -> None:
        self._event(EventKind.ADMIN_REJECTED, session=c.session, account=c.account,
                    instrument=c.instrument, other=c.target_session - 1, ord_type=c.status,
                    qty=c.qty, reason=reason, clordid=c.clordid)

    def _on_set_limit(self, c: SimpleNamespace) -> None:
        """R15: checks in the order actor, selector, target, value; a refusal changes nothing."""
        sel, v, t = c.status, c.qty, c.target_session - 1
        if c.session != ADMIN_SESSION:
            return self._admin_reject(c, Reason.NOT_ADMIN)
        if sel not in Limit._value2member_map_:
            return self._admin_reject(c, Reason.UNKNOWN_LIMIT)
        if sel == Limit.THROTTLE:
            if not self._trading_session(t):
                return self._admin_reject(c, Reason.UNKNOWN_SESSION)
        else:
            if sel == Limit.MAX_POSITION and not 0 <= c.account < len(self._accounts):
                return self._admin_reject(c, Reason.UNKNOWN_ACCOUNT)
            if not 0 <= c.instrument < len(self._instr):
                return self._admin_reject(c, Reason.UNKNOWN_INSTRUMENT)
        if v < 0:
            return self._admin_reject(c, Reason.INVALID_LIMIT_VALUE)
        if sel == Limit.THROTTLE:
            s = self._sessions[t]
            prev = s.rate
            if prev > 0 and self._ts > s.last_ts_ns:     # the bucket up to now, at the old rate
                s.tokens_ns = min(prev * TOKEN_NS, s.tokens_ns + (self._ts - s.last_ts_ns) * prev)
                s.last_ts_ns = self._ts
            s.rate = v
            if v == 0:                                   # R13: unthrottled keeps zeros
                s.tokens_ns, s.last_ts_ns = 0, 0
            elif prev == 0:                              # full at start, as at start-up
                s.tokens_ns, s.last_ts_ns = v * TOKEN_NS, self._ts
            else:
                s.tokens_ns = min(s.tokens_ns, v * TOKEN_NS)
        elif sel == Limit.MAX_POSITION:
            prev = self._max_position[c.account][c.instrument]
            self._max_position[c.account][c.instrument] = v
        else:
            lim, ins = self._limits[c.instrument], self._instr[c.instrument]
            if sel == Limit.MAX_ORDER_QTY and v and (v % ins.lot or v < ins.min_qty):
                return self._admin_reject(c, Reason.INVALID_LIMIT_VALUE)
            if sel == Limit.COLLAR_BPS and v > BPS:
                return self._admin_reject(c, Reason.INVALID_LIMIT_VALUE)
            attr = {Limit.MAX_ORDER_QTY: "max_qty", Limit.MAX_NOTIONAL: "max_notional",
                    Limit.COLLAR_BPS: "band_bps", Limit.REF_MAX_AGE: "ref_max_age_ns"}[sel]
            prev = getattr(lim, attr)
            setattr(lim, attr, v)
        self._event(EventKind.LIMIT_SET, session=c.session, account=c.account,
                    instrument=c.instrument, other=t, ord_type=sel, qty=v, last_qty=prev,
                    clordid=c.clordid)

    def _on_disconnect(self, c: SimpleNamespace) -> None:
        t = c.target_session - 1
        if c.session != ADMIN_SESSION:
            return self._admin_reject(c, Reason.NOT_ADMIN)
        if not self._trading_session(t):
            return self._admin_reject(c, Reason.UNKNOWN_SESSION)
        self._event(EventKind.DISCONNECT, session=t, other=t, reason=Reason.DISCONNECT,
                    clordid=c.clordid, orig_clordid=c.orig_clordid)

    def _on_purge_clordids(self, c: SimpleNamespace) -> None:
        """R17: a new trading day for ClOrdIDs: forget every (session, clordid) that names no
        live or pending order (unresolved ones name 0); current and previous clordids of live
        orders keep resolving."""
        if c.session != ADMIN_SESSION:
            return self._admin_reject(c, Reason.NOT_ADMIN)
        before = len(self._clordids)
        self._clordids = {k: oid for k, oid in self._clordids.items() if oid in self._orders}
        self._event(EventKind.CLORDIDS_PURGED, session=c.session,
                    qty=before - len(self._clordids), leaves=len(self._clordids),
                    clordid=c.clordid)

    def clordids(self) -> tuple:
        """Every recorded (session, clordid, order id), sorted."""
        return tuple(sorted((s, cl, oid) for (s, cl), oid in self._clordids.items()))

    def _on_timer(self, c: SimpleNamespace) -> None:
        due = sorted((o for o in self._orders.values()
                      if o.tif == Tif.GTD and o.expire_ts_ns <= c.ts_ns),
                     key=lambda o: (o.expire_ts_ns, o.id))
        for o in due:
            if o.id in self._orders:
                self._terminate(o, LE.EXPIRE, EventKind.EXPIRED, Reason.GTD_EXPIRED)

    _HANDLERS = {
        CommandKind.NEW_ORDER: _on_new_order,
        CommandKind.CANCEL: _on_cancel,
        CommandKind.REPLACE: _on_replace,
        CommandKind.MASS_CANCEL: _on_mass_cancel,
        CommandKind.SET_STATUS: _on_set_status,
        CommandKind.REFERENCE_PRICE: _on_reference_price,
        CommandKind.KILL_SWITCH: _on_kill_switch,
        CommandKind.TIMER: _on_timer,
        CommandKind.STATUS_REQUEST: _on_status_request,
        CommandKind.SET_LIMIT: _on_set_limit,
        CommandKind.DISCONNECT: _on_disconnect,
        CommandKind.PURGE_CLORDIDS: _on_purge_clordids,
        CommandKind.QUOTE: _on_quote,
    }

    # ---- state views -------------------------------------------------------------------------

    def _account_state(self, account: int) -> tuple:
        cash = tuple((cur, *self._cash.get((account, cur), (0, 0)))
                     for cur in sorted(self.refdata.currencies))
        positions = tuple((i, p.qty, p.held_qty, p.cost, p.realized)
                          for (a, i), p in sorted(self._positions.items(), key=lambda kv: kv[0])
                          if a == account and (p.qty or p.held_qty or p.cost or p.realized))
        return cash, positions, self._accounts[account].kill

    def _cash_totals(self) -> dict[str, int]:
        totals: dict[str, int] = dict(self._fees)
        for (_, cur), (avail, held) in self._cash.items():
            totals[cur] = totals.get(cur, 0) + avail + held
        return totals

    def _position_totals(self) -> dict[int, int]:
        totals: dict[int, int] = {}
        for (_, i), p in self._positions.items():
            totals[i] = totals.get(i, 0) + p.qty
        return totals

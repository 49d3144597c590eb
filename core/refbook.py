"""A slow, plain-Python order book implementing the contract in ext/book.pyi.

It exists to check the compiled `ordex.ext.book.OrderBook`: the tests run both on the same
commands and require identical results and events.  It is written to be read against the contract
line by line, so it favours plain data structures (a dict of price -> FIFO list per side, prices
sorted on demand) over speed, and it never imports the compiled module: its codes are its own and
a test checks they agree with book.pxd name by name.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np


class Side(IntEnum):
    BUY = 1
    SELL = 2


class Op(IntEnum):
    LIMIT = 1
    MARKET = 2
    CANCEL = 3
    REDUCE = 4
    REPLACE = 5


class TimeInForce(IntEnum):
    GTC = 0
    IOC = 1
    FOK = 2


class Stp(IntEnum):
    STP_NONE = 0
    CANCEL_RESTING = 1
    CANCEL_INCOMING = 2
    CANCEL_BOTH = 3
    DECREMENT_AND_CANCEL = 4


class EventKind(IntEnum):
    RESTED = 1
    FILL = 2
    CANCELLED = 3
    REDUCED = 4
    REPLACED = 5
    REPLENISHED = 6
    REJECTED = 7


class CancelReason(IntEnum):
    NO_REASON = 0
    USER = 1
    IOC_REMAINDER = 2
    FOK_UNFILLABLE = 3
    SELF_TRADE = 4


class Result(IntEnum):
    OK = 0
    UNKNOWN_INSTRUMENT = 1
    INVALID_SIDE = 2
    INVALID_PRICE = 3
    PRICE_OFF_TICK = 4
    INVALID_QTY = 5
    QTY_OFF_LOT = 6
    INVALID_TIF = 7
    INVALID_STP = 8
    INVALID_OP = 9
    DUPLICATE_ORDER_ID = 10
    UNKNOWN_ORDER = 11
    POOL_EXHAUSTED = 12
    POST_ONLY_WOULD_TAKE = 13


class CommandFlag(IntEnum):
    FLAG_POST_ONLY = 1


FLAG_POST_ONLY = CommandFlag.FLAG_POST_ONLY

# Same field order and offsets as the Command / Event structs in book.pxd.  Command names its pad
# bytes; an event row has exactly the fields of an event tuple, its last byte is alignment padding.
COMMAND_DTYPE = np.dtype([
    ("order_id", "<i8"), ("price", "<i8"), ("qty", "<i8"), ("display", "<i8"), ("owner", "<i8"),
    ("instrument", "<i4"), ("op", "u1"), ("side", "u1"), ("tif", "u1"), ("stp", "u1"),
    ("flags", "u1"), ("_pad0", "u1"), ("_pad1", "u1"), ("_pad2", "u1"), ("result", "<i4"),
], align=True)
EVENT_DTYPE = np.dtype([
    ("order_id", "<i8"), ("other_id", "<i8"), ("price", "<i8"), ("qty", "<i8"), ("leaves", "<i8"),
    ("other_leaves", "<i8"), ("instrument", "<i4"), ("kind", "u1"), ("side", "u1"),
    ("reason", "u1"),
], align=True)

_SIDES = {int(s) for s in Side}
_TIFS = {int(t) for t in TimeInForce}
_STPS = {int(s) for s in Stp}


class BookCorrupted(AssertionError):
    pass


def _c_int(value: Any, bits: int) -> int:
    """The value a C integer argument of this width would receive, or the error it would raise:
    only true integers (no float or Decimal truncation), and nothing outside the width."""
    v = operator.index(value)
    if not -(1 << (bits - 1)) <= v < 1 << (bits - 1):
        raise OverflowError(f"{v} does not fit in int{bits}")
    return v


def _event_code(value: int) -> int:
    """A code as stored in a uint8 event field; a value the field cannot hold is reported as 0."""
    return value if 0 <= value <= 0xFF else 0


@dataclass
class _Order:
    id: int
    instrument: int
    side: int
    price: int
    shown: int
    hidden: int
    display: int
    owner: int
    stp: int
    post_only: bool

    @property
    def total(self) -> int:
        return self.shown + self.hidden

    def shrink(self, by: int) -> None:
        """Take `by` off the order, hidden reserve first, so the visible slice stays put."""
        from_hidden = min(by, self.hidden)
        self.hidden -= from_hidden
        self.shown -= by - from_hidden


class _Instrument:
    def __init__(self, tick: int, lot: int) -> None:
        self.tick = tick
        self.lot = lot
        # side -> {price: FIFO list of orders, head first}
        self.levels: dict[int, dict[int, list[_Order]]] = {Side.BUY: {}, Side.SELL: {}}

    def prices(self, side: int) -> list[int]:
        """Price levels of one side, best first."""
        return sorted(self.levels[side], reverse=(side == Side.BUY))

    def best(self, side: int) -> int:
        prices = self.prices(side)
        return prices[0] if prices else 0


def _opposite(side: int) -> int:
    return Side.SELL if side == Side.BUY else Side.BUY


def _acceptable(side: int, level_price: int, limit: int) -> bool:
    """May a taker on `side` with this limit (0 = any price) trade at level_price?"""
    if limit == 0:
        return True
    return level_price <= limit if side == Side.BUY else level_price >= limit


class ReferenceBook:
    def __init__(self, max_orders: int = 1 << 20, max_instruments: int = 1024) -> None:
        if max_orders < 1 or max_instruments < 1:
            raise ValueError("max_orders and max_instruments must be positive")
        self.max_orders = max_orders
        self.max_instruments = max_instruments
        self._instruments: dict[int, _Instrument] = {}
        self._orders: dict[int, _Order] = {}
        self._events: list[tuple[int, ...]] = []

    # ---- set-up ------------------------------------------------------------------------------

    def add_instrument(self, instrument: int, tick: int = 1, lot: int = 1) -> None:
        instrument, tick, lot = _c_int(instrument, 32), _c_int(tick, 64), _c_int(lot, 64)
        if not 0 <= instrument < self.max_instruments:
            raise ValueError(f"instrument {instrument} outside 0..{self.max_instruments - 1}")
        if tick < 1 or lot < 1:
            raise ValueError(f"tick and lot must be positive, got tick={tick} lot={lot}")
        if instrument in self._instruments:
            raise ValueError(f"instrument {instrument} already added")
        self._instruments[instrument] = _Instrument(tick, lot)

    # ---- events ------------------------------------------------------------------------------

    def _emit(self, kind: int, order_id: int, other_id: int = 0, price: int = 0, qty: int = 0,
              leaves: int = 0, other_leaves: int = 0, instrument: int = 0, side: int = 0,
              reason: int = 0) -> None:
        self._events.append((int(order_id), int(other_id), int(price), int(qty), int(leaves),
                             int(other_leaves), int(instrument), int(kind), int(side), int(reason)))

    def _reject(self, result: int, order_id: int, instrument: int, side: int, price: int,
                qty: int) -> int:
        self._emit(EventKind.REJECTED, order_id, price=price, qty=qty, instrument=instrument,
                   side=side, reason=result)
        return int(result)

    def _order_event(self, kind: int, o: _Order, qty: int, reason: int) -> None:
        """CANCELLED / REDUCED / RESTED / REPLENISHED of a book order, at its own price and side."""
        leaves = 0 if kind == EventKind.CANCELLED else o.total
        self._emit(kind, o.id, price=o.price, qty=qty, leaves=leaves, instrument=o.instrument,
                   side=o.side, reason=reason)

    def take_events(self) -> list[tuple[int, ...]]:
        events, self._events = self._events, []
        return events

    def events_array(self) -> np.ndarray:
        return np.array(self._events, dtype=EVENT_DTYPE)

    def clear_events(self) -> None:
        self._events = []

    @property
    def event_count(self) -> int:
        return len(self._events)

    # ---- resting orders ----------------------------------------------------------------------

    def _rest(self, o: _Order) -> None:
        self._instruments[o.instrument].levels[o.side].setdefault(o.price, []).append(o)
        self._orders[o.id] = o

    def _remove(self, o: _Order) -> None:
        levels = self._instruments[o.instrument].levels[o.side]
        queue = levels[o.price]
        queue.remove(o)
        if not queue:
            del levels[o.price]
        del self._orders[o.id]

    # ---- new orders --------------------------------------------------------------------------

    def limit(self, instrument: int, order_id: int, side: int, price: int, qty: int,
              tif: int = 0, owner: int = 0, stp: int = 0, post_only: bool = False,
              display: int = 0) -> int:
        return self._new_order(Op.LIMIT, _c_int(instrument, 32), _c_int(order_id, 64),
                               _c_int(side, 32), _c_int(price, 64), _c_int(qty, 64),
                               _c_int(tif, 32), _c_int(owner, 64), _c_int(stp, 32),
                               bool(post_only), _c_int(display, 64))

    def market(self, instrument: int, order_id: int, side: int, qty: int, protection: int = 0,
               tif: int = 1, owner: int = 0, stp: int = 0) -> int:
        return self._new_order(Op.MARKET, _c_int(instrument, 32), _c_int(order_id, 64),
                               _c_int(side, 32), _c_int(protection, 64), _c_int(qty, 64),
                               _c_int(tif, 32), _c_int(owner, 64), _c_int(stp, 32), False, 0)

    def _new_order(self, op: int, instrument: int, order_id: int, side: int, price: int,
                   qty: int, tif: int, owner: int, stp: int, post_only: bool,
                   display: int) -> int:
        def reject(result: int) -> int:
            return self._reject(result, order_id, instrument, _event_code(side), price, qty)

        if op not in (Op.LIMIT, Op.MARKET):
            return reject(Result.INVALID_OP)
        inst = self._instruments.get(instrument)
        if inst is None:
            return reject(Result.UNKNOWN_INSTRUMENT)
        if side not in _SIDES:
            return reject(Result.INVALID_SIDE)
        if tif not in _TIFS:
            return reject(Result.INVALID_TIF)
        if stp not in _STPS:
            return reject(Result.INVALID_STP)
        if op == Op.LIMIT or price != 0:
            if price <= 0:
                return reject(Result.INVALID_PRICE)
            if price % inst.tick:
                return reject(Result.PRICE_OFF_TICK)
        if qty <= 0:
            return reject(Result.INVALID_QTY)
        if qty % inst.lot:
            return reject(Result.QTY_OFF_LOT)
        if display < 0:
            return reject(Result.INVALID_QTY)
        if display % inst.lot:
            return reject(Result.QTY_OFF_LOT)
        if order_id in self._orders:
            return reject(Result.DUPLICATE_ORDER_ID)
        if op == Op.LIMIT and post_only and self._would_cross(inst, side, price):
            return reject(Result.POST_ONLY_WOULD_TAKE)
        rests = op == Op.LIMIT and tif == TimeInForce.GTC
        if rests and len(self._orders) >= self.max_orders:
            return reject(Result.POOL_EXHAUSTED)

        # A market order's events carry price 0; its protection only bounds matching.
        event_price = price if op == Op.LIMIT else 0
        if tif == TimeInForce.FOK and self._fok_count(inst, side, price, owner, stp) < qty:
            self._emit(EventKind.CANCELLED, order_id, price=event_price, qty=qty,
                       instrument=instrument, side=side, reason=CancelReason.FOK_UNFILLABLE)
            return Result.OK
        taker = _Order(order_id, instrument, side, event_price, qty, 0,
                       0 if display >= qty else display, owner, stp, post_only)
        self._match_and_finish(inst, taker, price, rests)
        return Result.OK

    @staticmethod
    def _would_cross(inst: _Instrument, side: int, price: int) -> bool:
        best = inst.best(_opposite(side))
        if best == 0:
            return False
        return price >= best if side == Side.BUY else price <= best

    @staticmethod
    def _same_owner(owner: int, stp: int, maker: _Order) -> bool:
        return owner != 0 and stp != Stp.STP_NONE and maker.owner == owner

    def _fok_count(self, inst: _Instrument, side: int, limit: int, owner: int, stp: int) -> int:
        """What matching would fill, counted by the contract's walk (see book.pyi, FOK)."""
        count = 0
        opposite = _opposite(side)
        for level_price in inst.prices(opposite):
            if not _acceptable(side, level_price, limit):
                break
            queue = inst.levels[opposite][level_price]
            if stp == Stp.CANCEL_RESTING:
                count += sum(m.total for m in queue if not self._same_owner(owner, stp, m))
                continue
            blockers = [i for i, m in enumerate(queue) if self._same_owner(owner, stp, m)]
            if not blockers:
                count += sum(m.total for m in queue)
                continue
            # Icebergs ahead of the blocker would replenish behind it: only their shown part fills.
            count += sum(m.shown for m in queue[:blockers[0]])
            break
        return count

    def _match_and_finish(self, inst: _Instrument, taker: _Order, limit: int,
                          rests: bool) -> None:
        """Match `taker` (its shown = remaining), then rest or cancel what is left."""
        if not self._match(inst, taker, limit):
            return
        remaining = taker.shown
        if remaining == 0:
            return
        if rests:
            if taker.display:
                taker.shown = min(taker.display, remaining)
                taker.hidden = remaining - taker.shown
            self._rest(taker)
            self._order_event(EventKind.RESTED, taker, taker.shown, CancelReason.NO_REASON)
        else:
            self._emit(EventKind.CANCELLED, taker.id, price=taker.price, qty=remaining,
                       instrument=taker.instrument, side=taker.side,
                       reason=CancelReason.IOC_REMAINDER)

    def _match(self, inst: _Instrument, taker: _Order, limit: int) -> bool:
        """Trade the taker (remaining quantity in taker.shown) against the opposite side.

        Returns False when self-trade prevention cancelled the taker (nothing may rest)."""
        opposite = _opposite(taker.side)
        while taker.shown > 0:
            best = inst.best(opposite)
            if best == 0 or not _acceptable(taker.side, best, limit):
                break
            queue = inst.levels[opposite][best]
            maker = queue[0]
            if self._same_owner(taker.owner, taker.stp, maker):
                if not self._prevent_self_trade(taker, maker):
                    return False
                continue
            q = min(taker.shown, maker.shown)
            taker.shown -= q
            maker.shown -= q
            self._emit(EventKind.FILL, taker.id, maker.id, maker.price, q, taker.shown,
                       maker.total, taker.instrument, taker.side)
            if maker.shown == 0 and maker.hidden > 0:
                maker.shown = min(maker.display, maker.hidden)
                maker.hidden -= maker.shown
                queue.remove(maker)
                queue.append(maker)
                self._order_event(EventKind.REPLENISHED, maker, maker.shown,
                                  CancelReason.NO_REASON)
            elif maker.shown == 0:
                self._remove(maker)
        return True

    def _prevent_self_trade(self, taker: _Order, maker: _Order) -> bool:
        """Apply the taker's STP mode against its own resting order; False = taker is done."""
        stp = taker.stp
        if stp == Stp.CANCEL_RESTING:
            self._cancel_book_order(maker, CancelReason.SELF_TRADE)
            return True
        if stp == Stp.CANCEL_INCOMING:
            self._cancel_taker(taker, taker.shown)
            return False
        if stp == Stp.CANCEL_BOTH:
            self._cancel_book_order(maker, CancelReason.SELF_TRADE)
            self._cancel_taker(taker, taker.shown)
            return False
        # DECREMENT_AND_CANCEL
        d = min(taker.shown, maker.total)
        if maker.total == d:
            self._cancel_book_order(maker, CancelReason.SELF_TRADE)
        else:
            maker.shrink(d)
            self._order_event(EventKind.REDUCED, maker, d, CancelReason.SELF_TRADE)
        if taker.shown == d:
            self._cancel_taker(taker, d)
            return False
        taker.shown -= d
        self._emit(EventKind.REDUCED, taker.id, price=taker.price, qty=d, leaves=taker.shown,
                   instrument=taker.instrument, side=taker.side, reason=CancelReason.SELF_TRADE)
        return True

    def _cancel_book_order(self, o: _Order, reason: int) -> None:
        qty = o.total
        self._remove(o)
        self._order_event(EventKind.CANCELLED, o, qty, reason)

    def _cancel_taker(self, taker: _Order, qty: int) -> None:
        self._emit(EventKind.CANCELLED, taker.id, price=taker.price, qty=qty,
                   instrument=taker.instrument, side=taker.side, reason=CancelReason.SELF_TRADE)

    # ---- changes to resting orders -----------------------------------------------------------

    def cancel(self, order_id: int) -> int:
        order_id = _c_int(order_id, 64)
        o = self._orders.get(order_id)
        if o is None:
            return self._reject(Result.UNKNOWN_ORDER, order_id, 0, 0, 0, 0)
        self._cancel_book_order(o, CancelReason.USER)
        return Result.OK

    def _check_new_qty(self, o: _Order, new_qty: int) -> int:
        if new_qty <= 0:
            return Result.INVALID_QTY
        if new_qty % self._instruments[o.instrument].lot:
            return Result.QTY_OFF_LOT
        return Result.OK

    def reduce(self, order_id: int, new_qty: int) -> int:
        order_id, new_qty = _c_int(order_id, 64), _c_int(new_qty, 64)
        o = self._orders.get(order_id)
        if o is None:
            return self._reject(Result.UNKNOWN_ORDER, order_id, 0, 0, 0, new_qty)
        result = self._check_new_qty(o, new_qty)
        if result == Result.OK and new_qty >= o.total:
            result = Result.INVALID_QTY
        if result != Result.OK:
            return self._reject(result, order_id, o.instrument, o.side, 0, new_qty)
        self._reduce(o, new_qty)
        return Result.OK

    def _reduce(self, o: _Order, new_qty: int) -> None:
        by = o.total - new_qty
        o.shrink(by)
        self._order_event(EventKind.REDUCED, o, by, CancelReason.USER)

    def replace(self, order_id: int, new_price: int, new_qty: int) -> int:
        order_id = _c_int(order_id, 64)
        new_price, new_qty = _c_int(new_price, 64), _c_int(new_qty, 64)
        o = self._orders.get(order_id)
        if o is None:
            return self._reject(Result.UNKNOWN_ORDER, order_id, 0, 0, new_price, new_qty)
        inst = self._instruments[o.instrument]

        def reject(result: int) -> int:
            return self._reject(result, order_id, o.instrument, o.side, new_price, new_qty)

        if new_price <= 0:
            return reject(Result.INVALID_PRICE)
        if new_price % inst.tick:
            return reject(Result.PRICE_OFF_TICK)
        result = self._check_new_qty(o, new_qty)
        if result != Result.OK:
            return reject(result)
        if new_price == o.price and new_qty < o.total:
            self._reduce(o, new_qty)
            return Result.OK
        if o.post_only and self._would_cross(inst, o.side, new_price):
            return reject(Result.POST_ONLY_WOULD_TAKE)
        self._remove(o)
        self._emit(EventKind.REPLACED, order_id, price=new_price, qty=new_qty, leaves=new_qty,
                   instrument=o.instrument, side=o.side)
        taker = _Order(o.id, o.instrument, o.side, new_price, new_qty, 0, o.display, o.owner,
                       o.stp, o.post_only)
        self._match_and_finish(inst, taker, new_price, rests=True)
        return Result.OK

    # ---- batch -------------------------------------------------------------------------------

    def execute(self, commands: np.ndarray) -> int:
        if not isinstance(commands, np.ndarray) or commands.dtype != COMMAND_DTYPE:
            raise TypeError("execute() takes a numpy array of COMMAND_DTYPE")
        # Refuse up front what the batch could not finish (results are written in place).
        if commands.ndim != 1 or not commands.flags.c_contiguous or not commands.flags.writeable:
            raise ValueError("commands must be a writeable, C-contiguous, one-dimensional array")
        before = len(self._events)
        for i in range(len(commands)):
            c = {name: int(commands[name][i]) for name in COMMAND_DTYPE.names}
            op = c["op"]
            if op == Op.CANCEL:
                result = self.cancel(c["order_id"])
            elif op == Op.REDUCE:
                result = self.reduce(c["order_id"], c["qty"])
            elif op == Op.REPLACE:
                result = self.replace(c["order_id"], c["price"], c["qty"])
            else:
                result = self._new_order(op, c["instrument"], c["order_id"], c["side"],
                                         c["price"], c["qty"], c["tif"], c["owner"], c["stp"],
                                         bool(c["flags"] & FLAG_POST_ONLY), c["display"])
            commands["result"][i] = result
        return len(self._events) - before

    # ---- inspection --------------------------------------------------------------------------

    @property
    def order_count(self) -> int:
        return len(self._orders)

    def _instrument(self, instrument: int) -> _Instrument:
        inst = self._instruments.get(_c_int(instrument, 32))
        if inst is None:
            raise KeyError(f"unknown instrument {instrument}")
        return inst

    def best_bid(self, instrument: int) -> int:
        return self._instrument(instrument).best(Side.BUY)

    def best_ask(self, instrument: int) -> int:
        return self._instrument(instrument).best(Side.SELL)

    def depth(self, instrument: int, side: int, n: int = 10) -> list[tuple[int, int, int]]:
        inst = self._instrument(instrument)
        if side not in _SIDES:
            raise ValueError(f"side must be BUY (1) or SELL (2), got {side}")
        return [(p, sum(o.shown for o in inst.levels[side][p]), len(inst.levels[side][p]))
                for p in inst.prices(side)[:max(n, 0)]]

    def order(self, order_id: int) -> dict[str, Any] | None:
        o = self._orders.get(_c_int(order_id, 64))
        if o is None:
            return None
        return {"id": o.id, "instrument": o.instrument, "side": o.side, "price": o.price,
                "shown": o.shown, "hidden": o.hidden, "leaves": o.total, "display": o.display,
                "owner": o.owner, "stp": o.stp}

    def validate(self) -> None:
        def check(ok: bool, what: str) -> None:
            if not ok:
                raise BookCorrupted(what)

        seen: set[int] = set()
        for iid, inst in self._instruments.items():
            for side, levels in inst.levels.items():
                for price, queue in levels.items():
                    check(bool(queue), f"instrument {iid} side {side}: empty level {price}")
                    check(price > 0 and price % inst.tick == 0,
                          f"instrument {iid}: level price {price} off tick {inst.tick}")
                    for o in queue:
                        where = f"order {o.id} at {iid}/{side}/{price}"
                        check(self._orders.get(o.id) is o, f"{where} missing from the index")
                        check(o.id not in seen, f"{where} queued twice")
                        seen.add(o.id)
                        check((o.instrument, o.side, o.price) == (iid, side, price),
                              f"{where} carries {o.instrument}/{o.side}/{o.price}")
                        check(o.shown > 0 and o.hidden >= 0, f"{where}: shown {o.shown} "
                              f"hidden {o.hidden}")
                        check(o.shown % inst.lot == 0 and o.hidden % inst.lot == 0,
                              f"{where}: quantity off lot {inst.lot}")
                        check(o.display == 0 or o.shown <= o.display,
                              f"{where}: shows {o.shown} above its display {o.display}")
                        check(o.hidden == 0 or o.display > 0,
                              f"{where}: hidden {o.hidden} without a display size")
            bid, ask = inst.best(Side.BUY), inst.best(Side.SELL)
            check(bid == 0 or ask == 0 or bid < ask, f"instrument {iid} crossed: {bid} >= {ask}")
        check(seen == set(self._orders), "index holds orders that are in no level")
        check(len(self._orders) <= self.max_orders, "more live orders than max_orders")

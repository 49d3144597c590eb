"""Price-time priority limit order book for many instruments (compiled; see book.pxd for layout).

This docstring is the contract.  `ordex.core.refbook.ReferenceBook` implements it in plain Python
and the test suite runs both books on the same commands, requiring identical event streams.

Units
    Prices and quantities are int64 counts of the instrument's price / quantity *increment*.  Each
    instrument also has a `tick` (prices must be multiples of it) and a `lot` (quantities and
    iceberg display sizes must be multiples of it), both in increments.  Sides are BUY=1, SELL=2.

Results and events
    Every operation returns a `Result`.  A non-OK result appends exactly one REJECTED event and
    leaves the book unchanged.  Its fields: order_id as given, leaves 0, reason = the Result;
    new orders: instrument, side, price (market: protection) and qty exactly as given;
    cancel/reduce/replace: instrument and side of the order if it exists (else 0), price = new
    price for replace (else 0), qty = new qty for reduce/replace (else 0).  Checks run in this order and the first
    failure wins:
      new orders:  op, instrument, side, tif, stp, price, qty, display, duplicate id,
                   post-only cross, pool exhausted (only for GTC limit orders, which could rest)
      cancel / reduce / replace: unknown order, then price (replace), then qty, then post-only.
    Business outcomes (fills, IOC remainder, FOK kill, self-trade prevention) are OK results that
    produce events.  Events are tuples/array rows with the fields of EVENT_DTYPE, in this order:
        (order_id, other_id, price, qty, leaves, other_leaves, instrument, kind, side, reason)
    Unused fields are 0.  `leaves` is the total remaining quantity (displayed + hidden) of order_id
    after the event; for FILL, `other_leaves` is the maker's total remaining after the fill.

New orders: limit(...) and market(...)
    * price must be > 0 and on the tick (market: `protection` price, 0 = none, else same checks);
      qty > 0 and on the lot; display 0 (plain) or > 0 and on the lot (a display >= qty is plain).
    * A market order never rests: tif GTC is treated as IOC; FOK is honoured.
    * Post-only (limit only): rejected with POST_ONLY_WOULD_TAKE if its price would cross the best
      opposite price (buy >= best ask, sell <= best bid), whatever the owner.
    * FOK: before anything happens, count what matching would fill, walking the opposite side's
      acceptable levels from the best.  A "blocker" is a maker with the same owner (owner != 0 and
      the incoming stp is neither STP_NONE nor CANCEL_RESTING; under CANCEL_RESTING a same-owner
      maker counts 0 and is skipped).  At a level without a blocker every maker counts its total
      remaining (displayed + hidden); at a level with one, the makers ahead of the first blocker
      count only their displayed quantity (a replenished iceberg would queue behind the blocker),
      and the walk stops there.  If the count < qty: one CANCELLED event (price = limit, 0 for
      market; qty = qty; leaves 0; reason FOK_UNFILLABLE) and nothing else happens.
    * Matching: while quantity remains and the best opposite level is acceptable (buy: level price
      <= limit / protection; sell: >=; a market order without protection accepts any), take the
      level's head order.
        - Self-trade (same non-zero owner, incoming stp != STP_NONE):
            CANCEL_RESTING:  CANCELLED(maker, qty = maker total remaining, reason SELF_TRADE); go on.
            CANCEL_INCOMING: CANCELLED(taker, qty = taker remaining, SELF_TRADE); stop, no rest.
            CANCEL_BOTH:     CANCELLED(maker ...), then CANCELLED(taker ...); stop, no rest.
            DECREMENT_AND_CANCEL: d = min(taker remaining, maker total remaining).  The maker:
              CANCELLED if its total == d, else REDUCED by d (hidden reduced first, then shown;
              it keeps its place).  Then the taker: CANCELLED (qty = its remaining) if its
              remaining == d and stop; else REDUCED by d (price = its limit, 0 for market) and go on.
            Cancelled/reduced events carry the order's own price and side.
        - Otherwise fill q = min(taker remaining, maker shown): FILL(order_id = taker, other_id =
          maker, price = maker's price, qty = q, leaves = taker remaining after, other_leaves =
          maker total remaining after, side = taker side).  A maker whose shown quantity reaches 0
          with hidden > 0 replenishes: shown = min(display, hidden), hidden -= shown, it moves to
          the tail of its level (losing time priority) and REPLENISHED(maker, price, qty = shown,
          leaves = total) follows the FILL.  A maker with nothing left leaves the book (no event
          beyond the FILL).  Matching then continues with the level's (new) head.
    * After matching, the remainder of a GTC limit order rests at the tail of its price level:
      RESTED(price, qty = shown, leaves = total); an iceberg shows min(display, remainder) and
      hides the rest.  The remainder of an IOC limit or any market order: CANCELLED(qty =
      remainder, reason IOC_REMAINDER, price = limit (0 for market)).  Nothing is emitted for a
      fully filled order.

cancel(order_id)
    CANCELLED(order_id, price, qty = total remaining, reason USER).

reduce(order_id, new_qty)
    new_qty must be > 0, on the lot and < total remaining (else INVALID_QTY / QTY_OFF_LOT).  The
    order keeps its time priority; the reduction comes out of the hidden reserve first, then the
    shown quantity.  REDUCED(price, qty = reduced by, leaves = new_qty, reason USER).

replace(order_id, new_price, new_qty)
    new_price > 0 and on the tick, new_qty > 0 and on the lot.  Same price and smaller quantity
    behaves exactly as reduce(order_id, new_qty) (REDUCED, priority kept).  Anything else loses
    priority: a post-only order whose new price would cross is rejected (POST_ONLY_WOULD_TAKE) and
    stays as it was; otherwise the order leaves its level, REPLACED(order_id, price = new_price,
    qty = new_qty, leaves = new_qty) is emitted, and it then matches as an incoming GTC limit order
    (same id, owner, stp, iceberg display size) with the events above, resting any remainder.

Batch
    execute(commands) applies COMMAND_DTYPE rows in order, writing each row's Result into its
    `result` field; events accumulate exactly as for the per-call methods.

Events accumulate in the book until clear_events()/take_events(); the buffer grows as needed.

Snapshots
    resting_orders() exports every resting order (RESTING_DTYPE rows: id, price, shown, hidden,
    display, owner, instrument, side, stp, flags) in priority order: by instrument, bids then
    asks, levels from the best, FIFO within a level.  restore_resting() places one such order at
    the tail of its level without matching and without events, so restoring an export in order
    into a book with the same instruments (tick, lot) rebuilds the same priorities, and the two
    books produce the same events for any further commands.  It refuses (ValueError, book
    unchanged) anything the book could not have built: unknown instrument, bad side, price not a
    positive multiple of the tick, shown <= 0, hidden < 0, total off the lot, hidden without a
    display size or shown above it, unknown stp/flags, a duplicate id, a full pool, or a price
    that would cross the opposite side.  Pool slots are internal and need not match.
"""
from typing import Any

import numpy as np

COMMAND_DTYPE: np.dtype
EVENT_DTYPE: np.dtype
RESTING_DTYPE: np.dtype

class Side: BUY: int; SELL: int
class Op: LIMIT: int; MARKET: int; CANCEL: int; REDUCE: int; REPLACE: int
class TimeInForce: GTC: int; IOC: int; FOK: int
class Stp: STP_NONE: int; CANCEL_RESTING: int; CANCEL_INCOMING: int; CANCEL_BOTH: int; DECREMENT_AND_CANCEL: int
class EventKind: RESTED: int; FILL: int; CANCELLED: int; REDUCED: int; REPLACED: int; REPLENISHED: int; REJECTED: int
class CancelReason: NO_REASON: int; USER: int; IOC_REMAINDER: int; FOK_UNFILLABLE: int; SELF_TRADE: int
class Result: ...

FLAG_POST_ONLY: int

class BookCorrupted(AssertionError): ...

class OrderBook:
    def __init__(self, max_orders: int = 1 << 20, max_instruments: int = 1024) -> None: ...
    def add_instrument(self, instrument: int, tick: int = 1, lot: int = 1) -> None: ...
    def limit(self, instrument: int, order_id: int, side: int, price: int, qty: int, tif: int = 0,
              owner: int = 0, stp: int = 0, post_only: bool = False, display: int = 0) -> int: ...
    def market(self, instrument: int, order_id: int, side: int, qty: int, protection: int = 0,
               tif: int = 1, owner: int = 0, stp: int = 0) -> int: ...
    def cancel(self, order_id: int) -> int: ...
    def reduce(self, order_id: int, new_qty: int) -> int: ...
    def replace(self, order_id: int, new_price: int, new_qty: int) -> int: ...
    def execute(self, commands: np.ndarray) -> int:
        """Apply COMMAND_DTYPE rows; returns the number of events appended."""
    def execute_timed(self, commands: np.ndarray, latency_ns: np.ndarray,
                      clear_events: bool = True) -> int:
        """execute(), recording each command's latency in ns (CLOCK_MONOTONIC) into latency_ns."""
    def take_events(self) -> list[tuple[int, ...]]:
        """The accumulated events as tuples (EVENT_DTYPE field order), then clear them."""
    def events_array(self) -> np.ndarray:
        """A copy of the accumulated events as an EVENT_DTYPE array (does not clear)."""
    def clear_events(self) -> None: ...
    @property
    def event_count(self) -> int: ...
    @property
    def order_count(self) -> int: ...
    def best_bid(self, instrument: int) -> int:
        """Best bid price, 0 when the side is empty."""
    def best_ask(self, instrument: int) -> int: ...
    def depth(self, instrument: int, side: int, n: int = 10) -> list[tuple[int, int, int]]:
        """Top n levels from the best: (price, displayed quantity, order count)."""
    def order(self, order_id: int) -> dict[str, Any] | None:
        """A live order: id, instrument, side, price, shown, hidden, leaves, display, owner, stp."""
    def resting_orders(self) -> np.ndarray:
        """Every resting order, RESTING_DTYPE, in priority order (see Snapshots)."""
    def restore_resting(self, instrument: int, order_id: int, side: int, price: int, shown: int,
                        hidden: int = 0, display: int = 0, owner: int = 0, stp: int = 0,
                        flags: int = 0) -> None:
        """Place an exported order at the tail of its level, without matching (see Snapshots)."""
    def restore_resting_array(self, rows: np.ndarray) -> int:
        """restore_resting() per RESTING_DTYPE row, in order; a bad row raises ValueError naming
        its index (the rows before it stay placed: restore into a fresh book)."""
    def validate(self) -> None:
        """Check every internal structure; raise BookCorrupted naming the first broken invariant."""

"""The ITCH 5.0 feed's encoder (gateway/binary/itch_feed.py): book events -> Sequenced Data
packets, in C, with the feed's published view of the book in C memory.

ItchEncoder(layouts, pstep, stocks, next_ref)
    layouts: {"AddOrder", "OrderExecuted", "OrderCancel", "OrderDelete", "OrderReplace",
    "Trade"} -> schema.framed_dtype("itch", "server", name): the offsets the encoder writes at
    come from the schema (a field of another width is refused with ValueError).  pstep[i]: wire
    price units per tick of instrument i (0: not on the wire; its events are skipped); stocks[i]:
    its symbol (8 bytes, space padded); locate = i + 1.  next_ref: the first reference number
    for orders that re-enter the book (replaced, iceberg slices).

The view: every displayed resting order's reference, locate, side, price (wire units) and shown
quantity, in time priority (insertion order; an order that re-enters the book moves to the end,
one updated in place keeps its place).

encode(events, ts) -> (bytes, count), events of the book's EVENT_DTYPE, ts ns since midnight:
    RESTED       Add Order (reference = order id), or Order Replace to a new reference when the
                 order was REPLACED just before (else the replaced order gets an Order Delete)
    FILL         Order Executed on the maker (match numbers count fills); a maker that was never
                 displayed gives an anonymous Trade (reference 0, the maker's side)
    CANCELLED    Order Delete if displayed (an IOC remainder never was)
    REDUCED      Order Cancel for the displayed quantity taken off (reserve goes first)
    REPLENISHED  Add Order with a new reference (an iceberg's next slice, at the back)
    REPLACED     leaves the view (see RESTED)
Quantities above 2^32 - 1 are sent as 2^32 - 1.
snapshot(ts) -> (bytes, count): the view as Add Orders in time priority (all add_size bytes).
load(order_id, instrument, side, price, shown): publish resting orders (reference = order id).
orders() -> [(reference, locate, side, price4, shown)] in time priority; order(order_id) -> one
or None; len(); clear(); next_ref and match (read-only counters).
"""
import numpy as np

class ItchEncoder:
    next_ref: int
    match: int
    add_size: int
    def __init__(self, layouts: dict[str, np.dtype], pstep: np.ndarray, stocks: list[bytes],
                 next_ref: int) -> None: ...
    def encode(self, events: np.ndarray, ts: int) -> tuple[bytes, int]: ...
    def snapshot(self, ts: int) -> tuple[bytes, int]: ...
    def load(self, order_id, instrument, side, price, shown) -> None: ...
    def orders(self) -> list[tuple[int, int, bytes, int, int]]: ...
    def order(self, order_id: int) -> tuple[int, int, bytes, int, int] | None: ...
    def clear(self) -> None: ...
    def __len__(self) -> int: ...

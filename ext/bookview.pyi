"""A durable price-level view of the book for FIX market data (compiled; see bookview.pxd).

gateway/fix/market_data.py feeds it every durable batch of book events (ordex.ext.book
EVENT_DTYPE) and builds MarketDataSnapshotFullRefresh / IncrementalRefresh from it: RESTED adds an
order's visible quantity to its level, FILL takes the fill from the resting order's level (the
order leaves it when its leaves reach 0), CANCELLED and REPLACED take the order off, REDUCED
takes from the reserve first and then from what is shown, REPLENISHED shows a new slice.  A level
with no orders is gone.  Events about orders the view does not hold change nothing.
"""
import numpy as np

class BookView:
    n_instruments: int
    order_count: int               # orders resting in the view
    def __init__(self, n_instruments: int) -> None: ...
    def apply(self, events: np.ndarray, collect: bool = True
              ) -> tuple[dict[int, set[tuple[int, int]]], list[tuple[int, int, int]]]:
        """Apply the events in order.  With collect: ({instrument: {(side, price)}} of the levels
        changed, [(instrument, price, qty)] of the fills); without: ({}, []).  An event for an
        instrument outside 0..n_instruments-1 or a side other than 1/2 raises ValueError."""
    def level(self, inst: int, side: int, price: int) -> tuple[int, int] | None:
        """(visible quantity, order count) of a level; None when it has no orders."""
    def depth(self, inst: int, side: int, n: int = 0) -> list[tuple[int, int, int]]:
        """[(price, qty, count)], best first; n > 0: the best n."""

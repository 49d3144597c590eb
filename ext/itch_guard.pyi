"""Filters that need history across events, and the reference prices they maintain.

Guard(stale_ns=0, band_bps=0, reanchor_after=5).process(events) walks an EVENT_DTYPE batch in
order and, in place:
  * flags F_STALE when recv_ns - ts_ns > stale_ns (counted as stale);
  * for printable trades and uncrossed two-sided quotes (mid, rounded down) that are not stale:
    flags F_OUT_OF_BAND when the price is further than band_bps from the reference (the newer of
    last trade and mid) and leaves the reference alone, unless it is the reanchor_after-th such
    price in a row (the market moved: the reference follows, counted as band_reanchor);
    otherwise the price becomes the instrument's last trade / mid, with its exchange ts_ns;
  * a STATUS reset forgets the instrument's mid (the book it came from is gone).
last(i), mid(i), mark(i) -> (price, ts_ns) | None; known() -> ids with a reference;
changed() -> ids whose reference moved since the previous call; reasons() -> counts.
"""
import numpy as np

REASON_NAMES: tuple[str, ...]

class Guard:
    stale_ns: int
    band_bps: int
    reanchor_after: int
    def __init__(self, stale_ns: int = 0, band_bps: int = 0, reanchor_after: int = 5) -> None: ...
    def process(self, events: np.ndarray) -> None: ...
    def last(self, instrument: int) -> tuple[int, int] | None: ...
    def mid(self, instrument: int) -> tuple[int, int] | None: ...
    def mark(self, instrument: int) -> tuple[int, int] | None: ...
    def known(self) -> list[int]: ...
    def changed(self) -> list[int]: ...
    def reasons(self) -> dict[str, int]: ...

"""What the binary wire can say about ordex's instruments and time.

Prices on the wire have 4 implied decimals (OUCH Price, ITCH Price(4)); an instrument's price on
the engine's grid is a count of its price increment, so wire = ticks * step with step =
increment / 0.0001, which must be a whole number.  Quantities on the wire are counts of the
instrument's quantity increment, the engine's own unit, so they need no conversion; ITCH and
OUCH carry them in 32 bits.  Symbols are at most 8 characters.  An instrument that does not fit
(a finer price increment, a longer symbol) is left out of the binary gateway with a warning at
start-up, rather than published with a rounded price.

Timestamps on the wire count nanoseconds since midnight in the feed's time zone.
"""
from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from decimal import Decimal

import numpy as np

log = logging.getLogger("ordex.binary")

PRICE_DECIMALS = 4
MAX_U32 = (1 << 32) - 1
_WIRE_UNIT = Decimal(1).scaleb(-PRICE_DECIMALS)


class WireInstruments:
    def __init__(self, reference):
        insts = reference.instruments
        n = len(insts)
        self.count = n
        self.ok = np.zeros(n, dtype=bool)
        self.pstep = np.zeros(n, dtype=np.int64)
        self.lot = np.array([i.lot for i in insts], dtype=np.int64)
        self.names = [i.symbol for i in insts]
        self.symbol = np.zeros(n, dtype="S8")
        self.by_symbol: dict[bytes, int] = {}
        self.status = np.array([i.status for i in insts], dtype=np.int8)
        for i in insts:
            step = i.price_increment / _WIRE_UNIT
            sym = i.symbol.encode("ascii", "replace")
            why = []
            if step != step.to_integral_value() or step < 1:
                why.append(f"price increment {i.price_increment} is finer than 0.0001")
            if len(sym) > 8 or not i.symbol.isascii():
                why.append("symbol longer than 8 ASCII characters")
            if why:
                log.warning("instrument %s is not available on the binary gateway: %s", i.symbol,
                            "; ".join(why))
                continue
            self.ok[i.id] = True
            self.pstep[i.id] = int(step)
            self.symbol[i.id] = sym.ljust(8)
            self.by_symbol[sym] = i.id
            if i.max_qty == 0 or i.max_qty > MAX_U32:
                log.warning("instrument %s: orders above %d quantity increments cannot be entered "
                            "over OUCH, and the ITCH feed shows them as at most that size",
                            i.symbol, MAX_U32)

    def lookup(self, symbol: bytes) -> int:
        """Instrument id of a wire symbol (padding stripped on both sides), -1 when unknown."""
        return self.by_symbol.get(symbol.strip(b" \x00"), -1)

    def symbols(self, width: int) -> np.ndarray:
        """The symbols as an S<width> array (space-padded), indexed by instrument id."""
        return np.array([s.rstrip(b" ").ljust(width) for s in self.symbol], dtype=f"S{width}")


class FeedClock:
    """Nanoseconds since local midnight in one time zone, with the day's bounds cached."""

    def __init__(self, tz: str):
        self.tz = zoneinfo.ZoneInfo(tz)
        self._lo = self._hi = 0

    def _day(self, ts_ns: int) -> None:
        local = dt.datetime.fromtimestamp(ts_ns / 1e9, self.tz)
        midnight = dt.datetime(local.year, local.month, local.day, tzinfo=self.tz)
        nxt = midnight + dt.timedelta(days=1)
        self._lo = int(midnight.timestamp()) * 1_000_000_000
        self._hi = int(dt.datetime(nxt.year, nxt.month, nxt.day, tzinfo=self.tz).timestamp()) \
            * 1_000_000_000

    def since_midnight(self, ts_ns: int) -> int:
        if not self._lo <= ts_ns < self._hi:
            self._day(ts_ns)
        return ts_ns - self._lo

    def since_midnight_array(self, ts: np.ndarray) -> np.ndarray:
        if not len(ts):
            return ts.astype(np.int64)
        lo, hi = int(ts.min()), int(ts.max())
        if self._lo <= lo and hi < self._hi:
            return ts - self._lo
        return np.array([self.since_midnight(int(t)) for t in ts], dtype=np.int64)

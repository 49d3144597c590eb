"""Reference prices for the engine's risk checks (price collars, stale-price protection, marks).

The engine must stay a function of its journal (DESIGN invariant 1), so it never reads these
directly: a gateway-side task takes `changed()` and submits each as a sequenced command (for
example SetReferencePrice(instrument, price, ts_ns)); the engine then judges age against the
command's own sequenced ts_ns.  Prices are int64 fixed point at the feed's decimals, which the
command must convert to the engine instrument's increment (exactly, or reject).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ordex.ext.itch_guard import Guard
from ordex.feeds.model import Instrument


@dataclass(frozen=True)
class RefPrice:
    symbol: str
    price: int            # int64 fixed point: counts of 10**-price_decimals
    ts_ns: int            # exchange time of the trade or quote it comes from
    price_decimals: int
    kind: str             # "last" (trade) or "mid" (uncrossed quote, rounded down)

    def age_ns(self, now_ns: int) -> int:
        return now_ns - self.ts_ns


class ReferencePrices:
    """Stale / out-of-band filtering of event batches, and the reference prices they leave.

    get(instrument) -> RefPrice | None: the mark (the newer of last trade and mid);
    get(instrument, "last" | "mid") for one of them; fresh(instrument, now_ns, max_age_ns) for
    a mark no older than max_age_ns.  `instrument` is a symbol or the source's instrument id.
    """

    def __init__(self, *, stale_ns: int = 0, band_bps: int = 0, reanchor_after: int = 5):
        self.guard = Guard(stale_ns, band_bps, reanchor_after)
        self._instrument: Callable[[int], Instrument] | None = None
        self._ids: dict[str, int] = {}

    def bind(self, instrument: Callable[[int], Instrument]) -> None:
        """How to name the source's instrument ids."""
        self._instrument = instrument

    def process(self, batch: np.ndarray) -> None:
        """Flag stale and out-of-band events of `batch` in place; move the references."""
        self.guard.process(batch)

    def _id(self, instrument: str | int) -> int | None:
        if isinstance(instrument, int):
            return instrument
        if instrument not in self._ids and self._instrument is not None:
            for i in self.guard.known():
                self._ids[self._instrument(i).symbol] = i
        return self._ids.get(instrument)

    def _ref(self, i: int, pair, kind: str) -> RefPrice | None:
        if pair is None:
            return None
        inst = self._instrument(i) if self._instrument is not None else Instrument(i, str(i), 0, 0)
        return RefPrice(inst.symbol, pair[0], pair[1], inst.price_decimals, kind)

    def get(self, instrument: str | int, kind: str = "mark") -> RefPrice | None:
        i = self._id(instrument)
        if i is None:
            return None
        if kind == "mark":
            last, mid = self.guard.last(i), self.guard.mid(i)
            if last is not None and (mid is None or last[1] >= mid[1]):
                return self._ref(i, last, "last")
            return self._ref(i, mid, "mid")
        if kind == "last":
            return self._ref(i, self.guard.last(i), "last")
        if kind == "mid":
            return self._ref(i, self.guard.mid(i), "mid")
        raise ValueError(f"kind must be mark, last or mid, not {kind!r}")

    def fresh(self, instrument: str | int, now_ns: int, max_age_ns: int) -> RefPrice | None:
        ref = self.get(instrument)
        return ref if ref is not None and ref.age_ns(now_ns) <= max_age_ns else None

    def changed(self) -> list[RefPrice]:
        """Marks that moved since the previous call: what to send to the engine."""
        out = []
        for i in self.guard.changed():
            ref = self.get(i)
            if ref is not None:
                self._ids[ref.symbol] = i
                out.append(ref)
        return out

    def changed_ids(self) -> list[int]:
        """The source's instrument ids whose mark moved since the previous call (of this or
        changed()): for a consumer that wants a few of many instruments, without building a
        RefPrice for each of the rest."""
        return self.guard.changed()

    def snapshot(self) -> dict[str, RefPrice]:
        """Every instrument's current mark."""
        out = {}
        for i in self.guard.known():
            ref = self.get(i)
            if ref is not None:
                self._ids[ref.symbol] = i
                out[ref.symbol] = ref
        return out

    def reasons(self) -> dict[str, int]:
        return self.guard.reasons()

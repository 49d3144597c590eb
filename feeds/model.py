"""The normalised event model every source produces, the instrument table and filter counters.

Events travel in numpy arrays of EVENT_DTYPE (one row per event, the layout of the C struct the
Cython normalisers fill), in batches, so nothing per event is a Python object on the hot path.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Iterator, NamedTuple

import numpy as np

from ordex.ext.itch_levels import ASK, BID, EVENT_DTYPE, Flag, Kind, Status

__all__ = ["ASK", "BID", "EVENT_DTYPE", "Flag", "Kind", "Status", "Event", "Instrument",
           "Instruments", "Counters", "events_of", "format_fixed"]

log = logging.getLogger("ordex.feeds")


class Event(NamedTuple):
    """One row of an event array as Python values (for tests, tools and small consumers)."""
    ts_ns: int
    recv_ns: int
    seq: int
    price: int
    qty: int
    price2: int
    qty2: int
    ref: int
    instrument: int
    kind: int
    side: int
    action: int
    flags: int


def events_of(batch: np.ndarray) -> Iterator[Event]:
    for row in batch.tolist():
        yield Event(*row)


@dataclass(frozen=True)
class Instrument:
    id: int
    symbol: str
    price_decimals: int   # prices are int64 counts of 10**-price_decimals
    qty_decimals: int


def format_fixed(value: int, decimals: int) -> str:
    """Fixed point back to decimal text, exactly (for display and CSV, never for arithmetic)."""
    if decimals == 0:
        return str(value)
    sign = "-" if value < 0 else ""
    digits = str(abs(value)).rjust(decimals + 1, "0")
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}"


class Instruments:
    """Symbol <-> small integer id, with each instrument's fixed-point scale.

    Ids are per replay (per source): ITCH uses its stock locate codes, JSON and tick sources
    number symbols in order of appearance.  `scales` overrides the default decimals per symbol.
    """

    def __init__(self, price_decimals: int = 8, qty_decimals: int = 8,
                 scales: dict[str, tuple[int, int]] | None = None):
        self.default = (price_decimals, qty_decimals)
        self.scales = dict(scales or {})
        self._by_symbol: dict[str, Instrument] = {}
        self._by_id: dict[int, Instrument] = {}

    def add(self, symbol: str, id: int | None = None,
            decimals: tuple[int, int] | None = None) -> Instrument:
        if symbol in self._by_symbol:
            return self._by_symbol[symbol]
        if id is None:
            id = len(self._by_id)
            while id in self._by_id:
                id += 1
        elif id in self._by_id:
            raise ValueError(f"instrument id {id} already names {self._by_id[id].symbol!r}")
        p, q = decimals or self.scales.get(symbol, self.default)
        inst = Instrument(id, symbol, p, q)
        self._by_symbol[symbol] = inst
        self._by_id[id] = inst
        return inst

    def get(self, key: str | int) -> Instrument | None:
        return self._by_id.get(key) if isinstance(key, int) else self._by_symbol.get(key)

    def __getitem__(self, key: str | int) -> Instrument:
        inst = self.get(key)
        if inst is None:
            raise KeyError(f"unknown instrument {key!r}")
        return inst

    def __iter__(self) -> Iterator[Instrument]:
        return iter(sorted(self._by_id.values(), key=lambda i: i.id))

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, key: str | int) -> bool:
        return self.get(key) is not None


class Counters:
    """Filter and error counters by reason, each logged the first few times with its detail.

    The counts are the record; the log shows examples without flooding (bounded per reason).
    """

    def __init__(self, source: str, log_first: int = 3):
        self.source = source
        self.log_first = log_first
        self.counts: Counter[str] = Counter()

    def hit(self, reason: str, detail: str = "", n: int = 1) -> None:
        self.counts[reason] += n
        if self.counts[reason] - n < self.log_first:
            log.warning("%s: %s%s", self.source, reason, f" ({detail})" if detail else "")

    def merge(self, counts: dict[str, int], prefix: str = "") -> None:
        for reason, n in counts.items():
            if n:
                self.hit(prefix + reason, "counted in the compiled normaliser", n)

    def __getitem__(self, reason: str) -> int:
        return self.counts[reason]

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))

"""OHLCV bars from normalised trades (1 s, 1 min, 1 h), written to Parquet.

Which trades count: printable trades in band.  Trades flagged F_NON_PRINTABLE (ITCH executions
with printable = N) or F_OUT_OF_BAND (suspected bad prints) are left out.  A bar covers
[start_ns, start_ns + interval) of exchange time; open/close are the first/last trade in
arrival order.  A trade for a bar that is already finished (its instrument has moved on to a
later bar) is counted as late_trade and left out, so each bar is written once.
"""
from __future__ import annotations

import os
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ordex.feeds.model import Flag, Instrument, Kind

INTERVALS_NS = {"1s": 1_000_000_000, "1m": 60_000_000_000, "1h": 3_600_000_000_000}
BAR_DTYPE = np.dtype([("instrument", "<i4"), ("start_ns", "<i8"), ("open", "<i8"), ("high", "<i8"),
                      ("low", "<i8"), ("close", "<i8"), ("volume", "<i8"), ("trades", "<i8")])
_EXCLUDE = int(Flag.F_NON_PRINTABLE | Flag.F_OUT_OF_BAND)


def _group_bars(ins: np.ndarray, bucket: np.ndarray, px: np.ndarray, qty: np.ndarray,
                interval: int) -> np.ndarray:
    """Bars of trades already in (instrument, bucket, arrival) order."""
    brk = np.flatnonzero(np.r_[True, (ins[1:] != ins[:-1]) | (bucket[1:] != bucket[:-1])])
    out = np.empty(len(brk), dtype=BAR_DTYPE)
    last = np.r_[brk[1:], len(ins)] - 1
    out["instrument"] = ins[brk]
    out["start_ns"] = bucket[brk] * interval
    out["open"] = px[brk]
    out["close"] = px[last]
    out["high"] = np.maximum.reduceat(px, brk)
    out["low"] = np.minimum.reduceat(px, brk)
    out["volume"] = np.add.reduceat(qty, brk)
    out["trades"] = np.diff(np.r_[brk, len(ins)])
    return out


class _Interval:
    def __init__(self, name: str, interval: int):
        self.name = name
        self.interval = interval
        self.open: dict[int, np.void] = {}   # instrument -> its unfinished bar
        self.done: list[np.ndarray] = []
        self.done_rows = 0
        self.late = 0

    def add(self, ins: np.ndarray, ts: np.ndarray, px: np.ndarray, qty: np.ndarray) -> None:
        bucket = ts // self.interval
        if self.open:
            late = bucket < self._current(ins)
            if late.any():
                self.late += int(late.sum())
                keep = ~late
                ins, bucket, px, qty = ins[keep], bucket[keep], px[keep], qty[keep]
        if len(ins) == 0:
            return
        order = np.lexsort((bucket, ins))   # stable: arrival order within a bar
        bars = _group_bars(ins[order], bucket[order], px[order], qty[order], self.interval)
        last_of = np.flatnonzero(np.r_[bars["instrument"][1:] != bars["instrument"][:-1], True])
        finished = np.ones(len(bars), dtype=bool)
        finished[last_of] = False
        for j in np.flatnonzero(np.r_[True, bars["instrument"][1:] != bars["instrument"][:-1]]):
            i = int(bars["instrument"][j])
            prev = self.open.get(i)
            if prev is not None and prev["start_ns"] == bars["start_ns"][j]:
                bars["open"][j] = prev["open"]
                bars["high"][j] = max(prev["high"], bars["high"][j])
                bars["low"][j] = min(prev["low"], bars["low"][j])
                bars["volume"][j] += prev["volume"]
                bars["trades"][j] += prev["trades"]
            elif prev is not None:
                self._finish(np.array([prev], dtype=BAR_DTYPE))
        for j in last_of.tolist():
            self.open[int(bars["instrument"][j])] = bars[j].copy()
        if finished.any():
            self._finish(bars[finished])

    def _current(self, ins: np.ndarray) -> np.ndarray:
        ids = np.fromiter(self.open.keys(), dtype=np.int64)
        starts = np.array([b["start_ns"] // self.interval for b in self.open.values()], np.int64)
        order = np.argsort(ids)
        ids, starts = ids[order], starts[order]
        pos = np.clip(np.searchsorted(ids, ins), 0, len(ids) - 1)
        return np.where(ids[pos] == ins, starts[pos], -1)

    def _finish(self, bars: np.ndarray) -> None:
        self.done.append(bars)
        self.done_rows += len(bars)

    def close(self) -> None:
        if self.open:
            self._finish(np.array(list(self.open.values()), dtype=BAR_DTYPE))
            self.open.clear()


class BarBuilder:
    """Builds bars for several intervals.  With `out`, finished bars go to
    OUT/bars_<interval>.parquet in row groups of `flush_rows` (memory stays bounded); without,
    they stay in memory (bars())."""

    def __init__(self, out: str | os.PathLike | None = None, intervals=("1s", "1m", "1h"),
                 flush_rows: int = 100_000):
        unknown = set(intervals) - set(INTERVALS_NS)
        if unknown:
            raise ValueError(f"unknown bar intervals {sorted(unknown)}; "
                             f"known: {list(INTERVALS_NS)}")
        self.out = os.fspath(out) if out is not None else None
        self.flush_rows = flush_rows
        self.intervals = {n: _Interval(n, INTERVALS_NS[n]) for n in intervals}
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._kept: dict[str, list[np.ndarray]] = {n: [] for n in intervals}
        self.rows_written: dict[str, int] = {n: 0 for n in intervals}
        self.files: list[str] = []
        self._instrument: Callable[[int], Instrument] | None = None

    def add(self, batch: np.ndarray, instrument: Callable[[int], Instrument]) -> None:
        self._instrument = instrument
        trades = batch[(batch["kind"] == Kind.TRADE) & ((batch["flags"] & _EXCLUDE) == 0)
                       & (batch["qty"] > 0)]
        if len(trades) == 0:
            return
        ins = trades["instrument"].astype(np.int64)
        for iv in self.intervals.values():
            iv.add(ins, trades["ts_ns"], trades["price"], trades["qty"])
            if iv.done_rows >= self.flush_rows:
                self._drain(iv)

    def _drain(self, iv: _Interval) -> None:
        if not iv.done:
            return
        bars = np.concatenate(iv.done)
        iv.done.clear()
        iv.done_rows = 0
        if self.out is None:
            self._kept[iv.name].append(bars)
            return
        symbols, pdec, qdec = [], [], []
        cache: dict[int, Instrument] = {}
        for i in bars["instrument"].tolist():
            inst = cache.get(i) or cache.setdefault(i, self._instrument(i))
            symbols.append(inst.symbol)
            pdec.append(inst.price_decimals)
            qdec.append(inst.qty_decimals)
        table = pa.table({
            "symbol": pa.array(symbols, pa.string()),
            **{name: bars[name] for name in BAR_DTYPE.names if name != "instrument"},
            "price_decimals": pa.array(pdec, pa.int8()), "qty_decimals": pa.array(qdec, pa.int8()),
        })
        w = self._writers.get(iv.name)
        if w is None:
            os.makedirs(self.out, exist_ok=True)
            path = os.path.join(self.out, f"bars_{iv.name}.parquet")
            w = self._writers[iv.name] = pq.ParquetWriter(path, table.schema, compression="zstd")
            self.files.append(path)
        w.write_table(table)
        self.rows_written[iv.name] += len(bars)

    def close(self) -> None:
        for iv in self.intervals.values():
            iv.close()
            self._drain(iv)
        for w in self._writers.values():
            w.close()
        self._writers.clear()

    def bars(self, interval: str) -> np.ndarray:
        """Finished bars kept in memory (only without `out`), in the order they finished."""
        kept = self._kept[interval]
        return np.concatenate(kept) if kept else np.empty(0, BAR_DTYPE)

    def late_trades(self) -> dict[str, int]:
        return {n: iv.late for n, iv in self.intervals.items() if iv.late}

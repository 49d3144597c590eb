"""Parquet tick store: normalised events partitioned by date and instrument, bounded memory.

Layout (hive-style, so pyarrow.dataset / DuckDB / pandas read it with the partition columns):
    ROOT/date=YYYY-MM-DD/instrument=SYMBOL/part-NNNNN.parquet
Each file holds EVENT_DTYPE's columns except `instrument`; its schema metadata records the
symbol and the price/quantity decimals, so the fixed-point integers can be read back exactly.
The date is the calendar date of the exchange timestamp in the store's time zone (UTC unless
set: ITCH sessions use the venue's, so that a trading day is one partition).

Memory: events wait in per-partition buffers until `max_rows` are buffered in total; then the
largest buffers are written out as row groups.  At most `max_open` files are open; closing one
(least recently used) finishes it, and later rows of that partition start a new part file.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import zoneinfo
from collections import OrderedDict
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ordex.feeds.model import EVENT_DTYPE, Instrument

DAY_NS = 86_400 * 1_000_000_000
_COLUMNS = [name for name in EVENT_DTYPE.names if name != "instrument"]
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


def _safe(symbol: str) -> str:
    return _UNSAFE.sub("_", symbol) or "_"


def day_index(ts_ns: np.ndarray, tz: str = "UTC") -> np.ndarray:
    """Local calendar day number (days since 1970-01-01) of each timestamp in zone `tz`."""
    if tz == "UTC" or len(ts_ns) == 0:
        return ts_ns // DAY_NS
    zone = zoneinfo.ZoneInfo(tz)

    def offset_ns(t: int) -> int:
        when = dt.datetime.fromtimestamp(t / 1e9, zone)  # float only to find the zone's offset
        return int(when.utcoffset().total_seconds()) * 1_000_000_000

    lo, hi = offset_ns(int(ts_ns.min())), offset_ns(int(ts_ns.max()))
    if lo == hi:
        return (ts_ns + lo) // DAY_NS
    # A daylight-saving change inside the batch: offsets per hour.
    hours = ts_ns // 3_600_000_000_000
    uniq, inv = np.unique(hours, return_inverse=True)
    offs = np.array([offset_ns(int(h) * 3_600_000_000_000) for h in uniq], dtype=np.int64)
    return (ts_ns + offs[inv]) // DAY_NS


class TickStore:
    def __init__(self, root: str | os.PathLike, *, tz: str = "UTC", max_rows: int = 1_000_000,
                 max_open: int = 64, source: str = ""):
        if max_rows < 1 or max_open < 1:
            raise ValueError("max_rows and max_open must be >= 1")
        self.root = os.fspath(root)
        self.tz = tz
        self.max_rows = max_rows
        self.max_open = max_open
        self.source = source
        self._buffers: dict[tuple[int, int], list[np.ndarray]] = {}
        self._buffered: dict[tuple[int, int], int] = {}
        self._total = 0
        self._writers: OrderedDict[tuple[int, int], pq.ParquetWriter] = OrderedDict()
        self._parts: dict[tuple[int, int], int] = {}
        self._inst: dict[tuple[int, int], Instrument] = {}
        self.rows_written = 0
        self.files: list[str] = []
        self.peak_buffered = 0

    def write(self, batch: np.ndarray, instrument: Callable[[int], Instrument]) -> None:
        """Add a batch of events; `instrument(id)` names each instrument id."""
        if len(batch) == 0:
            return
        days = day_index(batch["ts_ns"], self.tz)
        key = days.astype(np.int64) * (1 << 32) + batch["instrument"].astype(np.int64)
        order = np.argsort(key, kind="stable")
        sorted_keys = key[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        ends = np.r_[starts[1:], len(order)]
        for s, e in zip(starts.tolist(), ends.tolist()):
            k = int(sorted_keys[s])
            part = (k >> 32, k & 0xFFFFFFFF)
            if part not in self._inst:
                self._inst[part] = instrument(part[1])
            rows = batch[order[s:e]]
            self._buffers.setdefault(part, []).append(rows)
            self._buffered[part] = self._buffered.get(part, 0) + len(rows)
            self._total += len(rows)
        self.peak_buffered = max(self.peak_buffered, self._total)
        if self._total > self.max_rows:
            for part in sorted(self._buffered, key=self._buffered.__getitem__, reverse=True):
                self._flush(part)
                if self._total <= self.max_rows // 2:
                    break

    def _path(self, part: tuple[int, int]) -> str:
        day = dt.date(1970, 1, 1) + dt.timedelta(days=part[0])
        folder = os.path.join(self.root, f"date={day.isoformat()}",
                              f"instrument={_safe(self._inst[part].symbol)}")
        os.makedirs(folder, exist_ok=True)
        n = self._parts.get(part, 0)
        while os.path.exists(os.path.join(folder, f"part-{n:05d}.parquet")):
            n += 1
        self._parts[part] = n + 1
        return os.path.join(folder, f"part-{n:05d}.parquet")

    def _writer(self, part: tuple[int, int], schema: pa.Schema) -> pq.ParquetWriter:
        w = self._writers.get(part)
        if w is not None:
            self._writers.move_to_end(part)
            return w
        while len(self._writers) >= self.max_open:
            _, old = self._writers.popitem(last=False)
            old.close()
        path = self._path(part)
        w = pq.ParquetWriter(path, schema, compression="zstd")
        self._writers[part] = w
        self.files.append(path)
        return w

    def _flush(self, part: tuple[int, int]) -> None:
        chunks = self._buffers.pop(part, None)
        if not chunks:
            return
        rows = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
        self._total -= self._buffered.pop(part)
        inst = self._inst[part]
        table = pa.table({name: rows[name] for name in _COLUMNS})
        table = table.replace_schema_metadata({
            "symbol": inst.symbol, "price_decimals": str(inst.price_decimals),
            "qty_decimals": str(inst.qty_decimals), "source": self.source,
        })
        self._writer(part, table.schema).write_table(table)
        self.rows_written += len(rows)

    def close(self) -> None:
        for part in list(self._buffers):
            self._flush(part)
        for w in self._writers.values():
            w.close()
        self._writers.clear()

    def __enter__(self) -> "TickStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_store(root: str | os.PathLike, symbol: str | None = None) -> pa.Table:
    """The stored events (optionally of one symbol) as one table, with date and instrument."""
    import pyarrow.dataset as ds
    dataset = ds.dataset(os.fspath(root), format="parquet", partitioning="hive")
    flt = ds.field("instrument") == _safe(symbol) if symbol is not None else None
    return dataset.to_table(filter=flt)

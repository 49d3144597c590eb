"""Quote and trade ticks from CSV or Parquet files, with a mapping from our field names to the
file's column names.

Fields (all optional but `ts`; a row is a quote when it has bid or ask, else a trade, unless a
`kind` column says "trade"/"quote"):
    ts          exchange time: ISO-8601 text, or a number in `ts_unit` (ns, us, ms, s; decimals ok)
    recv_ts     receive time, same forms (default: ts)
    symbol      instrument (default: the `symbol` argument)
    kind        trade | quote (also t / q, case-insensitive)
    price, qty, side (buy/sell/b/s/1/-1), trade_id            trades
    bid, bid_qty, ask, ask_qty                               quotes
    seq         venue sequence number, per symbol
Prices and quantities are read as text and parsed straight to fixed point at the instrument's
decimals (CSV columns are never converted to float; Parquet float columns go through their
shortest round-trip decimal text).  Bad rows are counted by reason and skipped.
"""
from __future__ import annotations

import decimal
import os
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ordex.ext.itch_levels import EventBuffer, Flag, Kind, parse_decimal, parse_iso8601
from ordex.feeds.model import Counters, Instruments

FIELDS = ("ts", "recv_ts", "symbol", "kind", "price", "qty", "side", "trade_id", "bid", "bid_qty",
          "ask", "ask_qty", "seq")
_TS_DECIMALS = {"ns": 0, "us": 3, "ms": 6, "s": 9}
_SIDES = {"buy": 1, "b": 1, "1": 1, "+1": 1, "bid": 1, "sell": -1, "s": -1, "-1": -1, "ask": -1,
          "": 0}


@dataclass
class TickSpec:
    mapping: dict[str, str] = field(default_factory=dict)   # our field -> file column
    ts_unit: str = "ns"
    symbol: str | None = None

    def __post_init__(self):
        unknown = set(self.mapping) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown tick fields {sorted(unknown)}; known: {', '.join(FIELDS)}")
        if self.ts_unit not in _TS_DECIMALS:
            raise ValueError(f"ts_unit must be one of {sorted(_TS_DECIMALS)}, got {self.ts_unit!r}")

    def column(self, name: str) -> str:
        return self.mapping.get(name, name)

    @classmethod
    def parse_mapping(cls, text: str, **kw) -> "TickSpec":
        """'ts=time,price=px' -> TickSpec."""
        mapping = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            ours, sep, theirs = part.partition("=")
            if not sep or not ours or not theirs:
                raise ValueError(f"column mapping {part!r}: expected FIELD=COLUMN")
            mapping[ours.strip()] = theirs.strip()
        return cls(mapping, **kw)


def _text(v) -> str | None:
    """A cell as decimal text: floats through their shortest round-trip form, never arithmetic."""
    if v is None:
        return None
    if isinstance(v, str):
        return v.strip()
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return "nan"
        return format(decimal.Decimal(repr(v)), "f")
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    return str(v)


class TickNormaliser:
    """Record batches (pyarrow) in, normalised events out."""

    def __init__(self, spec: TickSpec, instruments: Instruments | None = None,
                 counters: Counters | None = None, name: str = "ticks"):
        self.spec = spec
        self.instruments = instruments if instruments is not None else Instruments(8, 8)
        self.counters = counters if counters is not None else Counters(name)
        self.events = EventBuffer(4096)
        self.rows = 0
        self.kinds = {"trade": 0, "quote": 0}
        self._last_seq: dict[int, int] = {}
        self._last_ts: dict[int, int] = {}
        self._last_row: dict[int, tuple] = {}
        self._tops: dict[int, tuple] = {}
        self._native: set[str] = set()

    def _ts(self, v, what: str, native_ns: bool) -> int:
        if native_ns:   # the column had a timestamp type: already int ns
            return int(v)
        if isinstance(v, int) and not isinstance(v, bool):
            return v * 10 ** _TS_DECIMALS[self.spec.ts_unit]
        text = _text(v)
        if not text:
            raise ValueError(f"{what} missing")
        if "T" in text or "-" in text[1:]:
            return parse_iso8601(text if text[-1] == "Z" or "+" in text[19:] else text + "Z")
        return parse_decimal(text, _TS_DECIMALS[self.spec.ts_unit])

    def feed_batch(self, batch: pa.RecordBatch) -> np.ndarray:
        spec = self.spec
        cols = {}
        self._native = set()
        for name in FIELDS:
            col = spec.column(name)
            if col in batch.schema.names:
                arr = batch.column(col)
                if pa.types.is_timestamp(arr.type):
                    arr = arr.cast(pa.timestamp("ns")).cast(pa.int64())
                    self._native.add(name)
                cols[name] = arr.to_pylist()
        if "ts" not in cols:
            raise ValueError(f"no timestamp column {spec.column('ts')!r} in {batch.schema.names}")
        n = batch.num_rows
        none = [None] * n
        get = lambda k: cols.get(k, none)  # noqa: E731
        rows = zip(get("ts"), get("recv_ts"), get("symbol"), get("kind"), get("price"), get("qty"),
                   get("side"), get("trade_id"), get("bid"), get("bid_qty"), get("ask"),
                   get("ask_qty"), get("seq"))
        for row in rows:
            self.rows += 1
            try:
                self._row(row)
            except (ValueError, TypeError, OverflowError) as exc:
                self.counters.hit("bad_row", f"row {self.rows}: {exc}")
        return self.events.take()

    def _row(self, row) -> None:
        ts_v, recv_v, sym, kind, price, qty, side, tid, bid, bidq, ask, askq, seq = row
        symbol = _text(sym) or self.spec.symbol
        if not symbol:
            raise ValueError("no symbol (map a symbol column or pass a default symbol)")
        inst = self.instruments.get(symbol) or self.instruments.add(symbol)
        i = inst.id
        ts = self._ts(ts_v, "ts", "ts" in self._native)
        recv = ts
        if recv_v not in (None, ""):
            recv = self._ts(recv_v, "recv_ts", "recv_ts" in self._native)
        k = (_text(kind) or "").lower()
        has_quote = bid not in (None, "") or ask not in (None, "")
        is_quote = k in ("quote", "q") or (not k and has_quote)
        if k and k not in ("quote", "q", "trade", "t"):
            raise ValueError(f"kind {kind!r} is neither trade nor quote")
        key = (ts, is_quote, price, qty, side, tid, bid, bidq, ask, askq, seq)
        if seq not in (None, ""):
            s = int(_text(seq))
            last = self._last_seq.get(i)
            if last is not None:
                if s == last:
                    self.counters.hit("duplicate", f"{symbol} seq {s}")
                    return
                if s < last:
                    self.counters.hit("out_of_order", f"{symbol} seq {s} after {last}")
                    return
                if s > last + 1:
                    self.counters.hit("gap", f"{symbol} seq {last + 1}..{s - 1}", s - last - 1)
            self._last_seq[i] = s
        else:
            s = self.rows
            if self._last_row.get(i) == key:
                self.counters.hit("duplicate", f"{symbol} row {self.rows} repeats the previous")
                return
        self._last_row[i] = key
        if ts < self._last_ts.get(i, ts):
            self.counters.hit("ts_backwards", f"{symbol} row {self.rows}")
        self._last_ts[i] = max(ts, self._last_ts.get(i, ts))
        if is_quote:
            self._quote(inst, ts, recv, s, bid, bidq, ask, askq)
        else:
            self._trade(inst, ts, recv, s, price, qty, side, tid)

    def _trade(self, inst, ts, recv, seq, price, qty, side, tid) -> None:
        px = parse_decimal(_text(price), inst.price_decimals)
        q = parse_decimal(_text(qty), inst.qty_decimals)
        if px <= 0:
            self.counters.hit("non_positive_price", f"{inst.symbol} {price}")
            return
        if q <= 0:
            self.counters.hit("non_positive_size", f"{inst.symbol} {qty}")
            return
        sd = _SIDES.get((_text(side) or "").lower())
        if sd is None:
            raise ValueError(f"side {side!r}")
        tid_text = _text(tid) or ""
        ref = int(tid_text) if tid_text.lstrip("-").isdigit() else 0
        self.kinds["trade"] += 1
        self.events.append(instrument=inst.id, kind=Kind.TRADE, ts_ns=ts, recv_ns=recv, seq=seq,
                           side=sd, price=px, qty=q, ref=ref, action=ord("T"))

    def _quote(self, inst, ts, recv, seq, bid, bidq, ask, askq) -> None:
        vals = []
        for v, dec in ((bid, inst.price_decimals), (bidq, inst.qty_decimals),
                       (ask, inst.price_decimals), (askq, inst.qty_decimals)):
            t = _text(v)
            vals.append(parse_decimal(t, dec) if t else 0)
        b, bq, a, aq = vals
        if b < 0 or a < 0:
            self.counters.hit("non_positive_price", f"{inst.symbol} {bid}/{ask}")
            return
        if bq < 0 or aq < 0:
            self.counters.hit("non_positive_size", f"{inst.symbol} {bidq}/{askq}")
            return
        flags = Flag.F_VENUE
        if b and a and b >= a:
            self.counters.hit("locked" if b == a else "crossed", f"{inst.symbol} {bid}/{ask}")
            flags |= Flag.F_CROSSED
        self.kinds["quote"] += 1
        self._tops[inst.id] = (b, bq, a, aq)
        self.events.append(instrument=inst.id, kind=Kind.QUOTE, ts_ns=ts, recv_ns=recv, seq=seq,
                           price=b, qty=bq, price2=a, qty2=aq, action=ord("Q"), flags=flags)

    def tops(self) -> dict[int, tuple]:
        return dict(self._tops)


def _bad_csv_row(counters: Counters) -> Callable:
    def handler(row) -> str:
        where = f"line {row.number}: " if row.number is not None else ""
        counters.hit("garbage_line", f"{where}{row.text[:60]!r}")
        return "skip"
    return handler


def read_ticks(path: str | os.PathLike, normaliser: TickNormaliser, fmt: str | None = None,
               progress: Callable[[int], None] | None = None,
               batch_rows: int = 65536) -> Iterator[np.ndarray]:
    """Event batches of a CSV (optionally gzipped) or Parquet tick file, read in bounded chunks
    of at most batch_rows rows."""
    path = os.fspath(path)
    fmt = fmt or ("parquet" if path.endswith(".parquet") else "csv")
    if fmt == "parquet":
        pf = pq.ParquetFile(path)
        done = 0
        for batch in pf.iter_batches(batch_size=batch_rows):
            yield normaliser.feed_batch(batch)
            done += batch.num_rows
            if progress is not None:
                progress(int(os.path.getsize(path) * done / max(1, pf.metadata.num_rows)))
        return
    as_text = {normaliser.spec.column(f): pa.string() for f in FIELDS}
    with open(path, "rb") as raw:
        # pyarrow decompresses by file name; progress then follows the compressed bytes read.
        reader = pacsv.open_csv(
            path if path.endswith(".gz") else raw,
            read_options=pacsv.ReadOptions(block_size=1 << 20),
            parse_options=pacsv.ParseOptions(invalid_row_handler=_bad_csv_row(normaliser.counters)),
            convert_options=pacsv.ConvertOptions(column_types=as_text, strings_can_be_null=True))
        for batch in reader:
            # A 1 MiB CSV block can hold far more rows than a caller wants per step.
            for start in range(0, batch.num_rows, batch_rows):
                yield normaliser.feed_batch(batch.slice(start, batch_rows))
            if progress is not None:
                progress(raw.tell())

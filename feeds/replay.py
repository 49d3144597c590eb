"""Replay a recorded source end to end: normalise, filter, keep reference prices, store ticks and
bars, and summarise.  `ordex feeds replay` is a thin shell over replay()."""
from __future__ import annotations

import datetime as dt
import glob
import os
import re
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from ordex.ext.itch import MESSAGE_SIZES
from ordex.feeds.bars import BarBuilder
from ordex.feeds.binance import BinanceNormaliser
from ordex.feeds.coinbase import CoinbaseNormaliser
from ordex.feeds.itch import ItchSource, open_binary, read_itch, session_midnight_ns
from ordex.feeds.model import Instrument, Instruments, Kind, format_fixed
from ordex.feeds.recording import merge_by_time, read_records
from ordex.feeds.reference import ReferencePrices
from ordex.feeds.store import TickStore
from ordex.feeds.ticks import TickNormaliser, TickSpec, read_ticks

FORMATS = ("itch", "coinbase", "binance", "csv", "parquet")
# Receive minus exchange time above which data counts as stale, per source (ms).  A file of ITCH
# has no receive times; the JSON recordings do (and their clocks differ by a few ms).
DEFAULT_STALE_MS = {"itch": 1000, "coinbase": 2000, "binance": 2000, "csv": 0, "parquet": 0}
DEFAULT_BAND_BPS = 1000
FLUSH_EVENTS = 8192


class FormatError(ValueError):
    """The source's format cannot be determined or does not match its contents."""


def detect_format(path: str) -> str:
    if path.endswith(".parquet"):
        return "parquet"
    if path.endswith((".csv", ".csv.gz")):
        return "csv"
    if os.path.isdir(path):
        logs = glob.glob(os.path.join(path, "*.log"))
        if not logs:
            raise FormatError(f"{path}: a folder without *.log recordings: pass --format")
        return detect_format(sorted(logs)[0])
    with open_binary(path) as f:
        head = f.read(4096)
    if len(head) >= 3 and head[0] == 0 and MESSAGE_SIZES.get(head[2:3]) == head[1]:
        return "itch"
    text = head.decode("utf-8", "replace").lower()
    for name in ("coinbase", "binance"):
        if name in text:
            return name
    if '"type":"l2update"' in text.replace(" ", "") or '"type":"snapshot"' in text.replace(" ", ""):
        return "coinbase"
    if '"e":"depthupdate"' in text.replace(" ", ""):
        return "binance"
    raise FormatError(f"{path}: cannot tell the format from its contents: pass --format "
                      f"({'|'.join(FORMATS)})")


def _session_date(path: str) -> dt.date | None:
    m = re.search(r"(19|20)\d{6}", os.path.basename(path))
    if m:
        try:
            return dt.datetime.strptime(m.group(0), "%Y%m%d").date()
        except ValueError:
            return None
    return None


@dataclass
class ReplaySummary:
    source: str
    format: str
    bytes: int = 0
    elapsed_s: float = 0.0
    messages: dict[str, int] = field(default_factory=dict)   # per venue message type
    events: dict[str, int] = field(default_factory=dict)     # per normalised kind
    reasons: dict[str, int] = field(default_factory=dict)    # filters and errors, by reason
    tops: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)
    references: dict[str, tuple[str, int]] = field(default_factory=dict)
    bbo: dict[str, dict] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return self.__dict__.copy()


class Progress:
    """A one-line progress bar on a stream, redrawn at most 10 times a second."""

    def __init__(self, total: int, stream, width: int = 30):
        self.total = max(1, total)
        self.stream = stream
        self.width = width
        self.events = 0
        self._last = 0.0
        self._done = 0

    def update(self, done: int) -> None:
        self._done = done
        now = time.monotonic()
        if now - self._last >= 0.1:
            self._last = now
            self.draw()

    def draw(self) -> None:
        frac = min(1.0, self._done / self.total)
        bar = "#" * int(frac * self.width)
        self.stream.write(f"\r[{bar.ljust(self.width, '.')}] {frac:6.1%} "
                          f"{self._done / 1e6:8.1f} MB {self.events:,} events")
        self.stream.flush()

    def finish(self) -> None:
        self._done = self.total
        self.draw()
        self.stream.write("\n")
        self.stream.flush()


class _Source:
    """What replay() needs from a source."""
    format = ""
    store_tz = "UTC"

    def batches(self, progress: Callable[[int], None] | None) -> Iterator[np.ndarray]: ...
    def instrument(self, id: int) -> Instrument: ...
    def messages(self) -> dict[str, int]: ...
    def reasons(self) -> dict[str, int]: ...
    def tops(self) -> dict[int, tuple]: ...
    def bbo(self) -> dict[str, dict]:
        return {}


class _ItchSource(_Source):
    format = "itch"
    store_tz = "America/New_York"

    def __init__(self, path: str, date: dt.date | None, notes: list[str]):
        date = date or _session_date(path)
        if date is None:
            notes.append("no session date (--date or YYYYMMDD in the file name): "
                         "timestamps count from 1970-01-01 midnight New York time")
            date = dt.date(1970, 1, 1)
        self.path = path
        self.src = ItchSource(session_midnight_ns(date))

    def batches(self, progress):
        return read_itch(self.path, self.src, progress)

    def instrument(self, id: int) -> Instrument:
        return self.src.instrument(id)

    def messages(self):
        return self.src.counts()

    def reasons(self):
        return self.src.reasons()

    def tops(self):
        levels = self.src.book.levels
        return {i: levels.top(i) for i in levels.instruments()}


class _JsonSource(_Source):
    def __init__(self, normaliser, records: Iterator):
        self.n = normaliser
        self.records = records

    def batches(self, progress):
        n = self.n
        feed = n.feed_line
        for rec in self.records(progress):
            if rec.url:
                feed(rec.payload, rec.recv_ns, rec.url)
            else:
                feed(rec.payload, rec.recv_ns)
            if n.pending() >= FLUSH_EVENTS:
                yield n.take()
        yield n.take()

    def instrument(self, id: int) -> Instrument:
        return self.n.instruments[id]

    def messages(self):
        return dict(self.n.types)

    def reasons(self):
        return self.n.reasons()

    def tops(self):
        levels = self.n.books.levels
        return {i: levels.top(i) for i in levels.instruments()}

    def bbo(self):
        return {s: c.__dict__.copy() for s, c in self.n.bbo_checks().items()
                if c.checked or c.skipped}


class _TickSource(_Source):
    def __init__(self, path: str, fmt: str, spec: TickSpec, instruments: Instruments):
        self.format = fmt
        self.path = path
        self.n = TickNormaliser(spec, instruments, name=fmt)

    def batches(self, progress):
        return read_ticks(self.path, self.n, self.format, progress)

    def instrument(self, id: int) -> Instrument:
        return self.n.instruments[id]

    def messages(self):
        return {"rows": self.n.rows, **self.n.kinds}

    def reasons(self):
        return self.n.counters.as_dict()

    def tops(self):
        return self.n.tops()


def _binance_files(path: str, snapshots: str | None, notes: list[str]) -> tuple[str, list[str]]:
    folder = path if os.path.isdir(path) else os.path.dirname(path) or "."
    if os.path.isdir(path):
        ws = sorted(p for p in glob.glob(os.path.join(path, "*.log"))
                    if not p.endswith(".http.log"))
        if len(ws) != 1:
            raise FormatError(f"{path}: expected one websocket recording (*.log), found {len(ws)}")
        path = ws[0]
    if snapshots:
        snaps = [snapshots]
    else:
        snaps = sorted(glob.glob(os.path.join(folder, "*.http.log")))
        if snaps:
            notes.append(f"depth snapshots from {', '.join(snaps)}")
        else:
            notes.append("no REST depth snapshots (--snapshots): books stay unsynchronised")
    return path, snaps


def open_source(path: str, fmt: str | None, *, snapshots: str | None = None,
                date: dt.date | None = None, instruments: Instruments | None = None,
                spec: TickSpec | None = None, notes: list[str] | None = None) -> _Source:
    notes = notes if notes is not None else []
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise FormatError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    instruments = instruments if instruments is not None else Instruments(8, 8)
    if fmt == "itch":
        return _ItchSource(path, date, notes)
    if fmt == "coinbase":
        n = CoinbaseNormaliser(instruments)
        src = _JsonSource(n, lambda progress: read_records(path, n.counters, progress))
        src.format = fmt
        return src
    if fmt == "binance":
        ws, snaps = _binance_files(path, snapshots, notes)
        n = BinanceNormaliser(instruments)

        def records(progress):
            streams = [read_records(ws, n.counters, progress)]
            streams += [read_records(s, n.counters) for s in snaps]
            return merge_by_time(*streams)

        src = _JsonSource(n, records)
        src.format = fmt
        return src
    return _TickSource(path, fmt, spec or TickSpec(), instruments)


def replay(path: str, fmt: str | None = None, out: str | None = None, *,
           snapshots: str | None = None, date: dt.date | None = None,
           instruments: Instruments | None = None, spec: TickSpec | None = None,
           stale_ms: int | None = None, band_bps: int = DEFAULT_BAND_BPS,
           bars: bool = True, progress: Progress | None = None,
           references: ReferencePrices | None = None,
           on_batch: Callable[[np.ndarray], None] | None = None) -> ReplaySummary:
    notes: list[str] = []
    src = open_source(path, fmt, snapshots=snapshots, date=date, instruments=instruments,
                      spec=spec, notes=notes)
    fmt = src.format
    stale = DEFAULT_STALE_MS[fmt] if stale_ms is None else stale_ms
    refs = references or ReferencePrices(stale_ns=stale * 1_000_000, band_bps=band_bps)
    refs.bind(src.instrument)
    store = TickStore(os.path.join(out, "ticks"), tz=src.store_tz, source=fmt) if out else None
    bar = BarBuilder(os.path.join(out, "bars")) if out and bars else None
    kinds = np.zeros(256, dtype=np.int64)
    size = os.path.getsize(path) if os.path.isfile(path) else 0
    start = time.perf_counter()
    tick = progress.update if progress is not None else None
    try:
        for batch in src.batches(tick):
            if len(batch) == 0:
                continue
            refs.process(batch)
            kinds += np.bincount(batch["kind"], minlength=256)
            if store is not None:
                store.write(batch, src.instrument)
            if bar is not None:
                bar.add(batch, src.instrument)
            if on_batch is not None:
                on_batch(batch)
            if progress is not None:
                progress.events += len(batch)
    finally:
        if store is not None:
            store.close()
        if bar is not None:
            bar.close()
    if progress is not None:
        progress.finish()
    summary = ReplaySummary(path, fmt, bytes=size, elapsed_s=time.perf_counter() - start,
                            notes=notes)
    summary.messages = dict(sorted(src.messages().items()))
    summary.events = {k.name.lower(): int(kinds[k]) for k in Kind if kinds[k]}
    reasons = dict(src.reasons())
    for k, v in refs.reasons().items():
        reasons[k] = reasons.get(k, 0) + v
    if bar is not None:
        for k, v in bar.late_trades().items():
            reasons[f"late_trade_{k}"] = v
    summary.reasons = dict(sorted(reasons.items()))
    for i, (b, bq, a, aq) in sorted(src.tops().items()):
        inst = src.instrument(i)
        p, q = inst.price_decimals, inst.qty_decimals
        summary.tops[inst.symbol] = (format_fixed(b, p) if b else "-", format_fixed(bq, q),
                                     format_fixed(a, p) if a else "-", format_fixed(aq, q))
    for symbol, ref in refs.snapshot().items():
        summary.references[symbol] = (format_fixed(ref.price, ref.price_decimals), ref.ts_ns)
    summary.bbo = src.bbo()
    if store is not None:
        summary.files += store.files
    if bar is not None:
        summary.files += bar.files
    return summary

"""Market data into the engine: every `[[feed]]` is read, normalised and filtered by ordex.feeds,
and its reference prices become REFERENCE_PRICE commands.

They go through Server.submit(), sequenced and journaled like orders, because the engine's state
must be a function of its journal (DESIGN invariant 1): replaying the journal reproduces every
collar without the feed, and the engine never reads a feed or a clock.

Per feed:
  * the source is read on the server's loop without blocking it: files in steps of chunk_kb with
    a yield to the loop after each; TCP streams through asyncio (ITCH bare or inside SoupBinTCP;
    JSON lines in the shapes of feeds/recording, receive time = arrival when a line has none;
    Binance depth snapshots come in the same stream as `URL -> TIME: {...}` lines);
  * ReferencePrices drops stale and out-of-band data; the mark (or last / mid) of each mapped
    symbol is converted exactly to the instrument's price increments (off_tick: nearest / reject);
  * coalescing: only a price that differs from the last one sent, at most one per instrument per
    min_interval_ms; the newest pending price goes once its interval has passed.  A price that
    stays put would age in the engine until market orders find no fresh reference
    (ref_max_age_s): with refresh_ms, an unchanged price is sent again once it is that old, but
    only while the source is being read (a feed that ended or lost its connection says nothing
    about the price now);
  * a failure (file missing or damaged, connection refused or lost, login rejected, a line too
    long, a normaliser error) is logged with its reason and counted, then retried after retry_ms
    (up to max_retries failures in a row; 0: forever) or the feed stops (on_failure = "stop").
    A file is never read twice once data came from it (its old prices would be sent again): a
    failure part-way through stops that feed.  The end of a file, or of a SoupBinTCP session, is
    a feed that finished.  Nothing here can stop the server.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import logging
import time
import zlib
import zoneinfo
from collections import Counter
from fractions import Fraction

import numpy as np

from ordex.core.commands import ADMIN_SESSION, COMMAND_DTYPE, CommandKind
from ordex.gateway.config import Config, FeedConfig
from ordex.gateway.server import NotAccepting

log = logging.getLogger("ordex.feed")

ITCH_TZ = "America/New_York"
TCP_READ = 1 << 16
TICK_ROWS = 4096                 # CSV/Parquet rows normalised per loop step
RETRY_NOT_ACCEPTING_S = 1.0      # a refused submit is tried again this much later


class FeedFailure(Exception):
    """A source cannot go on; `reason` is the short label counted in metrics."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


# -- sources: bytes or rows in, normalised event batches to on_batch ----------------------------
class _Source:
    received = 0          # bytes (files, streams) or rows taken in by this attempt

    def __init__(self, cfg: FeedConfig):
        self.cfg = cfg

    async def run(self, on_batch) -> None:
        """Until the data ends (return) or cannot go on (FeedFailure)."""
        raise NotImplementedError

    def close(self) -> None:
        pass


def _file_failure(path, exc: BaseException, reading: bool) -> FeedFailure:
    if isinstance(exc, (EOFError, zlib.error, gzip.BadGzipFile)):
        return FeedFailure("bad_gzip", f"{path}: gzip stream damaged: {exc}")
    if isinstance(exc, OSError):
        what = "read_failed" if reading else "open_failed"
        return FeedFailure(what, f"{path}: {exc.strerror or exc}")
    return FeedFailure("bad_file", f"{path}: {exc}")


class _ItchSource(_Source):
    def __init__(self, cfg: FeedConfig):
        super().__init__(cfg)
        from ordex.feeds.itch import ItchSource, session_midnight_ns
        from ordex.feeds.replay import _session_date
        date = cfg.date
        if date is None and cfg.path is not None:
            date = _session_date(str(cfg.path))
        if date is None:
            date = dt.datetime.now(zoneinfo.ZoneInfo(ITCH_TZ)).date()
        self.src = ItchSource(session_midnight_ns(date, ITCH_TZ), soup=cfg.soup)
        self.instrument = self.src.instrument
        self.transport = None
        self.rejected: bytes | None = None

    def messages(self) -> dict[str, int]:
        return self.src.counts()

    def reasons(self) -> dict[str, int]:
        return self.src.reasons()

    async def run(self, on_batch) -> None:
        if self.cfg.path is not None:
            await self._file(on_batch)
        else:
            await self._tcp(on_batch)

    async def _file(self, on_batch) -> None:
        from ordex.feeds.itch import open_binary
        path, src = self.cfg.path, self.src
        try:
            f = open_binary(path)
        except OSError as e:
            raise _file_failure(path, e, False) from None
        with f:
            while True:
                try:
                    chunk = f.read1(self.cfg.chunk_bytes)
                except (OSError, EOFError, zlib.error) as e:
                    raise _file_failure(path, e, True) from None
                if not chunk:
                    break
                self.received += len(chunk)
                for batch in src.feed(chunk):
                    on_batch(batch)
                await asyncio.sleep(0)
        for batch in src.finish():
            on_batch(batch)

    async def _tcp(self, on_batch) -> None:
        from ordex.feeds.itch import ItchStreamProtocol, soup_login
        cfg, src = self.cfg, self.src
        host, port = cfg.connect
        login = soup_login(cfg.username, cfg.password, cfg.session) if cfg.soup else None

        def control(packet: bytes) -> None:
            if packet[:1] == b"J":
                self.rejected = packet[1:2]
        src.on_control = control

        def sink(batch) -> None:
            self.received += len(batch)
            on_batch(batch)

        loop = asyncio.get_running_loop()
        try:
            self.transport, protocol = await loop.create_connection(
                lambda: ItchStreamProtocol(src, sink, login), host, port)
        except OSError as e:
            raise FeedFailure("connect_failed", f"{host}:{port}: {e.strerror or e}") from None
        try:
            exc = await protocol.done
        finally:
            self.close()
        if self.rejected is not None:
            raise FeedFailure("login_rejected", f"{host}:{port}: SoupBinTCP login rejected "
                                                f"({self.rejected.decode('ascii', 'replace')})")
        if src.ended:
            return
        raise FeedFailure("disconnected", f"{host}:{port}: {exc or 'closed by the peer'}")

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class _JsonSource(_Source):
    """Coinbase or Binance level 2: a recording (file) or the same lines over TCP."""

    def __init__(self, cfg: FeedConfig):
        super().__init__(cfg)
        from ordex.feeds.binance import BinanceNormaliser
        from ordex.feeds.coinbase import CoinbaseNormaliser
        from ordex.feeds.model import Instruments
        kind = CoinbaseNormaliser if cfg.format == "coinbase" else BinanceNormaliser
        self.n = kind(Instruments(8, 8, cfg.scales))
        self.writer = None

    def instrument(self, id: int):
        return self.n.instruments[id]

    def messages(self) -> dict[str, int]:
        return self.n.types

    def reasons(self) -> dict[str, int]:
        return self.n.reasons()

    def _feed(self, rec, recv_ns: int) -> None:
        if rec.url:
            self.n.feed_line(rec.payload, rec.recv_ns or recv_ns, rec.url)
        else:
            self.n.feed_line(rec.payload, rec.recv_ns or recv_ns)

    async def run(self, on_batch) -> None:
        if self.cfg.path is not None:
            await self._file(on_batch)
        else:
            await self._tcp(on_batch)

    async def _file(self, on_batch) -> None:
        from ordex.feeds.recording import merge_by_time, read_records
        from ordex.feeds.replay import _binance_files
        cfg, n = self.cfg, self.n
        path = str(cfg.path)
        if cfg.format == "binance":
            notes: list[str] = []
            path, snaps = _binance_files(path, str(cfg.snapshots) if cfg.snapshots else None, notes)
            for note in notes:
                log.info("feed %s: %s", cfg.name, note)
            records = merge_by_time(read_records(path, n.counters),
                                    *(read_records(s, n.counters) for s in snaps))
        else:
            records = read_records(path, n.counters)
        step = 0
        try:
            for rec in records:
                self._feed(rec, 0)
                size = len(rec.payload)
                self.received += size
                step += size
                if step >= cfg.chunk_bytes:
                    step = 0
                    on_batch(n.take())
                    await asyncio.sleep(0)
        except (OSError, EOFError, zlib.error) as e:
            raise _file_failure(path, e, self.received > 0) from None
        on_batch(n.take())

    async def _tcp(self, on_batch) -> None:
        from ordex.feeds.recording import parse_line
        cfg, n = self.cfg, self.n
        host, port = cfg.connect
        where = f"{host}:{port}"
        try:
            reader, self.writer = await asyncio.open_connection(host, port)
        except OSError as e:
            raise FeedFailure("connect_failed", f"{where}: {e.strerror or e}") from None
        buf = bytearray()
        lineno = 0
        try:
            while True:
                data = await reader.read(TCP_READ)
                if not data:
                    break
                self.received += len(data)
                recv_ns = time.time_ns()
                buf += data
                end = buf.rfind(b"\n")
                if len(buf) - end - 1 > cfg.max_line_bytes:    # the unfinished last line
                    raise FeedFailure("line_too_long", f"{where}: a line of more than "
                                                       f"{cfg.max_line_bytes} bytes")
                if end < 0:
                    continue
                lines = bytes(buf[:end]).split(b"\n")
                del buf[:end + 1]
                for line in lines:
                    lineno += 1
                    rec = parse_line(line, lineno, n.counters, where)
                    if rec is not None:
                        self._feed(rec, recv_ns)
                on_batch(n.take())
        except ConnectionError as e:
            raise FeedFailure("disconnected", f"{where}: {e}") from None
        finally:
            self.close()
        on_batch(n.take())
        raise FeedFailure("disconnected", f"{where}: closed by the peer")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class _TickSource(_Source):
    def __init__(self, cfg: FeedConfig):
        super().__init__(cfg)
        from ordex.feeds.model import Instruments
        from ordex.feeds.ticks import TickNormaliser, TickSpec
        spec = TickSpec(dict(cfg.columns), cfg.ts_unit, cfg.symbol)
        self.n = TickNormaliser(spec, Instruments(8, 8, cfg.scales), name=f"feed {cfg.name}")

    def instrument(self, id: int):
        return self.n.instruments[id]

    def messages(self) -> dict[str, int]:
        return {k: v for k, v in self.n.kinds.items() if v}

    def reasons(self) -> dict[str, int]:
        return self.n.counters.as_dict()

    async def run(self, on_batch) -> None:
        from ordex.feeds.ticks import read_ticks
        path = self.cfg.path
        try:
            for batch in read_ticks(path, self.n, self.cfg.format, batch_rows=TICK_ROWS):
                self.received = self.n.rows
                on_batch(batch)
                await asyncio.sleep(0)
        except (OSError, EOFError, zlib.error, ValueError) as e:
            # pyarrow's errors for unreadable files (ArrowInvalid) are ValueErrors
            raise _file_failure(path, e, self.received > 0) from None


_SOURCES = {"itch": _ItchSource, "coinbase": _JsonSource, "binance": _JsonSource,
            "csv": _TickSource, "parquet": _TickSource}


# -- one feed -----------------------------------------------------------------------------------
class Feed:
    """One [[feed]]: its source attempts, reference prices, coalescing and counts.  Metrics read
    the counts at scrape time (gateway/metrics.py)."""

    def __init__(self, cfg: FeedConfig, config: Config):
        from ordex.feeds.replay import DEFAULT_STALE_MS
        self.cfg = cfg
        self.name = cfg.name
        self.symbols = cfg.symbols
        self.instruments = {i.id: i for i in config.reference.instruments}
        self.stale_ns = (DEFAULT_STALE_MS[cfg.format] if cfg.stale_ms is None
                         else cfg.stale_ms) * 1_000_000
        self.interval_s = cfg.min_interval_ms / 1000
        self.mark = f"feed:{cfg.name}".encode("ascii")
        self.server = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task | None = None
        self.state = "starting"          # running, retrying, finished, stopped
        self.source: _Source | None = None
        self.refs = None
        self._done_messages: Counter[str] = Counter()   # of attempts that ended
        self._done_reasons: Counter[str] = Counter()
        self.own_reasons: Counter[str] = Counter()      # found here: off_tick, ...
        self.failures: Counter[str] = Counter()
        self.submitted: Counter[int] = Counter()        # engine instrument -> references
        # engine instrument -> (price ticks, sequenced ts_ns, feed ts_ns, loop time sent)
        self.sent: dict[int, tuple[int, int, int, float]] = {}
        self.pending: dict[int, tuple[int, int]] = {}   # instrument -> (ticks, feed ts_ns)
        self._scales: dict[tuple[int, int], tuple[int, int]] = {}
        self._flush_handle: asyncio.Handle | None = None
        self._refresh_handle: asyncio.TimerHandle | None = None
        self._refused = False

    # -- counts, for metrics ----------------------------------------------------------------
    @property
    def up(self) -> bool:
        return self.state == "running"

    def message_counts(self) -> Counter[str]:
        out = Counter(self._done_messages)
        if self.source is not None:
            out.update(self.source.messages())
        return out

    def reason_counts(self) -> Counter[str]:
        out = Counter(self._done_reasons)
        out.update(self.own_reasons)
        if self.source is not None:
            out.update(self.source.reasons())
            out.update(self.refs.reasons())
        return +out

    def symbol(self, instrument: int) -> str:
        return self.instruments[instrument].symbol

    # -- life cycle -------------------------------------------------------------------------
    def start(self, server) -> None:
        self.server = server
        self.loop = server.loop
        self.task = self.loop.create_task(self._run(), name=f"feed {self.name}")
        if self.cfg.refresh_ms:
            self._refresh_handle = self.loop.call_later(self.cfg.refresh_ms / 2000, self._refresh)

    async def stop(self) -> None:
        for handle in (self._flush_handle, self._refresh_handle):
            if handle is not None:
                handle.cancel()
        self._flush_handle = self._refresh_handle = None
        if self.task is not None and not self.task.done():
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
        if self.source is not None:
            self.source.close()

    async def _run(self) -> None:
        from ordex.feeds.reference import ReferencePrices
        cfg = self.cfg
        in_a_row = 0
        while True:
            try:
                self.source = _SOURCES[cfg.format](cfg)
                self.refs = ReferencePrices(stale_ns=self.stale_ns, band_bps=cfg.band_bps)
                self.refs.bind(self.source.instrument)
                self.state = "running"
                await self.source.run(self._on_batch)
            except asyncio.CancelledError:
                self._end_attempt()
                self.state = "stopped"
                raise
            except Exception as e:   # a normaliser defect must not reach the server either
                got_data = self.source is not None and self.source.received > 0
                self._end_attempt()
                if isinstance(e, FeedFailure):
                    failure = e
                else:
                    log.exception("feed %s: unexpected error", self.name)
                    failure = FeedFailure("error", f"{type(e).__name__}: {e}")
                self.failures[failure.reason] += 1
                in_a_row = 1 if got_data else in_a_row + 1
                log.error("feed %s failed: %s", self.name, failure)
                why = None
                if cfg.on_failure == "stop":
                    why = 'on_failure = "stop"'
                elif cfg.path is not None and got_data:
                    why = "a file is not read again once its prices were used"
                elif cfg.max_retries and in_a_row > cfg.max_retries:
                    why = f"{in_a_row} failures in a row (max_retries = {cfg.max_retries})"
                if why is not None:
                    self.state = "stopped"
                    log.error("feed %s stopped: %s", self.name, why)
                    return
                self.state = "retrying"
                await asyncio.sleep(cfg.retry_ms / 1000)
                continue
            self._end_attempt()
            self.state = "finished"
            log.info("feed %s finished: %d messages, %d reference prices submitted so far; "
                     "filters %s", self.name, sum(self._done_messages.values()),
                     sum(self.submitted.values()), dict(self.reason_counts()) or "none")
            return

    def _end_attempt(self) -> None:
        """Fold the attempt's counts into the totals (its normaliser is discarded)."""
        if self.source is None:
            return
        self._done_messages.update(self.source.messages())
        self._done_reasons.update(self.source.reasons())
        self._done_reasons.update(self.refs.reasons())
        self.source.close()
        self.source = None

    # -- prices -----------------------------------------------------------------------------
    def _on_batch(self, batch: np.ndarray) -> None:
        if not len(batch):
            return
        refs = self.refs
        refs.process(batch)
        kind, named, symbols = self.cfg.price, self.source.instrument, self.symbols
        for i in refs.changed_ids():
            inst = symbols.get(named(i).symbol)
            if inst is None:
                continue
            ref = refs.get(i, kind)
            if ref is None:
                continue
            ticks = self._ticks(inst, ref)
            if ticks is None:
                continue
            last = self.sent.get(inst)
            if last is not None and last[0] == ticks:
                self.pending.pop(inst, None)    # back where the engine already is
            else:
                self.pending[inst] = (ticks, ref.ts_ns)
        if self.pending and self._flush_handle is None:
            # once per loop iteration: the batches of one read coalesce
            self._flush_handle = self.loop.call_soon(self._flush)

    def _ticks(self, inst: int, ref) -> int | None:
        """The feed's fixed-point price in the instrument's price increments, exactly; off the
        grid: the nearest increment (half up) or, with off_tick = "reject", nothing."""
        key = (inst, ref.price_decimals)
        scale = self._scales.get(key)
        if scale is None:
            inc = Fraction(self.instruments[inst].price_increment)
            # price / 10**d / (num / den) = price * den / (10**d * num)
            scale = self._scales[key] = (inc.denominator, 10 ** ref.price_decimals * inc.numerator)
        mul, div = scale
        q, r = divmod(ref.price * mul, div)
        if r:
            if self.cfg.off_tick == "reject":
                self.own_reasons["off_tick"] += 1
                return None
            q = (2 * ref.price * mul + div) // (2 * div)
        if q <= 0 or q >= 1 << 63:
            self.own_reasons["reference_out_of_range"] += 1
            return None
        return q

    def _refresh(self) -> None:
        """Queue again the unchanged references sent refresh_ms ago or more (source live only);
        checked every refresh_ms / 2, so none is older than 1.5 refresh_ms while the feed lives."""
        refresh_s = self.cfg.refresh_ms / 1000
        self._refresh_handle = self.loop.call_later(refresh_s / 2, self._refresh)
        if not self.up:
            return
        now = self.loop.time()
        for inst, (ticks, _, feed_ts, sent_at) in self.sent.items():
            if inst not in self.pending and now - sent_at >= refresh_s:
                self.pending[inst] = (ticks, feed_ts)
        if self.pending and self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        if not self.pending:
            return
        now = self.loop.time()
        due, next_at = [], None
        for inst in self.pending:
            last = self.sent.get(inst)
            at = last[3] + self.interval_s if last is not None else now
            if at <= now:
                due.append(inst)
            elif next_at is None or at < next_at:
                next_at = at
        if due:
            rows = np.zeros(len(due), dtype=COMMAND_DTYPE)
            rows["kind"] = CommandKind.REFERENCE_PRICE
            rows["session"] = ADMIN_SESSION
            rows["clordid"] = self.mark     # provenance in the journal (the engine ignores it)
            rows["instrument"] = due
            rows["price"] = [self.pending[i][0] for i in due]
            try:
                self.server.submit(rows)
            except NotAccepting as e:
                if not self._refused:
                    log.warning("feed %s: reference prices held, the server refuses commands "
                                "(%s)", self.name, e)
                self._refused = True
                next_at = now + max(self.interval_s, RETRY_NOT_ACCEPTING_S)
            else:
                self._refused = False
                for k, inst in enumerate(due):
                    ticks, feed_ts = self.pending.pop(inst)
                    self.sent[inst] = (ticks, int(rows["ts_ns"][k]), feed_ts, now)
                    self.submitted[inst] += 1
        if self.pending:
            self._flush_handle = self.loop.call_at(next_at, self._flush)


class FeedGateway:
    """A server gateway (start(server) / stop()) running every configured feed."""

    def __init__(self, config: Config):
        self.market_feeds = [Feed(f, config) for f in config.feeds]

    async def start(self, server) -> None:
        for feed in self.market_feeds:
            feed.start(server)
            log.info("feed %s: %s from %s, references for %s", feed.name, feed.cfg.format,
                     feed.cfg.path or "%s:%d" % feed.cfg.connect,
                     ", ".join(f"{s} -> {feed.symbol(i)}" for s, i in feed.symbols.items()))

    async def stop(self) -> None:
        for feed in self.market_feeds:
            await feed.stop()

"""The sources of `[[feed]]` (gateway/feed_gateway.py): bytes or rows in, ordex.feeds'
normalised event batches out to a callback, on the server's loop without blocking it.

Files are read in steps of chunk_kb (CSV/Parquet: TICK_ROWS rows) with a yield to the loop after
each; TCP streams through asyncio: ITCH bare or inside SoupBinTCP, and JSON lines in the shapes of
feeds/recording (receive time = arrival when a line has none; Binance depth snapshots come in the
same stream as `URL -> TIME: {...}` lines).  A source ends by returning (end of the data, or of
a SoupBinTCP session) or by raising FeedFailure with a short reason and the detail.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import logging
import time
import zlib
import zoneinfo

from ordex.gateway.config import FeedConfig

log = logging.getLogger("ordex.feed")

ITCH_TZ = "America/New_York"
TCP_READ = 1 << 16
TICK_ROWS = 4096                 # CSV/Parquet rows normalised per loop step


class FeedFailure(Exception):
    """A source cannot go on; `reason` is the short label counted in metrics."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


class Source:
    """One attempt at reading a feed (a retry makes a new one: normalisers start afresh)."""
    received = 0          # bytes (files, streams) or rows taken in by this attempt

    def __init__(self, cfg: FeedConfig):
        self.cfg = cfg

    async def run(self, on_batch) -> None:
        """Call on_batch(events) until the data ends (return) or cannot go on (FeedFailure)."""
        raise NotImplementedError

    def instrument(self, id: int):
        """The ordex.feeds Instrument (symbol, decimals) of one of the events' instrument ids."""
        raise NotImplementedError

    def messages(self) -> dict[str, int]:
        """Venue messages taken in, by type."""
        raise NotImplementedError

    def reasons(self) -> dict[str, int]:
        """The normaliser's filter and error counts, by reason."""
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


class _ItchSource(Source):
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


class _JsonSource(Source):
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


class _TickSource(Source):
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


SOURCES = {"itch": _ItchSource, "coinbase": _JsonSource, "binance": _JsonSource,
            "csv": _TickSource, "parquet": _TickSource}

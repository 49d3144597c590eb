"""Nasdaq TotalView-ITCH 5.0 sources: files (plain or gzip) and TCP streams.

A file is a sequence of messages, each with a 2-byte big-endian length prefix.  Over TCP the same
framing may arrive bare, or inside SoupBinTCP packets (login, heartbeats, sequenced data), which
is how Nasdaq and ordex's own ITCH feed publish it.  The compiled ItchBook does the parsing and
book building; this module moves bytes into it and event batches out.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import logging
import os
import time
import zlib
import zoneinfo
from typing import BinaryIO, Callable, Iterator

import numpy as np

from ordex.ext.itch import ITCH_DTYPE, MESSAGE_SIZES, ItchBook, ItchParser
from ordex.feeds.model import Instrument, Instruments

__all__ = ["ITCH_DTYPE", "MESSAGE_SIZES", "ItchParser", "ItchSource", "open_binary",
           "session_midnight_ns", "read_itch", "ItchStreamProtocol", "connect_itch"]

log = logging.getLogger("ordex.feeds.itch")

PRICE_DECIMALS = 4   # ITCH Price(4) fields
QTY_DECIMALS = 0     # shares
CHUNK = 1 << 20
SYSTEM = "_SYSTEM"   # stock locate 0: venue-wide events (no Nasdaq symbol starts with "_")


def session_midnight_ns(date: dt.date, tz: str = "America/New_York") -> int:
    """ITCH timestamps count nanoseconds from midnight of the session in the venue's time zone."""
    midnight = dt.datetime(date.year, date.month, date.day, tzinfo=zoneinfo.ZoneInfo(tz))
    return int(midnight.timestamp()) * 1_000_000_000


def open_binary(path: str | os.PathLike) -> BinaryIO:
    """The file's bytes, transparently gunzipped when it starts with the gzip magic."""
    f = open(path, "rb")
    if f.peek(2)[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=f, mode="rb")  # type: ignore[return-value]
    return f


class ItchSource:
    """Bytes in, normalised event batches out, for one ITCH stream.  Instrument ids are stock
    locate codes; prices have 4 decimals and quantities are shares."""

    def __init__(self, day_ns: int = 0, *, soup: bool = False, quotes: bool = True,
                 capacity: int = 65536):
        self.book = ItchBook(capacity, day_ns=day_ns, quotes=quotes, soup=soup)
        self._pending = b""
        self.session: str | None = None
        self.ended = False
        self.bad_gzip = 0
        self._instruments: dict[int, Instrument] = {}
        self.on_control: Callable[[bytes], None] | None = None

    def feed(self, data: bytes, final: bool = False) -> Iterator[np.ndarray]:
        """Event batches from data (a partial frame at the end waits for the next call)."""
        buf = self._pending + bytes(data) if self._pending else data
        book = self.book
        pos = 0
        while True:
            before = pos
            pos = book.step(buf, pos, final)
            emitted = len(book.events)
            if emitted:
                yield book.events.take()
            if not book.stopped:
                break
            packet = book.take_control()
            if packet is not None:
                self._control(packet)
            elif pos == before and not emitted:
                raise RuntimeError(f"ItchBook stopped at offset {pos} without progress")
        # A partial frame, or the bytes still being scanned after corruption: a few dozen bytes.
        self._pending = bytes(buf[pos:])

    def finish(self) -> Iterator[np.ndarray]:
        """End of input: a partial frame left over is counted as truncated."""
        yield from self.feed(b"", final=True)

    def _control(self, packet: bytes) -> None:
        kind, payload = packet[:1], packet[1:]
        if kind == b"A" and len(payload) >= 30:
            self.session = payload[:10].decode("ascii", "replace").strip()
            self.book.soup_seq = int(payload[10:30])
        elif kind == b"Z":
            self.ended = True
        elif kind == b"J":
            log.error("SoupBinTCP login rejected: %r", payload[:1])
            self.ended = True
        elif kind != b"+":
            log.warning("SoupBinTCP: unexpected packet type %r", kind)
        if self.on_control is not None:
            self.on_control(packet)

    def instrument(self, locate: int) -> Instrument:
        """The instrument of a stock locate (named by its directory message when one came)."""
        inst = self._instruments.get(locate)
        if inst is None:
            name = SYSTEM if locate == 0 else self.book.symbol(locate) or f"LOCATE{locate}"
            inst = Instrument(locate, name, PRICE_DECIMALS, QTY_DECIMALS)
            if name.startswith("LOCATE"):
                return inst   # a directory message may still name it: do not remember this one
            self._instruments[locate] = inst
        return inst

    def instruments(self) -> Instruments:
        table = Instruments(PRICE_DECIMALS, QTY_DECIMALS)
        symbols = self.book.symbols()
        table.add(SYSTEM, id=0)
        for locate in sorted(set(symbols) | set(self.book.levels.instruments())):
            if locate:
                table.add(symbols.get(locate, f"LOCATE{locate}"), id=locate)
        return table

    def counts(self) -> dict[str, int]:
        return {k.decode("latin-1"): v for k, v in self.book.counts().items()}

    def reasons(self) -> dict[str, int]:
        out = self.book.reasons()
        if self.bad_gzip:
            out["bad_gzip"] = self.bad_gzip
        return out


def read_itch(path: str | os.PathLike, source: ItchSource,
              progress: Callable[[int], None] | None = None) -> Iterator[np.ndarray]:
    """Replay an ITCH file through `source` in 1 MiB chunks (memory stays bounded).  A damaged
    gzip stream ends the replay where the damage starts (counted as bad_gzip), like a
    truncated file."""
    with open_binary(path) as f:
        raw = getattr(f, "fileobj", None) or f
        while True:
            try:
                chunk = f.read1(CHUNK)
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                source.bad_gzip += 1
                log.warning("%s: gzip stream damaged (%s): replay stops there", path, exc)
                break
            if not chunk:
                break
            yield from source.feed(chunk)
            if progress is not None:
                progress(raw.tell())
    yield from source.finish()


def soup_login(username: str = "", password: str = "", session: str = "",
               sequence: int = 1) -> bytes:
    """SoupBinTCP 4.0 Login Request: alpha fields left-justified, session and number right."""
    body = (b"L" + username.encode("ascii").ljust(6)[:6] + password.encode("ascii").ljust(10)[:10]
            + session.encode("ascii").rjust(10)[:10] + str(sequence).encode("ascii").rjust(20))
    return len(body).to_bytes(2, "big") + body


SOUP_HEARTBEAT = b"\x00\x01R"
SOUP_LOGOUT = b"\x00\x01O"


class ItchStreamProtocol(asyncio.Protocol):
    """asyncio protocol: ITCH over TCP into an ItchSource, batches to `sink`.  With soup=True it
    logs in, sends a heartbeat every second and stamps events with the receive time."""

    def __init__(self, source: ItchSource, sink: Callable[[np.ndarray], None],
                 login: bytes | None = None):
        self.source = source
        self.sink = sink
        self.login = login
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()
        self._heartbeat: asyncio.TimerHandle | None = None

    def connection_made(self, transport):  # type: ignore[override]
        self.transport = transport
        if self.source.book.soup:
            if self.login is not None:
                transport.write(self.login)
            self._beat()

    def _beat(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(SOUP_HEARTBEAT)
            self._heartbeat = asyncio.get_running_loop().call_later(1.0, self._beat)

    def data_received(self, data: bytes) -> None:
        self.source.book.recv_ns = time.time_ns()
        for batch in self.source.feed(data):
            self.sink(batch)
        if self.source.ended and self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        for batch in self.source.finish():
            self.sink(batch)
        if not self.done.done():
            self.done.set_result(exc)


async def connect_itch(host: str, port: int, sink: Callable[[np.ndarray], None], *,
                       source: ItchSource | None = None, soup: bool = False,
                       username: str = "", password: str = "", session: str = "",
                       sequence: int = 1, tz: str = "America/New_York") -> ItchSource:
    """Consume an ITCH stream until the server closes it (or ends the SoupBinTCP session).
    Without a `source`, timestamps count from today's midnight in `tz`."""
    if source is None:
        today = dt.datetime.now(zoneinfo.ZoneInfo(tz)).date()
        source = ItchSource(session_midnight_ns(today, tz), soup=soup)
    loop = asyncio.get_running_loop()
    login = soup_login(username, password, session, sequence) if soup else None
    _, protocol = await loop.create_connection(
        lambda: ItchStreamProtocol(source, sink, login), host, port)
    await protocol.done
    return source

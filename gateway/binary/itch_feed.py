"""The ITCH 5.0 feed of ordex's books over SoupBinTCP.

Source: the server's durable book events (Server.subscribe_book), so nothing is published before
the journal records behind it are durable (DESIGN invariant 2); their timestamp is that of the
engine events of the same batch, which the server hands over just before them.

The feed keeps its own view of what it has published: every displayed resting order's reference
number, side, price and displayed quantity, in time priority (in C memory, ext/itch_out, which
also encodes each batch of book events once for all subscribers; an order that re-enters the book
moves to the end).  That view is what a subscriber that logs in receives
as its snapshot -- System Event, then per instrument a Stock Directory and a Stock Trading Action,
then an Add Order per resting order -- followed by the live stream from the next batch on.  So
snapshot and stream are consistent by construction, whatever the engine has applied but not yet
made durable.  The snapshot is encoded when the subscriber logs in and sent with flow control;
live batches arriving meanwhile wait behind it.  The batches one durable report releases (several
in batch and fsync durability) are written to each subscriber as one write, after the last.

Book event -> ITCH:
    RESTED       Add Order (reference = order id the first time; a replaced order resting again
                 right away is an Order Replace to a new reference instead of Delete + Add)
    FILL         Order Executed on the resting order (match numbers count trades); the incoming
                 order was never displayed, so it gets nothing
    REPLENISHED  Add Order with a new reference (an iceberg's next displayed slice, at the back)
    CANCELLED    Order Delete if the order was displayed (an IOC remainder never was)
    REDUCED      Order Cancel for the displayed quantity taken off (reserve goes first)
    REPLACED     the order leaves its level: Order Replace if it rests again at once, else Delete
Engine event -> ITCH: STATUS_CHANGED -> Stock Trading Action ('H'), state T when open, H when
halted or closed, sent before the same batch's book messages (a close: before its deletes).  The
snapshot's trading actions show the status as published (the view, not the engine's latest).
Sequence numbers are per connection: a subscriber that logs in again gets a fresh snapshot from
sequence number 1 (there is no replay of the feed).

Subscribers whose unsent output (backlog included) exceeds max_buffer_bytes are disconnected.
"""
from __future__ import annotations

import asyncio
import logging
import struct
import time

import numpy as np

from ordex.core.events import EventKind
from ordex.ext.itch_out import ItchEncoder
from ordex.gateway.binary import schema, soup
from ordex.gateway.binary.wire import MAX_U32, FeedClock, WireInstruments
from ordex.gateway.fix.session_settings import DUMMY_HASH, verify_password

log = logging.getLogger("ordex.binary.itch")

SYNTHETIC_REF = 1 << 48          # references for orders that re-enter the book
SNAPSHOT_SLICE = 8192            # orders per snapshot write
_STATUS_CHANGED = bytes([EventKind.STATUS_CHANGED])     # EVENT_DTYPE kind is one byte


def _framed(name: str) -> tuple[struct.Struct, int]:
    """A Sequenced Data packet carrying one ITCH message, and its length field."""
    lay = schema.layout("itch", "server", name)
    return struct.Struct(">Hc" + lay.struct.format[1:]), lay.size + 1


# the few messages that are not book events (the book's go through ext/itch_out)
(_SYS, L_SYS), (_DIR, L_DIR), (_ACT, L_ACT) = (_framed(n) for n in (
    "SystemEvent", "StockDirectory", "StockTradingAction"))


class Subscriber:
    __slots__ = ("conn", "live", "backlog", "backlog_bytes", "messages")

    def __init__(self, conn):
        self.conn = conn
        self.live = False
        self.backlog: list[bytes] = []
        self.backlog_bytes = 0
        self.messages = 0


class ItchFeed:
    max_packet = 64          # clients send only Login Request, heartbeats and Logout Request

    def __init__(self, server, settings, reference, io_executor=None,
                 wire: WireInstruments | None = None):
        self.server = server
        self.settings = settings
        self.loop = asyncio.get_running_loop()
        self.io = io_executor
        self.wire = wire or WireInstruments(reference)
        self.clock = FeedClock(settings.feed_timezone)
        self.hashes = {u.name: u.password_hash for u in settings.users if u.feed}
        self.session = "FEED" + time.strftime("%y%m%d")
        # the published view and the encoder (C): order id -> reference, locate, side, price, shown
        self.orders = ItchEncoder(
            {n: schema.framed_dtype("itch", "server", n) for n in (
                "AddOrder", "OrderExecuted", "OrderCancel", "OrderDelete", "OrderReplace",
                "Trade")},
            np.where(self.wire.ok, self.wire.pstep, 0), self._stock_names(), SYNTHETIC_REF)
        self.published = 0                    # ITCH messages published live
        self.version = 0                      # book batches applied to the view
        self._snapshot: _Snapshot | None = None
        self.subscribers: dict[object, Subscriber] = {}
        self._ts = 0                          # ns since midnight of the batch being published
        self._max_buffer = settings.max_buffer_bytes
        self._stock = self._stock_names()
        self._ok = self.wire.ok.tolist()
        self._status = [0] * self.wire.count  # trading status as published, per instrument
        self._load_status(server.engine)
        # live output gathered over the batches of one durable report, written once per
        # subscriber after the last (Server.subscribe_released); a server without that hook gets
        # each batch written at once
        self._out: list[bytes] = []
        self._out_count = 0
        released = getattr(server, "subscribe_released", None)
        self._gather = released is not None
        server.subscribe(self._on_engine)
        server.subscribe_book(self._on_book)
        if released is not None:
            released(self.flush)

    def _load_status(self, engine) -> None:
        for inst in range(self.wire.count):
            if self._ok[inst]:
                self._status[inst] = engine.instrument_status(inst)

    def _stock_names(self) -> list[bytes]:
        return [bytes(s).ljust(8) for s in self.wire.symbol]

    def load_book(self, engine) -> None:
        """The published view starts as the engine's book after recovery (durable by then)."""
        self._load_status(engine)
        rows = engine.book.resting_orders()
        self.orders.load(rows["id"], rows["instrument"], rows["side"], rows["price"],
                         rows["shown"])

    # -- login ------------------------------------------------------------------------------------
    def begin_login(self, conn, username: str, password: str, session: str, seq: int) -> None:
        stored = self.hashes.get(username, DUMMY_HASH)

        def decided(ok: bool) -> None:
            if conn.state != soup.AUTHENTICATING:
                return
            if not ok:
                return conn.reject(b"A", f"user {username!r}: unknown, not a feed user, or wrong "
                                         "password")
            if session and session != self.session:
                return conn.reject(b"S", f"session {session!r} is not the current one "
                                         f"({self.session})")
            self._subscribe(conn, username)

        known = username in self.hashes
        if self.io is None:
            decided(known and verify_password(password, stored))
            return
        fut = self.loop.run_in_executor(self.io, verify_password, password, stored)
        fut.add_done_callback(lambda f: decided(
            known and f.exception() is None and bool(f.result())))

    def _subscribe(self, conn, username: str) -> None:
        self.flush()          # gathered output is in the view: it goes to the others, not to this one
        sub = Subscriber(conn)
        self.subscribers[conn] = sub
        conn.accept(_FeedUser(username), soup.login_accepted(self.session, 1))
        snap = self._snapshot
        if snap is None or snap.version != self.version:
            ts = self.clock.since_midnight(self.server.clock_ns())
            adds, count = self.orders.snapshot(ts)
            snap = self._snapshot = _Snapshot(self.version, adds, count, self.orders.add_size,
                                              self._snapshot_head(ts.to_bytes(6, "big")))
        log.info("feed: %s subscribed from %s (snapshot of %d orders)", username, conn.peer,
                 snap.count)
        self.loop.create_task(self._send_snapshot(sub, snap))

    def _snapshot_head(self, ts6: bytes) -> list[bytes]:
        head = [_SYS.pack(L_SYS, b"S", b"S", 0, 0, ts6, b"O")]
        for inst in range(self.wire.count):
            if not self._ok[inst]:
                continue
            stock = self._stock[inst]
            head.append(_DIR.pack(L_DIR, b"S", b"R", inst + 1, 0, ts6, stock, b" ", b" ",
                                  int(min(self.wire.lot[inst], MAX_U32)), b"N", b" ", b"  ",
                                  b"P", b" ", b" ", b" ", b" ", 0, b"N"))
            state = b"T" if self._status[inst] == 0 else b"H"
            head.append(_ACT.pack(L_ACT, b"S", b"H", inst + 1, 0, ts6, stock, state, b" ", b"    "))
        head.append(_SYS.pack(L_SYS, b"S", b"S", 0, 0, ts6, b"Q"))
        return head

    async def _send_snapshot(self, sub: Subscriber, snap: _Snapshot) -> None:
        conn = sub.conn
        if not self._write(sub, b"".join(snap.head), len(snap.head), direct=True):
            return
        for k in range(snap.slices):
            data, count = snap.slice(k)
            if not self._write(sub, data, count, direct=True):
                return
            await conn.drained()
            if conn.state == soup.CLOSED:
                return
        for chunk in sub.backlog:
            conn.transport.write(chunk)
        sub.backlog.clear()
        sub.backlog_bytes = 0
        sub.live = True

    def _write(self, sub: Subscriber, data: bytes, count: int, direct: bool = False) -> bool:
        conn = sub.conn
        if conn.state == soup.CLOSED or conn.transport is None or conn.transport.is_closing():
            return False
        sub.messages += count
        if direct:
            conn.transport.write(data)
            conn.last_out = self.loop.time()
            return True
        if not sub.live:
            sub.backlog.append(data)
            sub.backlog_bytes += len(data)
            if sub.backlog_bytes > self._max_buffer:
                conn.close(f"feed backlog above {self._max_buffer} bytes during the snapshot",
                           abort=True)
                return False
            return True
        conn.write(data)         # closes the connection when its buffer is over the bound
        return conn.state != soup.CLOSED

    def on_data(self, conn, buf: bytes) -> int:
        packets, used = soup.split_packets(buf, 0, self.max_packet)
        for start, end in packets:
            ptype = buf[start:start + 1]
            if ptype == b"O":
                conn.close("logout requested")
                return len(buf)
            if ptype not in (b"R", b"+", b"U"):
                raise soup.ProtocolError(f"packet type {ptype!r} is not one a feed client sends")
        return used

    def on_close(self, conn, reason: str) -> None:
        sub = self.subscribers.pop(conn, None)
        if sub is not None:
            log.info("feed: %s disconnected after %d messages: %s", conn.peer, sub.messages,
                     reason)

    # -- live -------------------------------------------------------------------------------------
    def _on_engine(self, events: np.ndarray) -> None:
        self._ts = self.clock.since_midnight(int(events["ts_ns"][-1]))
        if _STATUS_CHANGED in events["kind"].tobytes():      # the cheap test (every batch)
            self._publish_status(events[events["kind"] == EventKind.STATUS_CHANGED])

    def _publish_status(self, changes: np.ndarray) -> None:
        """Stock Trading Action per durable STATUS_CHANGED, before the batch's book messages."""
        ts6 = self._ts.to_bytes(6, "big")
        msgs = []
        for inst, status in zip(changes["instrument"].tolist(), changes["qty"].tolist()):
            if not 0 <= inst < self.wire.count or not self._ok[inst]:
                continue
            self._status[inst] = status
            msgs.append(_ACT.pack(L_ACT, b"S", b"H", inst + 1, 0, ts6, self._stock[inst],
                                  b"T" if status == 0 else b"H", b" ", b"    "))
        if not msgs:
            return
        self.version += 1                     # the snapshot's trading actions changed
        self._publish(b"".join(msgs), len(msgs))

    def _on_book(self, events: np.ndarray) -> None:
        self.version += 1
        data, count = self.encode(events)
        if count:
            self._publish(data, count)

    def _publish(self, data: bytes, count: int) -> None:
        self.published += count
        self._out.append(data)
        self._out_count += count
        if not self._gather:
            self.flush()

    def flush(self) -> None:
        """Write what the batches released so far published: one write per subscriber."""
        if not self._out:
            return
        data = self._out[0] if len(self._out) == 1 else b"".join(self._out)
        count = self._out_count
        self._out.clear()
        self._out_count = 0
        for sub in list(self.subscribers.values()):
            self._write(sub, data, count)

    def encode(self, events: np.ndarray) -> tuple[bytes, int]:
        """Book events -> Sequenced Data packets of ITCH messages, updating the published view."""
        return self.orders.encode(events, self._ts)

    async def close(self) -> None:
        self.flush()
        ts6 = self.clock.since_midnight(self.server.clock_ns()).to_bytes(6, "big")
        end = _SYS.pack(L_SYS, b"S", b"S", 0, 0, ts6, b"C")
        for sub in list(self.subscribers.values()):
            if sub.live:
                self._write(sub, end, 1)


class _Snapshot:
    """The view at one version as Add Orders (encoded at once, in C), shared with the subscribers
    that log in before the view changes, and sent slice by slice with flow control."""

    def __init__(self, version: int, adds: bytes, count: int, add_size: int, head: list[bytes]):
        self.version, self.adds, self.count, self.head = version, adds, count, head
        self.step = SNAPSHOT_SLICE * add_size
        self.slices = -(-count // SNAPSHOT_SLICE)

    def slice(self, k: int) -> tuple[bytes, int]:
        data = self.adds[k * self.step:(k + 1) * self.step]
        return data, min(SNAPSHOT_SLICE, self.count - k * SNAPSHOT_SLICE)


class _FeedUser:
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

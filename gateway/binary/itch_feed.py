"""The ITCH 5.0 feed of ordex's books over SoupBinTCP.

Source: the server's durable book events (Server.subscribe_book), so nothing is published before
the journal records behind it are durable (DESIGN invariant 2); their timestamp is that of the
engine events of the same batch, which the server hands over just before them.

The feed keeps its own view of what it has published: every displayed resting order's reference
number, side, price and displayed quantity, in time priority (a dict in insertion order; an order
that re-enters the book moves to the end).  That view is what a subscriber that logs in receives
as its snapshot -- System Event, then per instrument a Stock Directory and a Stock Trading Action,
then an Add Order per resting order -- followed by the live stream from the next batch on.  So
snapshot and stream are consistent by construction, whatever the engine has applied but not yet
made durable.  The snapshot is copied when the subscriber logs in and sent with flow control;
live batches arriving meanwhile wait behind it.

Book event -> ITCH:
    RESTED       Add Order (reference = order id the first time; a replaced order resting again
                 right away is an Order Replace to a new reference instead of Delete + Add)
    FILL         Order Executed on the resting order (match numbers count trades); the incoming
                 order was never displayed, so it gets nothing
    REPLENISHED  Add Order with a new reference (an iceberg's next displayed slice, at the back)
    CANCELLED    Order Delete if the order was displayed (an IOC remainder never was)
    REDUCED      Order Cancel for the displayed quantity taken off (reserve goes first)
    REPLACED     the order leaves its level: Order Replace if it rests again at once, else Delete
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

from ordex.ext.book import EventKind as BookEvent
from ordex.gateway.binary import schema, soup
from ordex.gateway.binary.wire import MAX_U32, FeedClock, WireInstruments
from ordex.gateway.fix.session_settings import DUMMY_HASH, verify_password

log = logging.getLogger("ordex.binary.itch")

RESTED, FILL, CANCELLED, REDUCED, REPLACED, REPLENISHED = (
    BookEvent.RESTED, BookEvent.FILL, BookEvent.CANCELLED, BookEvent.REDUCED, BookEvent.REPLACED,
    BookEvent.REPLENISHED)
SYNTHETIC_REF = 1 << 48          # references for orders that re-enter the book
SNAPSHOT_SLICE = 8192            # orders per snapshot write
SMALL_BATCH = 8                  # up to this many book events: one at a time; more: numpy


def _framed(name: str) -> tuple[struct.Struct, int]:
    """A Sequenced Data packet carrying one ITCH message, and its length field."""
    lay = schema.layout("itch", "server", name)
    return struct.Struct(">Hc" + lay.struct.format[1:]), lay.size + 1


(_SYS, L_SYS), (_DIR, L_DIR), (_ACT, L_ACT), (_ADD, L_ADD), (_EXE, L_EXE), (_CXL, L_CXL), \
    (_DEL, L_DEL), (_REP, L_REP), (_TRD, L_TRD) = (_framed(n) for n in (
        "SystemEvent", "StockDirectory", "StockTradingAction", "AddOrder", "OrderExecuted",
        "OrderCancel", "OrderDelete", "OrderReplace", "Trade"))
SIDE = (b" ", b"B", b"S")
_SIDE_NP = np.array(SIDE, dtype="S1")
_SLOW_KINDS = np.zeros(256, dtype=bool)
_SLOW_KINDS[[REDUCED, REPLACED, REPLENISHED]] = True
_SLOW_KINDS[[0, 7]] = True      # no kind / REJECTED: never expected, handled one by one


def _fdt(name: str) -> np.dtype:
    return schema.framed_dtype("itch", "server", name)


_ADD_DT, _EXE_DT, _DEL_DT, _TRD_DT = (_fdt(n) for n in ("AddOrder", "OrderExecuted",
                                                          "OrderDelete", "Trade"))


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
        self.orders: dict[int, list] = {}     # order id -> [ref, locate, side, price4, shown]
        self.next_ref = SYNTHETIC_REF
        self.match = 0
        self.published = 0                    # ITCH messages published live
        self.version = 0                      # book batches applied to the view
        self._snapshot: _Snapshot | None = None
        self.subscribers: dict[object, Subscriber] = {}
        self._ts6 = bytes(6)
        self._max_buffer = settings.max_buffer_bytes
        self._stock = [bytes(s).ljust(8) for s in self.wire.symbol]
        self._price4 = self.wire.pstep.tolist()
        self._ok = self.wire.ok.tolist()
        server.subscribe(self._on_engine)
        server.subscribe_book(self._on_book)

    def load_book(self, engine) -> None:
        """The published view starts as the engine's book after recovery (durable by then)."""
        rows = engine.book.resting_orders()
        for oid, price, shown, inst, side in zip(rows["id"].tolist(), rows["price"].tolist(),
                                                 rows["shown"].tolist(),
                                                 rows["instrument"].tolist(), rows["side"].tolist()):
            if self._ok[inst]:
                self.orders[oid] = [oid, inst + 1, SIDE[side], price * self._price4[inst], shown]

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
        sub = Subscriber(conn)
        self.subscribers[conn] = sub
        conn.accept(_FeedUser(username), soup.login_accepted(self.session, 1))
        snap = self._snapshot
        if snap is None or snap.version != self.version:
            ts6 = self.clock.since_midnight(self.server.clock_ns()).to_bytes(6, "big")
            # tuples: the live view's lists change under fills and reductions
            snap = self._snapshot = _Snapshot(self.version, list(map(tuple, self.orders.values())),
                                              self._snapshot_head(ts6), ts6)
        log.info("feed: %s subscribed from %s (snapshot of %d orders)", username, conn.peer,
                 len(snap.orders))
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
            state = b"T" if self.server.engine.instrument_status(inst) == 0 else b"H"
            head.append(_ACT.pack(L_ACT, b"S", b"H", inst + 1, 0, ts6, stock, state, b" ", b"    "))
        head.append(_SYS.pack(L_SYS, b"S", b"S", 0, 0, ts6, b"Q"))
        return head

    async def _send_snapshot(self, sub: Subscriber, snap: _Snapshot) -> None:
        conn = sub.conn
        if not self._write(sub, b"".join(snap.head), len(snap.head), direct=True):
            return
        for k in range(snap.slices):
            data, count = snap.slice(k, self._stock)
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
        self._ts6 = self.clock.since_midnight(int(events["ts_ns"][-1])).to_bytes(6, "big")

    def _on_book(self, events: np.ndarray) -> None:
        self.version += 1
        data, count = self.encode(events)
        if not count:
            return
        self.published += count
        for sub in list(self.subscribers.values()):
            self._write(sub, data, count)

    def encode(self, events: np.ndarray) -> tuple[bytes, int]:
        """Book events -> Sequenced Data packets of ITCH messages, updating the published view."""
        if len(events) <= SMALL_BATCH:
            return self._encode_each(events)
        kinds = events["kind"]
        if not (_SLOW_KINDS[kinds].any() or not self.wire.ok[events["instrument"]].all()):
            return self._encode_common(events, kinds)
        return self._encode_each(events)

    def _encode_common(self, events: np.ndarray, kinds: np.ndarray) -> tuple[bytes, int]:
        """The usual batch (orders resting, trading, cancelled), with numpy: each event gives at
        most one message, and in such a batch an order rests before anything else happens to
        it, so the view can be updated kind by kind and the messages put back in event order."""
        orders = self.orders
        n = len(events)
        oid, inst, qty = events["order_id"], events["instrument"], events["qty"]
        size = np.zeros(n, dtype=np.int64)
        parts = []
        rested = np.flatnonzero(kinds == RESTED)
        if len(rested):
            i = inst[rested]
            p4 = events["price"][rested] * self.wire.pstep[i]
            rec = np.zeros(len(rested), dtype=_ADD_DT)
            rec["soup_len"], rec["soup_type"], rec["type"] = L_ADD, b"S", b"A"
            rec["StockLocate"] = i + 1
            rec["Timestamp"] = np.frombuffer(self._ts6, dtype=np.uint8)
            rec["OrderReferenceNumber"] = oid[rested]
            rec["BuySellIndicator"] = _SIDE_NP[events["side"][rested]]
            rec["Shares"] = np.minimum(qty[rested], MAX_U32)
            rec["Stock"] = self.wire.symbol[i]
            rec["Price"] = p4
            parts.append((rested, rec))
            side = _SIDE_NP[events["side"][rested]].tolist()
            orders.update(zip(oid[rested].tolist(), map(list, zip(
                oid[rested].tolist(), (i + 1).tolist(), side, p4.tolist(), qty[rested].tolist()))))
        fills = np.flatnonzero(kinds == FILL)
        if len(fills):
            makers = events["other_id"][fills].tolist()
            refs = []
            get = orders.get
            for m, q in zip(makers, qty[fills].tolist()):
                o = get(m)
                if o is None:
                    refs.append(-1)
                    continue
                refs.append(o[0])
                o[4] -= q
                if o[4] <= 0:
                    del orders[m]
            refs = np.array(refs, dtype=np.int64)
            match = self.match + 1 + np.arange(len(fills))
            self.match += len(fills)
            shown = refs >= 0
            if shown.any():
                j = fills[shown]
                rec = np.zeros(len(j), dtype=_EXE_DT)
                rec["soup_len"], rec["soup_type"], rec["type"] = L_EXE, b"S", b"E"
                rec["StockLocate"] = inst[j] + 1
                rec["Timestamp"] = np.frombuffer(self._ts6, dtype=np.uint8)
                rec["OrderReferenceNumber"] = refs[shown]
                rec["ExecutedShares"] = np.minimum(qty[j], MAX_U32)
                rec["MatchNumber"] = match[shown]
                parts.append((j, rec))
            if not shown.all():
                j = fills[~shown]
                rec = np.zeros(len(j), dtype=_TRD_DT)
                rec["soup_len"], rec["soup_type"], rec["type"] = L_TRD, b"S", b"P"
                rec["StockLocate"] = inst[j] + 1
                rec["Timestamp"] = np.frombuffer(self._ts6, dtype=np.uint8)
                rec["BuySellIndicator"] = _SIDE_NP[3 - events["side"][j]]
                rec["Shares"] = np.minimum(qty[j], MAX_U32)
                rec["Stock"] = self.wire.symbol[inst[j]]
                rec["Price"] = events["price"][j] * self.wire.pstep[inst[j]]
                rec["MatchNumber"] = match[~shown]
                parts.append((j, rec))
        cancels = np.flatnonzero(kinds == CANCELLED)
        if len(cancels):
            pop = orders.pop
            gone = [pop(o, None) for o in oid[cancels].tolist()]
            was = np.array([g is not None for g in gone], dtype=bool)
            if was.any():
                j = cancels[was]
                rec = np.zeros(len(j), dtype=_DEL_DT)
                rec["soup_len"], rec["soup_type"], rec["type"] = L_DEL, b"S", b"D"
                rec["StockLocate"] = inst[j] + 1
                rec["Timestamp"] = np.frombuffer(self._ts6, dtype=np.uint8)
                rec["OrderReferenceNumber"] = [g[0] for g in gone if g is not None]
                parts.append((j, rec))
        if not parts:
            return b"", 0
        if len(parts) == 1:
            return parts[0][1].tobytes(), len(parts[0][0])
        for idx, rec in parts:
            size[idx] = rec.dtype.itemsize
        widest = int(size.max())
        grid = np.zeros((n, widest), dtype=np.uint8)
        count = 0
        for idx, rec in parts:
            width = rec.dtype.itemsize
            grid[idx, :width] = rec.view(np.uint8).reshape(-1, width)
            count += len(idx)
        return grid[np.arange(widest) < size[:, None]].tobytes(), count

    def _encode_each(self, events: np.ndarray) -> tuple[bytes, int]:
        """Any batch, one event at a time."""
        out: list[bytes] = []
        ts6 = self._ts6
        orders, ok, price4, stocks = self.orders, self._ok, self._price4, self._stock
        replaced = None          # (order id, old reference, locate) awaiting its RESTED
        for oid, other, price, qty, leaves, _ol, inst, kind, side, _r in events.tolist():
            if not ok[inst]:
                continue
            loc = inst + 1
            if replaced is not None and not (kind == RESTED and oid == replaced[0]):
                out.append(_DEL.pack(L_DEL, b"S", b"D", replaced[2], 0, ts6, replaced[1]))
                replaced = None
            if kind == FILL:
                self.match += 1
                o = orders.get(other)
                if o is None:
                    out.append(_TRD.pack(L_TRD, b"S", b"P", loc, 0, ts6, 0, SIDE[3 - side],
                                         min(qty, MAX_U32), stocks[inst], price * price4[inst],
                                         self.match))
                    continue
                out.append(_EXE.pack(L_EXE, b"S", b"E", loc, 0, ts6, o[0], min(qty, MAX_U32),
                                     self.match))
                o[4] -= qty
                if o[4] <= 0:
                    del orders[other]
            elif kind == RESTED:
                p4 = price * price4[inst]
                if replaced is not None:
                    ref = self.next_ref
                    self.next_ref += 1
                    out.append(_REP.pack(L_REP, b"S", b"U", loc, 0, ts6, replaced[1], ref,
                                         min(qty, MAX_U32), p4))
                    replaced = None
                else:
                    ref = oid
                    out.append(_ADD.pack(L_ADD, b"S", b"A", loc, 0, ts6, ref, SIDE[side],
                                         min(qty, MAX_U32), stocks[inst], p4))
                orders[oid] = [ref, loc, SIDE[side], p4, qty]
            elif kind == CANCELLED:
                o = orders.pop(oid, None)
                if o is not None:
                    out.append(_DEL.pack(L_DEL, b"S", b"D", loc, 0, ts6, o[0]))
            elif kind == REDUCED:
                o = orders.get(oid)
                if o is not None and leaves < o[4]:
                    out.append(_CXL.pack(L_CXL, b"S", b"X", loc, 0, ts6, o[0],
                                         min(o[4] - leaves, MAX_U32)))
                    o[4] = leaves
            elif kind == REPLENISHED:
                orders.pop(oid, None)
                ref = self.next_ref
                self.next_ref += 1
                p4 = price * price4[inst]
                out.append(_ADD.pack(L_ADD, b"S", b"A", loc, 0, ts6, ref, SIDE[side],
                                     min(qty, MAX_U32), stocks[inst], p4))
                orders[oid] = [ref, loc, SIDE[side], p4, qty]
            elif kind == REPLACED:
                o = orders.pop(oid, None)
                if o is not None:
                    replaced = (oid, o[0], loc)
        if replaced is not None:
            out.append(_DEL.pack(L_DEL, b"S", b"D", replaced[2], 0, ts6, replaced[1]))
        return b"".join(out), len(out)

    async def close(self) -> None:
        ts6 = self.clock.since_midnight(self.server.clock_ns()).to_bytes(6, "big")
        end = _SYS.pack(L_SYS, b"S", b"S", 0, 0, ts6, b"C")
        for sub in list(self.subscribers.values()):
            if sub.live:
                self._write(sub, end, 1)


class _Snapshot:
    """The view at one version, encoded slice by slice as the first subscriber needs it and
    shared with those that log in before the view changes."""

    def __init__(self, version: int, orders: list[tuple], head: list[bytes], ts6: bytes):
        self.version, self.orders, self.head, self.ts6 = version, orders, head, ts6
        self.slices = -(-len(orders) // SNAPSHOT_SLICE)
        self._encoded: dict[int, bytes] = {}

    def slice(self, k: int, stocks: list[bytes]) -> tuple[bytes, int]:
        part = self.orders[k * SNAPSHOT_SLICE:(k + 1) * SNAPSHOT_SLICE]
        data = self._encoded.get(k)
        if data is None:
            add, ts6 = _ADD.pack, self.ts6
            data = self._encoded[k] = b"".join([
                add(L_ADD, b"S", b"A", loc, 0, ts6, ref, side, min(shown, MAX_U32),
                    stocks[loc - 1], price) for ref, loc, side, price, shown in part])
        return data, len(part)


class _FeedUser:
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

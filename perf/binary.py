"""`ordex perf binary`: OUCH 5.0 order entry and the ITCH 5.0 feed over SoupBinTCP, against
`ordex serve` in its own process (one per durability mode), driven by asyncio clients on uvloop
in this process (ordex.gateway.client's framing; orders pre-encoded from the schema with numpy),
except order_ack's, which is C (perf/soup_pingpong.c via perf/binary_client.py, compiled at run
time): the asyncio client's own round trip (~26 us p50) is as large as the target.

Workloads (one order entry connection unless stated):
  order_ack      one order outstanding: Enter Order -> Order Accepted round trip, from the C
                 client (blocking write and read, TCP_NODELAY, clock_gettime)
  order_ack_python  the same from the asyncio client (the figure order_ack had before)
  loopback_floor the C client's round trip of an Enter Order's size against a trivial C echo
                 peer: what order_ack would measure if the server took no time
  pipelined      --window orders outstanding, topped up as Order Accepted messages arrive
  feed live      market-maker load: S subscribers (1 and 20) while one market maker requotes
                 --quote-instruments instruments per Mass Quote, at most four outstanding (each
                 requote: one engine QUOTE per side, an Order Replace per side on the feed)
  feed live_orders  plain-order load: S subscribers while one connection pipelines the order
                 cycle below (--window outstanding): an Add per resting order, an Executed per fill
  feed snapshot  S subscribers log in at once to a book of --snapshot-orders resting orders
  client_parse   the benchmark's feed reader alone, on an encoded stream in 64 KiB reads: the
                 ceiling of what the feed figures can show

Orders follow `ordex perf fix`'s cycle (perf/fix_ordex.py): eight limit orders around a mid,
four rest and four cross them, so the book stays bounded; half of the orders trade.

Reported (latencies in us):
  MODE.order_ack.p50 / p99 / p999 / max        MODE: none, batch, fsync (--modes); C client
  MODE.order_ack_python.p50 / p99 / p999 / max the asyncio client's
  loopback.floor.p50 / p99 / p999 / max         C ping-pong with no server work
  MODE.pipelined.throughput                     orders/s acknowledged
  feed.live_S.throughput, feed.live_orders_S.throughput, feed.snapshot_S.throughput
                 ITCH messages/s per subscriber (the slowest; every subscriber counts its own
                 messages exactly, in C: ext/soup_scan)
  feed.live_S.quote_sides, feed.live_orders_S.orders   the order-entry rate that drove them (/s)
  feed.client_parse.throughput                  messages/s the reader handles alone
The issue's targets are listed under the results; nothing is asserted.  Server and clients
share this machine's cores: on a 2-core machine the clients' own work is part of every figure.
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ordex.ext.soup_scan import scan
from ordex.gateway import config as config_mod
from ordex.gateway.binary import schema, soup
from ordex.perf import binary_client
from ordex.perf.fix import FixReport
from ordex.perf.fix_load import LoadError, Peer, free_port
from ordex.perf.fix_ordex import CYCLE, DRIFT
from ordex.perf.report import Report

TARGETS = (
    ("none.order_ack.p50", "<=", 30.0, "us"),
    ("none.order_ack.p99", "<=", 80.0, "us"),
    ("batch.pipelined.throughput", ">=", 500_000.0, "/s"),
    ("feed.live_1.throughput", ">=", 1_000_000.0, "/s"),
    ("feed.live_20.throughput", ">=", 200_000.0, "/s"),
)
PASSWORD = "perf"
MID = 1_000_000          # 100.0000
TICK = 100               # 0.01
SUBSCRIBERS = (1, 20)


class BinaryReport(FixReport):
    """FixReport's table with this benchmark's targets."""

    def evaluate_targets(self) -> None:
        rows = []
        for name, op, goal, unit in TARGETS:
            target = f"{name} {op} {goal:g} {unit}".strip()
            try:
                value = self.get(name)
            except KeyError:
                rows.append({"target": target, "value": None, "met": None})
                continue
            met = value <= goal if op == "<=" else value >= goal
            rows.append({"target": target, "value": value, "met": met})
        self.settings["targets"] = rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--modes", default="none,batch",
                        help="durability modes for order entry (default none,batch; fsync too "
                             "if listed)")
    parser.add_argument("--batch-interval-ms", type=int, default=2)
    parser.add_argument("--round-trips", type=int, default=20000,
                        help="closed-loop orders per mode (default 20000)")
    parser.add_argument("--orders", type=int, default=400_000,
                        help="pipelined orders per mode (default 400000)")
    parser.add_argument("--window", type=int, default=20000,
                        help="orders outstanding when pipelined (default 20000)")
    parser.add_argument("--feed-mode", default="none",
                        help="durability mode of the feed runs (default none)")
    parser.add_argument("--feed-seconds", type=float, default=3.0)
    parser.add_argument("--quote-instruments", type=int, default=50)
    parser.add_argument("--snapshot-orders", type=int, default=200_000)
    parser.add_argument("--parse-messages", type=int, default=2_000_000,
                        help="ITCH messages the client parser reads alone (default 2000000)")
    parser.add_argument("--skip", default="",
                        help="comma list: order_ack, order_ack_python, loopback_floor, "
                             "pipelined, feed (all three feed workloads), feed_live, "
                             "feed_live_orders, feed_snapshot, client_parse")
    parser.add_argument("--dir", type=Path, default=None,
                        help="work directory, kept afterwards (default: temporary, removed)")


# -- the server ----------------------------------------------------------------------------------

def server_config(oe_port: int, feed_port: int, durability: str, instruments: int,
                  batch_interval_ms: int = 2) -> str:
    from ordex.gateway.fix.session_settings import hash_password
    h = hash_password(PASSWORD)
    lines = ["# Generated by ordex perf binary.", "[server]", 'data_dir = "data"',
             'log_level = "info"', "", "[journal]", f'durability = "{durability}"',
             f"batch_interval_ms = {batch_interval_ms}", "", "[engine]", "max_orders = 4194304",
             "", "[currencies]", 'USD = "0.0001"', ""]
    for i in range(instruments):
        lines += ["[[instrument]]", f'symbol = "S{i:03d}"', 'currency = "USD"',
                  'price_increment = "0.01"', 'qty_increment = "1"', 'max_qty = "1000000"', ""]
    for name in ("MMACCT", "TAKER"):
        lines += ["[[account]]", f'name = "{name}"', 'balances = { USD = "100000000000" }',
                  "may_short = true", ""]
    lines += ["[binary]", f'listen = "127.0.0.1:{oe_port}"',
              f'feed_listen = "127.0.0.1:{feed_port}"', "max_buffer_kb = 262144", ""]
    for user, acct in (("PERF1", "MMACCT"), ("PERF2", "TAKER"), ("FEED", "TAKER")):
        lines += ["[[binary.user]]", f'name = "{user}"', f'password_hash = "{h}"',
                  f'accounts = ["{acct}"]', 'cancel_on_disconnect = "off"', ""]
    return "\n".join(lines)


class BinaryServer(Peer):
    name = "ordex serve"

    def __init__(self, workdir: Path, durability: str, instruments: int, batch_interval_ms: int):
        workdir.mkdir(parents=True, exist_ok=True)
        self.port, self.feed_port = free_port(), free_port()
        path = workdir / "ordex.toml"
        text = server_config(self.port, self.feed_port, durability, instruments, batch_interval_ms)
        config_mod.parse(text, source=str(path), base_dir=workdir)
        path.write_text(text)
        super().__init__([sys.executable, "-m", "ordex.gateway.cli", "serve", "--config",
                          str(path)], workdir / "server.log", r"ITCH 5.0 feed listening",
                         cwd=workdir)


# -- clients -------------------------------------------------------------------------------------

class RawSoup(asyncio.Protocol):
    """A SoupBinTCP client.  With `on_packet`, each packet goes to on_packet(type, buf, start,
    end, now) (the round-trip test); without, Sequenced Data packets are only counted by message
    type, in C (ext/soup_scan: one call per read), so that the reader is not what limits a
    throughput figure (see client_parse)."""

    def __init__(self, on_packet=None):
        self.on_packet = on_packet
        self.transport = None
        self.buf = b""
        self.counts = np.zeros(256, dtype=np.int64)
        self.logged_in = asyncio.get_running_loop().create_future()
        self.first_ns = self.last_ns = 0
        self.watch: tuple[bytes, int, asyncio.Future] | None = None   # (types, target, done)

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def messages(self, types: bytes | None = None) -> int:
        return int(self.counts.sum() if types is None else self.counts[list(types)].sum())

    def until(self, types: bytes, target: int) -> asyncio.Future:
        """A future done (result: perf_counter_ns) once `target` messages of `types` arrived."""
        done = asyncio.get_running_loop().create_future()
        self.watch = (types, target, done)
        self._check(time.perf_counter_ns())
        return done

    def _check(self, now: int) -> None:
        types, target, done = self.watch
        if not done.done() and self.messages(types) >= target:
            done.set_result(now)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        buf = self.buf + data if self.buf else data
        n, i = len(buf), 0
        if not self.logged_in.done() or self.on_packet is not None:
            on_packet = self.on_packet
            while n - i >= 2:
                end = i + 2 + ((buf[i] << 8) | buf[i + 1])
                if end > n:
                    break
                t = buf[i + 2]
                if t == 0x41 and not self.logged_in.done():          # Login Accepted
                    self.logged_in.set_result(None)
                    i = end
                    if on_packet is None:
                        break
                    continue
                if t == 0x4A and not self.logged_in.done():
                    self.logged_in.set_exception(LoadError(f"login rejected: {buf[i + 3:end]!r}"))
                elif on_packet is not None:
                    on_packet(t, buf, i + 3, end, now)
                i = end
        if self.on_packet is None and self.logged_in.done() and i < n:
            i += scan(memoryview(buf)[i:], self.counts)
            self.first_ns = self.first_ns or now
            self.last_ns = now
            if self.watch is not None:
                self._check(now)
        self.buf = buf[i:]


async def connect(port: int, user: str, **kwargs) -> RawSoup:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(lambda: RawSoup(**kwargs), "127.0.0.1", port)
    proto.transport.write(soup.login_request(user, PASSWORD))
    await asyncio.wait_for(proto.logged_in, 10)
    return proto


def encode_orders(first_ref: int, n: int, symbol: str) -> np.ndarray:
    """n Enter Orders of the fix perf cycle as one Unsequenced Data packet each (rows of bytes)."""
    dt = schema.framed_dtype("ouch", "client", "EnterOrder")
    r = np.zeros(n, dtype=dt)
    r["soup_len"], r["soup_type"], r["type"] = dt.itemsize - 2, b"U", b"O"
    k = np.arange(n)
    cyc = np.array(CYCLE)[k % len(CYCLE)]
    drift = np.array(DRIFT)[(k // len(CYCLE)) % len(DRIFT)]
    r["UserRefNum"] = first_ref + k
    r["Side"] = np.where(cyc[:, 0] == 1, b"B", b"S")
    r["Quantity"] = cyc[:, 2]
    r["Symbol"] = symbol.encode().ljust(8)
    r["Price"] = MID + (drift + cyc[:, 1]) * TICK
    r["TimeInForce"], r["Display"], r["Capacity"] = b"0", b"Y", b"P"
    r["InterMarketSweepEligibility"], r["CrossType"] = b"N", b"N"
    r["ClOrdID"] = b" " * 14
    return r.view(np.uint8).reshape(n, dt.itemsize)


class Acks:
    """Waits for the Order Accepted / Rejected of one UserRefNum (the round-trip test)."""

    def __init__(self):
        self.rejected = 0
        self.waiting: int | None = None
        self.event = asyncio.Event()
        self.when_ns = 0

    def __call__(self, t, buf, start, end, now) -> None:
        if t != 0x53:
            return
        m = buf[start]
        if m == 0x41 or m == 0x4A:             # Order Accepted / Order Rejected
            self.rejected += m == 0x4A
            if struct.unpack_from(">I", buf, start + 9)[0] == self.waiting:
                self.when_ns = now
                self.event.set()


async def order_ack(port: int, n: int, first_ref: int) -> np.ndarray:
    acks = Acks()
    c = await connect(port, "PERF1", on_packet=acks)
    orders = encode_orders(first_ref, n, "S000")
    lat = np.zeros(n, dtype=np.int64)
    for k in range(n):
        acks.event.clear()
        acks.waiting = first_ref + k
        t0 = time.perf_counter_ns()
        c.transport.write(orders[k].tobytes())
        await acks.event.wait()
        lat[k] = acks.when_ns - t0
    c.transport.close()
    if acks.rejected:
        raise LoadError(f"order_ack: {acks.rejected} of {n} orders rejected")
    return lat


ACK_TYPES = b"AJ"          # Order Accepted, Order Rejected


async def pipelined(port: int, n: int, window: int, first_ref: int) -> float:
    c = await connect(port, "PERF1")
    data = encode_orders(first_ref, n, "S001")
    chunk = 1000
    done = c.until(ACK_TYPES, n)
    t0 = time.perf_counter_ns()
    sent = 0
    while sent < n:
        while sent - c.messages(ACK_TYPES) >= window:
            await asyncio.sleep(0)
        c.transport.write(data[sent:sent + chunk].tobytes())
        sent += chunk
        await asyncio.sleep(0)
    when_ns = await asyncio.wait_for(done, 120)
    elapsed = (when_ns - t0) / 1e9
    c.transport.close()
    if c.counts[ord("J")]:
        raise LoadError(f"pipelined: {c.counts[ord('J')]} of {n} orders rejected")
    return n / elapsed


async def subscribers(port: int, s: int) -> list[RawSoup]:
    return [await connect(port, "FEED") for _ in range(s)]


def mark(subs: list[RawSoup]) -> None:
    """Start counting from here (snapshots and earlier runs left out)."""
    for p in subs:
        p.base = p.messages()
        p.first_ns = 0


def per_subscriber_rate(subs: list[RawSoup]) -> float:
    """Messages/s of the slowest subscriber, each counted exactly from its first read after
    mark() to its last."""
    return min((p.messages() - getattr(p, "base", 0)) / max((p.last_ns - p.first_ns) / 1e9, 1e-9)
               for p in subs)


QUOTE_ACK = b"q"


async def feed_live(oe_port: int, feed_port: int, s: int, seconds: float, instruments: int,
                    first_ref: int) -> tuple[float, float, int]:
    """Market-maker load: Mass Quotes replacing both sides of `instruments` instruments, at most
    four outstanding.  Returns (ITCH messages/s per subscriber, quoted sides/s, next ref)."""
    subs = await subscribers(feed_port, s)
    await asyncio.sleep(0.3)                              # snapshots out of the way
    mark(subs)
    mm = await connect(oe_port, "PERF1")
    quote = schema.layout("ouch", "client", "MassQuote")
    entry = schema.layout("group", "client", "QuoteEntry")
    ref = first_ref
    qid = 0
    # the entries as one record array (schema layout), re-priced and re-numbered per quote
    entries = np.zeros(instruments, dtype=entry.dtype)
    entries["Symbol"] = [f"S{i:03d}".ljust(8).encode() for i in range(instruments)]
    entries["BidQuantity"] = entries["AskQuantity"] = 10
    k = np.arange(instruments)
    t0 = time.perf_counter_ns()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        qid += 1
        off = (qid % 5) * TICK
        entries["BidUserRefNum"] = ref + 1 + 2 * k
        entries["AskUserRefNum"] = ref + 2 + 2 * k
        entries["BidPrice"] = MID - 10 * TICK - off
        entries["AskPrice"] = MID + 10 * TICK + off
        ref += 2 * instruments
        msg = quote.pack(QuoteId=qid, Count=instruments) + entries.tobytes()
        mm.transport.write(struct.pack(">H", len(msg) + 1) + b"U" + msg)
        if qid - mm.messages(QUOTE_ACK) > 4:
            # wait for the acks, not spin on sleep(0): the spinning client took the CPU the
            # server needs on a 2-core machine (top: client ~50%, server ~45%)
            await mm.until(QUOTE_ACK, qid - 4)
        else:
            await asyncio.sleep(0)
    end_ns = await asyncio.wait_for(mm.until(QUOTE_ACK, qid), 60)
    sides = 2 * instruments * qid / ((end_ns - t0) / 1e9)
    await asyncio.sleep(0.3)
    rate = per_subscriber_rate(subs)
    for p in subs + [mm]:
        p.transport.close()
    return rate, sides, ref


async def feed_live_orders(oe_port: int, feed_port: int, s: int, seconds: float, window: int,
                           first_ref: int) -> tuple[float, float, int]:
    """Plain-order load: pipelined Enter Orders of the perf cycle (half rest, half trade), --window
    outstanding.  Returns (ITCH messages/s per subscriber, orders/s, next ref)."""
    subs = await subscribers(feed_port, s)
    await asyncio.sleep(0.3)
    mark(subs)
    c = await connect(oe_port, "PERF2")
    block, chunk = 160_000, 1000
    ref, sent = first_ref, 0
    t0 = time.perf_counter_ns()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        data = encode_orders(ref, block, "S002")
        ref += block
        for at in range(0, block, chunk):
            if sent - c.messages(ACK_TYPES) >= window:       # wait, not spin (see feed_live)
                await c.until(ACK_TYPES, sent - window + 1)
            c.transport.write(data[at:at + chunk].tobytes())
            sent += chunk
            await asyncio.sleep(0)
            if time.monotonic() >= deadline:
                break
    end_ns = await asyncio.wait_for(c.until(ACK_TYPES, sent), 120)
    orders = sent / ((end_ns - t0) / 1e9)
    await asyncio.sleep(0.3)
    rate = per_subscriber_rate(subs)
    for p in subs + [c]:
        p.transport.close()
    return rate, orders, ref


async def client_parse(messages: int) -> float:
    """The benchmark's own feed reader alone: RawSoup.data_received over a recorded-like ITCH
    stream (rests, fills, cancels from ext/itch_out) in 64 KiB reads; messages/s."""
    from ordex.ext.book import EVENT_DTYPE as BOOK_EVENT_DTYPE
    from ordex.ext.itch_out import ItchEncoder
    enc = ItchEncoder({n: schema.framed_dtype("itch", "server", n) for n in (
        "AddOrder", "OrderExecuted", "OrderCancel", "OrderDelete", "OrderReplace", "Trade")},
        np.array([100]), [b"S000"], 1 << 48)
    k = np.arange(messages // 2)
    ev = np.zeros(2 * len(k), dtype=BOOK_EVENT_DTYPE)
    ev["order_id"][0::2] = k + 1                         # rest, then fill or cancel it
    ev["kind"][0::2] = 1
    ev["side"], ev["price"], ev["qty"] = 1, 100, 5
    ev["other_id"][1::2] = k + 1
    ev["kind"][1::2] = np.where(k % 2, 2, 3)
    ev["order_id"][1::2] = np.where(k % 2, 0, k + 1)
    data, count = enc.encode(ev, 1)
    reader = RawSoup()
    reader.logged_in.set_result(None)
    view = memoryview(data)
    t0 = time.perf_counter_ns()
    for at in range(0, len(data), 65536):
        reader.data_received(bytes(view[at:at + 65536]))
    elapsed = (time.perf_counter_ns() - t0) / 1e9
    if reader.messages() != count:
        raise LoadError(f"client_parse: counted {reader.messages()} of {count} messages")
    return count / elapsed


async def feed_snapshot(oe_port: int, feed_port: int, s: int, orders: int, first_ref: int,
                        build: bool) -> float:
    if build:
        mm = await connect(oe_port, "PERF1")
        dt = schema.framed_dtype("ouch", "client", "EnterOrder")
        r = np.zeros(orders, dtype=dt)
        r["soup_len"], r["soup_type"], r["type"] = dt.itemsize - 2, b"U", b"O"
        k = np.arange(orders)
        r["UserRefNum"] = first_ref + k
        r["Side"] = np.where(k % 2, b"S", b"B")
        r["Quantity"] = 1
        r["Symbol"] = np.array([f"S{i % 10:03d}".encode() for i in range(10)])[k % 10]
        r["Price"] = np.where(k % 2, MID + (1 + k % 500) * TICK, MID - (1 + k % 500) * TICK)
        r["TimeInForce"], r["Display"], r["Capacity"] = b"0", b"Y", b"P"
        r["InterMarketSweepEligibility"], r["CrossType"], r["ClOrdID"] = b"N", b"N", b" " * 14
        done = mm.until(ACK_TYPES, orders)
        raw = r.tobytes()
        step = 1000 * dt.itemsize
        for at in range(0, len(raw), step):
            mm.transport.write(raw[at:at + step])
            await asyncio.sleep(0)
        await asyncio.wait_for(done, 120)
        mm.transport.close()
        await asyncio.sleep(0.5)
    subs = await subscribers(feed_port, s)
    # the snapshot holds the `orders` and whatever else rests: wait until every subscriber has
    # the orders and nothing more arrives
    seen = -1
    for _ in range(6000):
        now = sum(p.messages() for p in subs)
        if now == seen and all(p.messages() >= orders for p in subs):
            break
        seen = now
        await asyncio.sleep(0.05)
    rate = per_subscriber_rate(subs)
    for p in subs:
        p.transport.close()
    return rate


# -- the benchmark -------------------------------------------------------------------------------

def run(args: argparse.Namespace) -> Report:
    import uvloop
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    report = BinaryReport("binary", settings={
        "modes": modes, "round_trips": args.round_trips, "orders": args.orders,
        "window": args.window, "feed_mode": args.feed_mode, "feed_seconds": args.feed_seconds,
        "quote_instruments": args.quote_instruments, "snapshot_orders": args.snapshot_orders,
        "parse_messages": args.parse_messages,
        "batch_interval_ms": args.batch_interval_ms,
        "clients": "order_ack: C (perf/soup_pingpong.c, blocking, TCP_NODELAY); the others and "
                   "order_ack_python: uvloop asyncio in the benchmark process; "
                   "server: ordex serve (own process)"})
    work = args.dir or Path(tempfile.mkdtemp(prefix="ordex-perf-binary-"))
    work.mkdir(parents=True, exist_ok=True)
    instruments = max(args.quote_instruments, 10)
    enter = schema.framed_dtype("ouch", "client", "EnterOrder")
    c_client = None
    if not {"order_ack", "loopback_floor"} <= skip:
        c_client = binary_client.compile_client(work)
    try:
        if "loopback_floor" not in skip:
            lat = binary_client.loopback_floor(c_client, args.round_trips, enter.itemsize, work)
            report.add_latency("loopback.floor", lat[len(lat) // 10:], unit="us")
        for mode in modes:
            if {"order_ack", "order_ack_python", "pipelined"} <= skip:
                break
            with BinaryServer(work / mode, mode, instruments, args.batch_interval_ms) as srv:
                n = args.round_trips if mode != "fsync" else min(args.round_trips, 2000)
                if "order_ack" not in skip:
                    lat = binary_client.order_ack(
                        c_client, srv.port, soup.login_request("PERF1", PASSWORD),
                        encode_orders(1, n, "S000"), enter.fields["UserRefNum"][1], work)
                    report.add_latency(f"{mode}.order_ack", lat[n // 10:], unit="us")
                if "order_ack_python" not in skip:
                    # UserRefNums after the C client's (a user's must keep increasing)
                    lat = uvloop.run(order_ack(srv.port, n, n + 1))
                    report.add_latency(f"{mode}.order_ack_python", lat[n // 10:], unit="us")
                if "pipelined" not in skip:
                    report.add(f"{mode}.pipelined.throughput", "/s",
                               uvloop.run(pipelined(srv.port, args.orders, args.window, 10_000_000)))
        if not {"feed_live", "feed_live_orders", "feed_snapshot"} <= skip and "feed" not in skip:
            with BinaryServer(work / "feed", args.feed_mode, instruments,
                              args.batch_interval_ms) as srv:
                ref = ref2 = 1
                for s in SUBSCRIBERS if "feed_live" not in skip else ():
                    rate, sides, ref = uvloop.run(feed_live(
                        srv.port, srv.feed_port, s, args.feed_seconds, args.quote_instruments,
                        ref))
                    report.add(f"feed.live_{s}.throughput", "/s", rate)
                    report.add(f"feed.live_{s}.quote_sides", "/s", sides)
                for s in SUBSCRIBERS if "feed_live_orders" not in skip else ():
                    rate, orders, ref2 = uvloop.run(feed_live_orders(
                        srv.port, srv.feed_port, s, args.feed_seconds, args.window, ref2))
                    report.add(f"feed.live_orders_{s}.throughput", "/s", rate)
                    report.add(f"feed.live_orders_{s}.orders", "/s", orders)
                for k, s in enumerate(SUBSCRIBERS if "feed_snapshot" not in skip else ()):
                    rate = uvloop.run(feed_snapshot(srv.port, srv.feed_port, s,
                                                    args.snapshot_orders, 50_000_000, k == 0))
                    report.add(f"feed.snapshot_{s}.throughput", "/s", rate)
        if "client_parse" not in skip:
            report.add("feed.client_parse.throughput", "/s",
                       uvloop.run(client_parse(args.parse_messages)))
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    report.evaluate_targets()
    return report

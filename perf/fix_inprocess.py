"""ordex's FIX order path inside one process, for measuring what each order costs the server
(bench/test_fix.py): the real Server and FixGateway on a uvloop loop the caller drives, a
loopback client in the same loop, and the stages of the path callable one by one.

    rig = InProcessRig(workdir, durability="none")
    rig.round_trip(rig.new_orders(200))     # 200 NewOrderSingles in, until their 200 acks are out
    msgs = rig.parse(rig.detached_orders(200)); rig.translate(msgs); rig.submit()
    rig.report(rig.captured_events(200)); rig.drain()
    rig.close()

The stages, in the order an order meets them (the rest of the round trip is the session layer,
the event loop, the journal's hand-offs and the sockets):
    parse      FixParser.parse with the session's dictionary validation
    translate  FixApplication.on_messages: messages -> commands, queued for the iteration's batch
    submit     FixApplication.flush: the batch to Server.submit (sequencer stamp, journal
               append, engine: risk, lifecycle, book, accounts), events held
    report     FixApplication.on_events: engine events -> ExecutionReports through the session
               (encode, message store, output buffer)
"""
from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import numpy as np

from ordex.core import fixdict
from ordex.gateway import config as config_mod
from ordex.gateway.fix.gateway import FixGateway
from ordex.gateway.fix.session import utc_stamp
from ordex.gateway.server import Server
from ordex.perf import fix_ordex

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a runtime dependency
    uvloop = None

CLIENT, ACCOUNT, SYMBOL = fix_ordex.session_names(1)[0]
_ACK = b"\x01150=0\x01"


def frame(body: bytes) -> bytes:
    """A FIX 4.4 message around body (from 35= on, SOH-terminated)."""
    head = b"8=FIX.4.4\x019=%d\x01" % len(body)
    return head + body + b"10=%03d\x01" % ((sum(head) + sum(body)) & 255)


class _Client(asyncio.Protocol):
    def __init__(self):
        self.transport = None
        self.acks = 0
        self._tail = b""
        self.received = bytearray()
        self.keep = False
        self.waiter: asyncio.Future | None = None
        self.want = 0

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        chunk = self._tail + data
        self.acks += chunk.count(_ACK)
        self._tail = chunk[-(len(_ACK) - 1):]
        if self.keep:
            self.received += data
        if self.waiter is not None and not self.waiter.done() and self.acks >= self.want:
            self.waiter.set_result(None)


class InProcessRig:
    def __init__(self, workdir: Path, durability: str = "none"):
        if uvloop is None:
            raise RuntimeError("uvloop is needed for the in-process rig")
        self.loop = uvloop.new_event_loop()
        text = fix_ordex.server_config(0, durability, 1)
        cfg = config_mod.parse(text, source="in-process rig", base_dir=Path(workdir))
        self.server = Server(cfg, loop=self.loop)
        self.gateway = FixGateway(cfg)
        self.server.gateways.append(self.gateway)
        self.loop.run_until_complete(self.server.start())
        self.app = self.gateway.app
        self._captured: list | None = None
        self.server.subscribe(self._capture)
        self.sid = self.app.session_ids[CLIENT]
        self.mix = fix_ordex.order_mix(ACCOUNT, SYMBOL)
        self._seq = itertools.count(2)
        self._ids = itertools.count(1)
        self.parser = fixdict.load("FIX.4.4").parser()
        _, self.client = self.loop.run_until_complete(
            self.loop.create_connection(_Client, "127.0.0.1", self.gateway.port))
        self.client.keep = True
        self._send(frame(b"35=A\x0134=1\x0149=%s\x0156=ORDEX\x0152=%s\x0198=0\x01108=30\x01141=Y\x01"
                         % (CLIENT.encode(), self._stamp())))
        self._wait(lambda: b"\x0135=A\x01" in self.client.received, "Logon answer")
        self.client.keep = False

    def _stamp(self) -> bytes:
        return utc_stamp(self.server.clock_ns())

    def _send(self, data: bytes) -> None:
        self.client.transport.write(data)

    def _wait(self, done, what: str, timeout_s: float = 10.0) -> None:
        async def poll():
            while not done():
                await asyncio.sleep(0.0005)
        try:
            self.loop.run_until_complete(asyncio.wait_for(poll(), timeout_s))
        except asyncio.TimeoutError:
            raise RuntimeError(f"in-process rig: no {what} within {timeout_s} s") from None

    # -- inputs ---------------------------------------------------------------------------------
    def new_orders(self, n: int) -> bytes:
        """n NewOrderSingles of the perf mix with fresh MsgSeqNums and ClOrdIDs, one buffer."""
        stamp = self._stamp()
        out = []
        for _ in range(n):
            i = next(self._ids)
            tail = self.mix[i % len(self.mix)].replace("|", "\x01").encode()
            out.append(frame(b"35=D\x0134=%d\x0149=%s\x0156=ORDEX\x0152=%s\x0111=R%d\x01%s%s\x01"
                             % (next(self._seq), CLIENT.encode(), stamp, i, tail, stamp)))
        return b"".join(out)

    def detached_orders(self, n: int) -> bytes:
        """Like new_orders, but from a sequence the live session never sees (for stage
        benchmarks that parse or translate without sending)."""
        stamp = self._stamp()
        out = []
        for k in range(n):
            i = next(self._ids)
            tail = self.mix[i % len(self.mix)].replace("|", "\x01").encode()
            out.append(frame(b"35=D\x0134=%d\x0149=%s\x0156=ORDEX\x0152=%s\x0111=X%d\x01%s%s\x01"
                             % (k + 1, CLIENT.encode(), stamp, i, tail, stamp)))
        return b"".join(out)

    # -- the whole path -------------------------------------------------------------------------
    def round_trip(self, data: bytes) -> int:
        """Send the orders in data at once; return when every one is acknowledged."""
        n = data.count(b"\x0135=D\x01")
        c = self.client
        c.want = c.acks + n
        c.waiter = self.loop.create_future()
        self._send(data)
        self.loop.run_until_complete(asyncio.wait_for(c.waiter, 30))
        return n

    # -- the stages -----------------------------------------------------------------------------
    def parse(self, data: bytes) -> list:
        msgs, _ = self.parser.parse(data)
        return msgs

    def translate(self, msgs: list) -> None:
        """Hand the messages to the application as the session does with a run of in-sequence
        order entry messages (Application.on_messages): translated into commands in one call
        and queued for the next batch."""
        self.app.on_messages(self.app.live[self.sid], msgs, 0, len(msgs))

    def submit(self) -> None:
        """Submit the queued commands as the application does at the end of a loop iteration:
        one batch to Server.submit (sequencer, journal append, engine).  Their events go out
        when the loop next runs (drain())."""
        self.app.flush()

    def captured_events(self, n: int) -> np.ndarray:
        """The engine events of n fresh orders of the mix (sent through the whole path once)."""
        self._captured = []
        self.round_trip(self.new_orders(n))
        self.drain()
        events, self._captured = np.concatenate(self._captured), None
        return events

    def _capture(self, events: np.ndarray) -> None:
        if self._captured is not None:
            self._captured.append(events.copy())

    def report(self, events: np.ndarray) -> None:
        self.app.on_events(events)

    def drain(self) -> None:
        """Let the loop run until the output of report() has reached the client."""
        self.loop.run_until_complete(asyncio.sleep(0.001))

    def close(self) -> None:
        self.client.transport.close()
        self.loop.run_until_complete(self.server.stop())
        self.loop.close()

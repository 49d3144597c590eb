"""asyncio clients for ordex's binary API: OUCH 5.0 order entry and the ITCH 5.0 feed, both over
SoupBinTCP.  Importable as `ordex.gateway.client` (OuchClient, ItchClient).

    c = await OuchClient.connect("127.0.0.1", 9880)
    await c.login("MM1", "demo")
    c.enter(1, "B", 100, "MSFT", 1500000)            # price with 4 implied decimals: 150.0000
    msg = await c.expect("OrderAccepted")            # {"type": "OrderAccepted", "UserRefNum": 1, ...}

Messages are decoded through the same schema the server encodes with (gateway/binary/schema.py).
Received Sequenced Data is counted (`next_seq`), so a client that reconnects can log in with the
next sequence number it expects and receive what it missed.
"""
from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable, Iterable

from ordex.gateway.binary import schema, soup

_HEAD = struct.Struct(">H")


class LoginRejected(ConnectionError):
    def __init__(self, code: bytes):
        super().__init__(f"login rejected: {code!r}")
        self.code = code


class _Protocol(asyncio.Protocol):
    def __init__(self, client: SoupClient):
        self.client = client
        self.buf = b""

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.client.transport = transport

    def data_received(self, data: bytes) -> None:
        c = self.client
        if c.raw_sink is not None and c.logged_in:
            c.raw_sink(data)
            return
        buf = self.buf + data if self.buf else data
        n, i = len(buf), 0
        while n - i >= 2:
            end = i + 2 + ((buf[i] << 8) | buf[i + 1])
            if end > n:
                break
            c._packet(buf[i + 2:i + 3], buf[i + 3:end])
            i = end
            if c.raw_sink is not None and c.logged_in:
                rest = buf[i:]
                self.buf = b""
                if rest:
                    c.raw_sink(rest)
                return
        self.buf = buf[i:]

    def connection_lost(self, exc) -> None:
        self.client._lost(exc)


class SoupClient:
    """SoupBinTCP client: login, heartbeats, sequenced messages into a queue."""

    def __init__(self):
        self.transport: asyncio.Transport | None = None
        self.queue: asyncio.Queue = asyncio.Queue()
        self.session = ""
        self.next_seq = 1
        self.logged_in = False
        self.closed = asyncio.get_running_loop().create_future()
        self.raw_sink: Callable[[bytes], None] | None = None
        self.debug: list[bytes] = []
        self.ended = False
        self._login: asyncio.Future | None = None
        self._beat: asyncio.Task | None = None

    @classmethod
    async def connect(cls, host: str, port: int, **kwargs):
        self = cls(**kwargs)
        loop = asyncio.get_running_loop()
        await loop.create_connection(lambda: _Protocol(self), host, port)
        return self

    async def login(self, username: str, password: str, session: str = "",
                    sequence: int = 0, timeout: float = 10.0) -> int:
        """Log in; returns the sequence number of the next message the server will send."""
        self._login = asyncio.get_running_loop().create_future()
        self.transport.write(soup.login_request(username, password, session, sequence))
        await asyncio.wait_for(self._login, timeout)
        self.logged_in = True
        self._beat = asyncio.get_running_loop().create_task(self._heartbeats())
        return self.next_seq

    async def _heartbeats(self) -> None:
        while not self.transport.is_closing():
            await asyncio.sleep(1.0)
            self.transport.write(soup.CLIENT_HEARTBEAT)

    def _packet(self, ptype: bytes, payload: bytes) -> None:
        if ptype == b"S":
            self.next_seq += 1
            self.queue.put_nowait(self.decode(payload))
        elif ptype == b"A":
            self.session = payload[:10].decode().strip()
            self.next_seq = int(payload[10:30])
            if self._login and not self._login.done():
                self._login.set_result(None)
        elif ptype == b"J":
            if self._login and not self._login.done():
                self._login.set_exception(LoginRejected(payload[:1]))
        elif ptype == b"+":
            self.debug.append(payload)
            self.queue.put_nowait({"type": "Debug", "text": payload})
        elif ptype == b"Z":
            self.ended = True
            self.queue.put_nowait({"type": "EndOfSession"})

    def decode(self, payload: bytes) -> dict:
        return {"type": "?", "raw": payload}

    def _lost(self, exc) -> None:
        if self._beat is not None:
            self._beat.cancel()
        if self._login and not self._login.done():
            self._login.set_exception(ConnectionError(f"connection lost before login: {exc}"))
        if not self.closed.done():
            self.closed.set_result(exc)
        self.queue.put_nowait({"type": "Closed"})

    async def next(self, timeout: float = 10.0) -> dict:
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def expect(self, name: str, timeout: float = 10.0, **fields) -> dict:
        """The next message named `name`, skipping others (heartbeat-free); fields must match."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            msg = await self.next(max(deadline - loop.time(), 0.001))
            if msg["type"] == "Closed":
                raise ConnectionError(f"connection closed while waiting for {name}")
            if msg["type"] == name and all(msg.get(k) == v for k, v in fields.items()):
                return msg

    def drain(self) -> list[dict]:
        out = []
        while not self.queue.empty():
            out.append(self.queue.get_nowait())
        return out

    def send_raw(self, data: bytes) -> None:
        self.transport.write(data)

    def logout(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(soup.LOGOUT_REQUEST)

    def close(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
        if self.transport is not None:
            self.transport.close()


class OuchClient(SoupClient):
    """OUCH 5.0 (+ ordex extensions).  Prices are integers with 4 implied decimals."""

    def __init__(self, dialect: str = "nasdaq"):
        super().__init__()
        self.dialect = dialect
        lay = lambda s, n: schema.layout("ouch", s, n, dialect)  # noqa: E731
        self._enter = lay("client", "EnterOrder")
        self._replace = lay("client", "ReplaceOrder")
        self._cancel = lay("client", "CancelOrder")
        self._quote = lay("client", "MassQuote")
        self._entry = schema.layout("group", "client", "QuoteEntry", dialect)
        self._mass = lay("client", "MassCancel")
        self._out = {m.type: lay("server", m.name) for m in schema.OUCH_OUT}

    def decode(self, payload: bytes) -> dict:
        lay = self._out.get(payload[:1])
        if lay is None or len(payload) < lay.size:
            return {"type": "?", "raw": payload}
        msg = {"type": lay.message.name, **lay.unpack(payload)}
        if lay.message.tail == "appendage":
            msg["appendage"] = payload[lay.size:]
        return msg

    @staticmethod
    def _u(message: bytes) -> bytes:
        return _HEAD.pack(len(message) + 1) + b"U" + message

    def enter_bytes(self, ref: int, side: str, qty: int, symbol: str, price: int, tif: str = "0",
                    display: str = "Y", clordid: str = "", appendage: bytes = b"") -> bytes:
        return self._u(self._enter.pack(
            UserRefNum=ref, Side=side, Quantity=qty, Symbol=symbol, Price=price, TimeInForce=tif,
            Display=display, Capacity="P", InterMarketSweepEligibility="N", CrossType="N",
            ClOrdID=clordid, AppendageLength=len(appendage)) + appendage)

    def enter(self, *args, **kwargs) -> None:
        self.transport.write(self.enter_bytes(*args, **kwargs))

    def replace(self, orig: int, new: int, qty: int, price: int, clordid: str = "",
                display: str = "Y") -> None:
        self.transport.write(self._u(self._replace.pack(
            OrigUserRefNum=orig, UserRefNum=new, Quantity=qty, Price=price, TimeInForce="0",
            Display=display, InterMarketSweepEligibility="N", ClOrdID=clordid,
            AppendageLength=0)))

    def cancel_bytes(self, ref: int, qty: int = 0) -> bytes:
        return self._u(self._cancel.pack(UserRefNum=ref, Quantity=qty))

    def cancel(self, ref: int, qty: int = 0) -> None:
        self.transport.write(self.cancel_bytes(ref, qty))

    def mass_quote_bytes(self, quote_id: int,
                         entries: Iterable[tuple[str, int, int, int, int, int, int]]) -> bytes:
        """entries: (symbol, bid ref, bid price, bid qty, ask ref, ask price, ask qty)."""
        body = [self._entry.pack(Symbol=s, BidUserRefNum=br, BidPrice=bp, BidQuantity=bq,
                                 AskUserRefNum=ar, AskPrice=ap, AskQuantity=aq)
                for s, br, bp, bq, ar, ap, aq in entries]
        return self._u(self._quote.pack(QuoteId=quote_id, Count=len(body)) + b"".join(body))

    def mass_quote(self, quote_id: int, entries) -> None:
        self.transport.write(self.mass_quote_bytes(quote_id, entries))

    def mass_cancel(self, request_id: int, symbol: str = "") -> None:
        self.transport.write(self._u(self._mass.pack(RequestId=request_id, Symbol=symbol)))

    def protection_reset(self) -> None:
        self.transport.write(self._u(b"r"))


class ItchClient(SoupClient):
    """ITCH 5.0 feed subscriber.  With `record`, every ITCH message received is also appended to
    that file with a 2-byte length prefix (the usual ITCH file format)."""

    def __init__(self, record: str | None = None):
        super().__init__()
        self._in = {m.type: schema.layout("itch", "server", m.name) for m in schema.ITCH}
        self._record = open(record, "wb") if record else None
        self.messages = 0

    def decode(self, payload: bytes) -> dict:
        self.messages += 1
        if self._record is not None:
            self._record.write(_HEAD.pack(len(payload)) + payload)
        lay = self._in.get(payload[:1])
        if lay is None or len(payload) != lay.size:
            return {"type": "?", "raw": payload}
        return {"type": lay.message.name, **lay.unpack(payload)}

    def close(self) -> None:
        super().close()
        if self._record is not None:
            self._record.close()
            self._record = None

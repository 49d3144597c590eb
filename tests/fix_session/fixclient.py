"""Test peers for the FIX session layer: a FIX client built on simplefix (not on our codec), a
tiny Application that acknowledges orders, and an acceptor started on a loopback port."""
from __future__ import annotations

import asyncio
import contextlib
import time

import simplefix

from ordex.gateway.fix.session import FixAcceptor, SessionSettings, session_template

HEADER_TAGS = (8, 9, 35, 49, 56, 34, 52, 43, 97, 122)


def settings(name="s1", sender="ORDEX", target="CLIENT", **kw) -> SessionSettings:
    kw.setdefault("begin_string", "FIX.4.4")
    return SessionSettings(name=name, sender_comp_id=sender, target_comp_id=target, **kw)


@contextlib.asynccontextmanager
async def serve_acceptor(tmp_path, app, sessions=None, **kw):
    """A FixAcceptor on 127.0.0.1:<free port>; yields (acceptor, port)."""
    acceptor = FixAcceptor(sessions or [settings()], tmp_path / "store", app, **kw)
    server = await acceptor.serve("127.0.0.1", 0)
    try:
        yield acceptor, server.sockets[0].getsockname()[1]
    finally:
        await acceptor.close(timeout_s=0.1)


class FixClient:
    """A FIX initiator driven step by step by the test."""

    def __init__(self, reader, writer, begin="FIX.4.4", sender="CLIENT", target="ORDEX"):
        self.reader, self.writer = reader, writer
        self.begin, self.sender, self.target = begin, sender, target
        self.seq = 1
        self.parser = simplefix.FixParser()
        self.received: list[simplefix.FixMessage] = []

    @classmethod
    async def connect(cls, port, **kw) -> FixClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer, **kw)

    def encode(self, msg_type, fields=(), *, seq=None, sending_time_ns=None, possdup=False,
               orig_sending_time=None, sender=None, target=None, begin=None) -> bytes:
        m = simplefix.FixMessage()
        m.append_pair(8, begin or self.begin, header=True)
        m.append_pair(35, msg_type, header=True)
        m.append_pair(49, sender or self.sender, header=True)
        m.append_pair(56, target or self.target, header=True)
        if seq is None:
            seq = self.seq
            self.seq += 1
        m.append_pair(34, seq, header=True)
        if possdup:
            m.append_pair(43, "Y", header=True)
        ts = time.time_ns() if sending_time_ns is None else sending_time_ns
        m.append_pair(52, _stamp(ts), header=True)
        if orig_sending_time is not None:
            m.append_pair(122, _stamp(orig_sending_time), header=True)
        for tag, value in fields:
            m.append_pair(tag, value)
        return m.encode()

    async def send(self, msg_type, fields=(), **kw) -> bytes:
        raw = self.encode(msg_type, fields, **kw)
        self.writer.write(raw)
        await self.writer.drain()
        return raw

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def recv(self, timeout=5.0):
        """The next message, or None when the server closed the connection."""
        while True:
            m = self.parser.get_message()
            if m is not None:
                self.received.append(m)
                return m
            try:
                data = await asyncio.wait_for(self.reader.read(65536), timeout)
            except (ConnectionResetError, BrokenPipeError):
                return None
            if not data:
                return None
            self.parser.append_buffer(data)

    async def expect(self, msg_type, timeout=5.0, skip=(b"0",)):
        """The next message that is not a Heartbeat; it must be of msg_type."""
        msg_type = _b(msg_type)
        while True:
            m = await self.recv(timeout)
            assert m is not None, f"connection closed while waiting for {msg_type!r}"
            if m.message_type in skip and msg_type not in skip:
                continue
            assert m.message_type == msg_type, f"expected {msg_type!r}, got {fmt(m)}"
            return m

    async def expect_closed(self, timeout=5.0) -> list:
        """Read until the server closes; return what came before."""
        got = []
        while True:
            m = await self.recv(timeout)
            if m is None:
                return got
            got.append(m)

    async def logon(self, hb=30, reset=False, username=None, password=None, seq=None, **kw):
        fields = [(98, 0), (108, hb)]
        if reset:
            fields.append((141, "Y"))
        if username is not None:
            fields.append((553, username))
        if password is not None:
            fields.append((554, password))
        await self.send("A", fields, seq=seq, **kw)
        return await self.expect("A")

    async def order(self, clordid, symbol="AAPL", side="1", qty="100", price="10.5", **kw):
        handl_inst = [(21, "1")] if self.begin == "FIX.4.2" else []     # required in 4.2
        return await self.send("D", [(11, clordid)] + handl_inst + [
            (55, symbol), (54, side), (60, _stamp(time.time_ns())), (38, qty), (40, "2"),
            (44, price)], **kw)

    async def logout(self):
        await self.send("5")
        m = await self.expect("5")
        assert await self.expect_closed() == []
        return m

    def close(self):
        self.writer.close()


class EchoApp:
    """Acknowledges every NewOrderSingle with an ExecutionReport (ExecType New); answers
    OrderStatusRequest (H) with a BusinessMessageReject; reads a missing field of an
    OrderCancelRequest (F), raising FieldError; raises RuntimeError on a cancel/replace (G)."""

    ER = session_template(b"8", [(37, "str"), (11, "bytes"), (17, "str"), (150, "char"),
                                 (39, "char"), (55, "bytes"), (54, "char"), (38, "bytes"),
                                 (151, "bytes"), (14, "int"), (6, "int"), (60, "timestamp", 6)])
    # FIX 4.2: ExecTransType (20) is required; timestamps have milliseconds.
    ER42 = session_template(b"8", [(37, "str"), (11, "bytes"), (17, "str"), (20, "char"),
                                   (150, "char"), (39, "char"), (55, "bytes"), (54, "char"),
                                   (38, "bytes"), (151, "bytes"), (14, "int"), (6, "int"),
                                   (60, "timestamp", 3)])

    def __init__(self):
        self.logons: list[str] = []
        self.logouts: list[tuple[str, str]] = []
        self.messages: list[tuple[str, bytes, int, bytes]] = []
        self.exec_id = 0

    def on_logon(self, session):
        self.logons.append(session.name)

    def on_logout(self, session, reason):
        self.logouts.append((session.name, reason))

    def on_message(self, session, msg):
        self.messages.append((session.name, msg.msg_type, msg.get_int(34), msg.get_bytes(11, b"")))
        if msg.msg_type == b"D":
            self.exec_id += 1
            n = self.exec_id
            if session.settings.begin_string == "FIX.4.2":
                session.send_template(self.ER42, (
                    f"O{n}", msg.get_bytes(11), f"E{n}", "0", "0", "0", msg.get_bytes(55),
                    msg.get_char(54), msg.get_bytes(38), msg.get_bytes(38), 0, 0, time.time_ns()))
            else:
                session.send_template(self.ER, (
                    f"O{n}", msg.get_bytes(11), f"E{n}", "0", "0", msg.get_bytes(55),
                    msg.get_char(54), msg.get_bytes(38), msg.get_bytes(38), 0, 0, time.time_ns()))
        elif msg.msg_type == b"H":
            session.business_reject(msg, 3, "unsupported", ref_id=msg.get_bytes(11))
        elif msg.msg_type == b"F":
            msg.get_int(9999)
        elif msg.msg_type == b"G":
            raise RuntimeError("bug in the application")

    def clordids(self):
        return [c for _, t, _, c in self.messages if t == b"D"]


def _stamp(ts_ns: int) -> str:
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(ts_ns // 10**9)) + \
        ".%03d" % (ts_ns // 10**6 % 1000)


def _b(v) -> bytes:
    return v if isinstance(v, bytes) else v.encode()


def fmt(m) -> str:
    return "|".join(f"{t.decode() if isinstance(t, bytes) else t}={v.decode('latin-1')}"
                    for t, v in m.pairs) if m is not None else "None"

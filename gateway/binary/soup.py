"""SoupBinTCP 3.0, server side: packet framing, the connection state machine, heartbeats.

A connection is a state (AWAIT_LOGIN -> AUTHENTICATING -> ACTIVE -> CLOSED) plus a dispatcher.
Before login the connection handles packets itself: the first one must be a well-formed Login
Request, anything else is answered with a Debug packet naming the problem and the connection is
closed.  Once the application accepts the login, every complete packet is handed to it
(`on_data`), which consumes what it understands; a packet it cannot frame raises ProtocolError,
answered the same way.  Packets longer than the configured maximum, of length 0, or of a type the
client may not send are protocol errors: the length field cannot be trusted after them, so the
connection ends there.  Nothing a client sends can raise out of `data_received`: an unexpected
exception is logged, the client gets a Debug packet, and only that connection closes.

Heartbeats (one timer per listener, `Listener.tick`): a Server Heartbeat goes out after
heartbeat_ms without output; a connection without any inbound packet for idle_timeout_s is
closed.  Output is bounded: when the bytes waiting in a connection's transport exceed
max_buffer_bytes, the connection is closed (the application's on_close then runs, e.g. cancel on
disconnect) instead of letting memory grow; a listener may also fix the kernel's send buffer
per connection (the feed does), so that the kernel cannot hold megabytes for a stalled reader.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable

from ordex.gateway.binary import schema

log = logging.getLogger("ordex.binary.soup")

AWAIT_LOGIN, AUTHENTICATING, ACTIVE, CLOSED = range(4)
STATE_NAMES = ("await-login", "authenticating", "active", "closed")

HEADER = struct.Struct(">H")
LOGIN = schema.layout("soup", "client", "LoginRequest")
LOGIN_ACCEPTED = schema.layout("soup", "server", "LoginAccepted")
SERVER_HEARTBEAT = b"\x00\x01H"
END_OF_SESSION = b"\x00\x01Z"
CLIENT_HEARTBEAT = b"\x00\x01R"
LOGOUT_REQUEST = b"\x00\x01O"


class ProtocolError(Exception):
    """The client broke the framing or the protocol: answered with Debug, then closed."""


def packet(ptype: bytes, payload: bytes = b"") -> bytes:
    return HEADER.pack(len(payload) + 1) + ptype + payload


def sequenced(message: bytes) -> bytes:
    return HEADER.pack(len(message) + 1) + b"S" + message


def debug(text: str) -> bytes:
    return packet(b"+", text.encode("ascii", "replace")[:1000])


def login_accepted(session: str, next_seq: int) -> bytes:
    return packet(b"A", session.encode("ascii").ljust(10)[:10] + str(next_seq).encode().rjust(20))


def login_rejected(code: bytes) -> bytes:
    return packet(b"J", code)


def login_request(username: str, password: str, session: str = "", sequence: int = 0) -> bytes:
    return packet(b"L", LOGIN.pack(Username=username, Password=password, RequestedSession=session,
                                   RequestedSequenceNumber=str(sequence))[1:])


def parse_login(payload: bytes) -> tuple[str, str, str, int]:
    """(username, password, session, requested sequence) of a Login Request payload (type byte
    included); alpha fields are stripped on both sides since some clients right-justify them."""
    if len(payload) != LOGIN.size:
        raise ProtocolError(f"Login Request of {len(payload)} bytes, expected {LOGIN.size}")
    _, user, password, session, seq = LOGIN.struct.unpack(payload)
    try:
        text = [v.decode("ascii").strip() for v in (user, password, session)]
        seq_text = seq.decode("ascii").strip()
        number = int(seq_text) if seq_text else 0
    except (UnicodeDecodeError, ValueError):
        raise ProtocolError("Login Request: fields must be ASCII and the sequence number digits") \
            from None
    if number < 0:
        raise ProtocolError("Login Request: negative sequence number")
    return text[0], text[1], text[2], number


def split_packets(buf: bytes, start: int, max_packet: int) -> tuple[list[tuple[int, int]], int]:
    """Complete packets from `start`: [(offset of the type byte, end)], and where parsing stopped
    (at a partial packet or the end).  Raises ProtocolError on a length of 0 or above max."""
    out = []
    n = len(buf)
    i = start
    while n - i >= 2:
        length = (buf[i] << 8) | buf[i + 1]
        if length == 0 or length > max_packet:
            raise ProtocolError(f"packet length {length} at offset {i}: must be 1..{max_packet}")
        end = i + 2 + length
        if end > n:
            break
        out.append((i + 2, end))
        i = end
    return out, i


class SoupConnection(asyncio.Protocol):
    """One client connection.  `app` is the listener's application (order entry or feed)."""

    def __init__(self, listener: Listener):
        self.listener = listener
        self.app = listener.app
        self.loop = listener.loop
        self.state = AWAIT_LOGIN
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.user = None                 # set by the application on login
        self.buf = b""
        self.last_in = self.last_out = self.loop.time()
        self.close_reason = ""
        self._drain: asyncio.Future | None = None

    # -- asyncio.Protocol -----------------------------------------------------------------------
    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self.listener.sndbuf:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.listener.sndbuf)
            except OSError:
                pass
        self.listener.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self.state == CLOSED:
            return
        self.last_in = self.loop.time()
        self.buf = self.buf + data if self.buf else data
        if self.state == AUTHENTICATING:
            if len(self.buf) > 4 * self.app.max_packet:
                self.fail("too much input before the login was decided")
            return
        try:
            self._process()
        except ProtocolError as e:
            self.fail(str(e))
        except Exception:   # noqa: BLE001 - one connection's bad bytes must not reach the loop
            log.exception("%s: unexpected error handling input", self)
            self.fail("internal error handling this input; see the server log")

    def pause_writing(self) -> None:
        if self._drain is None or self._drain.done():
            self._drain = self.loop.create_future()

    def resume_writing(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    async def drained(self) -> None:
        """Until the transport's buffer is below its low-water mark (replay flow control)."""
        if self._drain is not None and not self._drain.done():
            await self._drain

    def connection_lost(self, exc) -> None:
        self.resume_writing()
        was = self.state
        self.state = CLOSED
        self.listener.connections.discard(self)
        reason = self.close_reason or (f"connection lost: {exc}" if exc else "peer closed")
        if was == ACTIVE:
            try:
                self.app.on_close(self, reason)
            except Exception:  # noqa: BLE001
                log.exception("%s: on_close failed", self)

    # -- input ----------------------------------------------------------------------------------
    def _process(self) -> None:
        buf = self.buf
        if self.state == AWAIT_LOGIN:
            if len(buf) < 3:
                return
            length = (buf[0] << 8) | buf[1]
            if buf[2:3] != b"L":
                raise ProtocolError(f"expected a Login Request (L), got packet type {buf[2:3]!r}")
            if length != LOGIN.size:
                raise ProtocolError(f"Login Request of {length} bytes, expected {LOGIN.size}")
            if len(buf) < 2 + length:
                return
            username, password, session, seq = parse_login(buf[2:2 + length])
            self.buf = buf[2 + length:]
            self.state = AUTHENTICATING
            self.app.begin_login(self, username, password, session, seq)
            return
        if self.state == ACTIVE:
            used = self.app.on_data(self, buf)
            self.buf = buf[used:] if used < len(buf) else b""
            if len(self.buf) > 2 + self.app.max_packet:
                raise ProtocolError("partial packet longer than the maximum")

    # -- called by the application ---------------------------------------------------------------
    def accept(self, user, greeting: bytes) -> None:
        """Login accepted: send `greeting` (Login Accepted + whatever follows), go ACTIVE and
        process input that arrived meanwhile."""
        if self.state != AUTHENTICATING:
            return
        self.user = user
        self.state = ACTIVE
        self.write(greeting)
        if self.buf and self.state == ACTIVE:
            try:
                self._process()
            except ProtocolError as e:
                self.fail(str(e))

    def reject(self, code: bytes, why: str) -> None:
        if self.state == CLOSED:
            return
        log.info("%s: login rejected (%s): %s", self, code.decode(), why)
        self.close_reason = f"login rejected: {why}"
        self.write(login_rejected(code))
        self.state = CLOSED
        self.transport.close()

    def write(self, data) -> None:
        if self.state == CLOSED or self.transport is None or self.transport.is_closing():
            return
        self.transport.write(data)
        self.last_out = self.loop.time()
        if self.transport.get_write_buffer_size() > self.listener.max_buffer_bytes:
            log.warning("%s: output buffer above %d bytes: disconnecting a client that does not "
                        "read fast enough", self, self.listener.max_buffer_bytes)
            self.close(f"output buffer above {self.listener.max_buffer_bytes} bytes "
                       "(client not reading fast enough)", abort=True)

    def fail(self, why: str) -> None:
        """A protocol error: explain with a Debug packet, then close."""
        if self.state == CLOSED:
            return
        log.warning("%s: protocol error: %s", self, why)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(debug(why))
        self.close(f"protocol error: {why}")

    def close(self, why: str, abort: bool = False) -> None:
        """Close after what is buffered was sent, or at once (abort: a reader that does not
        keep up would otherwise hold the buffer forever)."""
        if self.state == CLOSED and (self.transport is None or self.transport.is_closing()):
            return
        if not self.close_reason:
            self.close_reason = why
        if self.transport is not None:
            if abort:
                self.transport.abort()
            else:
                self.transport.close()

    def end_session(self) -> None:
        """Server stopping: End of Session, then close."""
        if self.state == ACTIVE and self.transport is not None and not self.transport.is_closing():
            self.transport.write(END_OF_SESSION)
        self.close("server stopping")

    def __repr__(self) -> str:
        who = getattr(self.user, "name", None) or "-"
        return f"<{self.listener.name} {who}@{self.peer} {STATE_NAMES[self.state]}>"


class Listener:
    """A TCP listener whose connections speak SoupBinTCP to `app`, with the heartbeat timer."""

    def __init__(self, name: str, app, *, heartbeat_ms: int = 1000, idle_timeout_s: float = 15.0,
                 max_buffer_bytes: int = 8 << 20, sndbuf: int = 0):
        self.name = name
        self.app = app
        self.loop = asyncio.get_running_loop()
        self.heartbeat_s = heartbeat_ms / 1000.0
        self.idle_timeout_s = idle_timeout_s
        self.max_buffer_bytes = max_buffer_bytes
        self.sndbuf = sndbuf          # kernel send buffer per connection (0: the OS autotunes)
        self.connections: set[SoupConnection] = set()
        self.server: asyncio.AbstractServer | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.port: int | None = None

    async def serve(self, host: str, port: int) -> None:
        self.server = await self.loop.create_server(lambda: SoupConnection(self), host, port)
        self.port = self.server.sockets[0].getsockname()[1]
        self._schedule()

    def _schedule(self) -> None:
        self._timer = self.loop.call_later(min(self.heartbeat_s, 1.0) / 2, self.tick)

    def tick(self) -> None:
        now = self.loop.time()
        for conn in list(self.connections):
            if now - conn.last_in > self.idle_timeout_s:
                # a silent peer may not read either: say why, then do not wait for it
                conn.write(debug(f"no packet for {self.idle_timeout_s:g} s"))
                conn.close(f"idle for {self.idle_timeout_s:g} s", abort=True)
            elif conn.state == ACTIVE and now - conn.last_out >= self.heartbeat_s:
                conn.write(SERVER_HEARTBEAT)
        self._schedule()

    async def close(self, on_each: Callable[[SoupConnection], None] | None = None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.server is not None:
            self.server.close()
        for conn in list(self.connections):
            if on_each is not None:
                on_each(conn)
            conn.end_session()
        # connection_lost (and with it the application's on_close: cancel on disconnect) runs on
        # a later iteration; the server must not stop taking commands before it has.
        for _ in range(200):
            if not self.connections:
                break
            await asyncio.sleep(0.01)
        if self.server is not None:
            try:
                await asyncio.wait_for(self.server.wait_closed(), 2.0)
            except asyncio.TimeoutError:
                pass

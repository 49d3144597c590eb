"""FIX session layer (FIX 4.2 / 4.4 acceptor): logon and authentication, heartbeats, sequence
numbers, resend from a persistent store, session-level rejects, logout.

The application (gateway/fix/application.py, the `Application` protocol in __init__.py) sees only
logged-on sessions and in-sequence, validated application messages, and answers through the
FixSession it is given.

Setting up (the server builds SessionSettings from its TOML config):

    acceptor = FixAcceptor([SessionSettings(name="acme", begin_string="FIX.4.4",
                                            sender_comp_id="ORDEX", target_comp_id="ACME",
                                            password_hash=hash_password("secret"))],
                           store_dir="data/fix", app=app)
    server = await acceptor.serve("0.0.0.0", 9878, ssl=None)     # asyncio.Server
    ...
    await acceptor.close()      # Logout every session, wait briefly, close, sync the stores

Sending from the application (session = the FixSession passed to on_logon / on_message, or
acceptor.session(name) at any time).  The fast path is a template compiled once; the session
puts MsgSeqNum and SendingTime in front of the values:

    ER = session_template(b"8", [(37, "str"), (11, "bytes"), (17, "str"), (150, "char"),
                                 (39, "char"), (55, "str"), (54, "char"), (38, "fixed", 2),
                                 (151, "fixed", 2), (14, "fixed", 2), (6, "fixed", 2),
                                 (60, "timestamp", 6)])
    seq = session.send_template(ER, ("O1", msg.get_bytes(11), "E1", "0", "0", "AAPL", "1",
                                     10000, 10000, 0, 0, ts_ns))      # None leaves a field out

Messages built in bulk elsewhere with the session's own FixEncoder (session._enc) go out with
session.send_batch(first_seq, count, frames, records, offsets): the next `count` MsgSeqNums, one
store append, one write.  ordex.ext.fixreports does this for the ExecutionReports of a batch of
engine events.

For messages with repeating groups or a variable shape, use the session's FixEncoder:

    enc = session.begin(b"W")               # header written; nothing else may be sent until commit
    enc.add_str(55, "AAPL"); enc.add_int(268, 2); ...
    seq = session.commit()

or session.send(b"j", [(45, 7), (372, b"Z"), (380, 3)]) for the occasional message (str, bytes,
bool and int values; an int for a UTCTimestamp tag such as TransactTime(60) is ns since the
epoch, written with microseconds, milliseconds on FIX 4.2).  Every send returns the MsgSeqNum
and goes out at once: holding reports until the journal is durable is the caller's part.  Rejects:
session.reject(msg, reason, tag, text) sends a session-level Reject(3) (an application reading a
field that raises FieldError may simply let it propagate: the session answers it with Reject(3)
carrying e.reason and e.tag); session.business_reject(msg, reason, text, ref_id) sends a
BusinessMessageReject(j).  Any other exception from on_message is logged and answered with a
BusinessMessageReject "internal error".

Receiving: an application with on_messages(session, msgs, start, stop) and batch_msg_types
gets runs of plain in-sequence messages of those types in one call (session_inbound.py).

Messages sent while the session is logged off are stored and take their MsgSeqNum; the client
gets them by ResendRequest after its next logon (unless that logon resets the sequence numbers).
Outbound bytes are coalesced: one socket write per received batch or loop iteration.

FixSession attributes: name, settings, logged_on, heartbeat_s, peer, store (next_sender,
next_target), dictionary (ordex.core.fixdict.FixDictionary).  logout(reason) starts a Logout.

Security: nothing but a Logon is read before authentication; unknown CompIDs, a wrong
BeginString, username or password all end in the same silent disconnect after the same scrypt
work (the reason is logged, never sent); one connection per session; at most
`max_authenticating` logons checked at a time; a connection that does not log on within
logon_timeout_s is closed.
"""
from __future__ import annotations

import asyncio
import os
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ordex.ext.fixcodec import FixParser
from ordex.ext.fixstoresync import StoreSyncer

from .session_core import FixSession, SessionClosed, session_template
from .session_inbound import ADMIN_TYPES, utc_stamp
from .session_settings import (DUMMY_HASH, SessionSettings, hash_password,
                               verify_password)
from .store import MessageStore, StoreError

__all__ = ["FixAcceptor", "FixSession", "SessionSettings", "SessionClosed", "MessageStore",
           "StoreError", "hash_password", "verify_password", "session_template", "utc_stamp",
           "ADMIN_TYPES"]

log = logging.getLogger("ordex.fix.acceptor")

_AWAIT_LOGON, _AUTHENTICATING, _ATTACHED, _CLOSED = range(4)


class FixAcceptor:
    """Accepts FIX connections for the configured sessions (see the module docstring).

    store_dir:          each session's store lives in store_dir/<name>/
    clock:              ns since the epoch for SendingTime and its accuracy check
    store_sync:         "batch": fdatasync the stores written in the last sync_interval_ms, on
                        a C thread (ext/fixstoresync); "none": leave it to the OS (as QuickFIX's
                        FileStore)
    """

    def __init__(self, settings: list[SessionSettings], store_dir, app, clock=time.time_ns, *,
                 store_sync: str = "batch", sync_interval_ms: float = 10.0,
                 logon_timeout_s: float = 10.0, logout_timeout_s: float = 2.0,
                 max_queued: int = 1000, max_outbound_bytes: int = 16 << 20,
                 max_authenticating: int = 8):
        if store_sync not in ("batch", "none"):
            raise ValueError(f"store_sync is {store_sync!r}: use 'batch' or 'none'")
        self.store_dir = Path(store_dir)
        self.app = app
        self._clock = clock
        self._store_sync = store_sync
        self._sync_interval_s = sync_interval_ms / 1000.0
        self._logon_timeout_s = logon_timeout_s
        self._max_authenticating = max_authenticating
        self._sessions: dict[str, FixSession] = {}
        self._by_ids: dict[tuple[bytes, bytes, bytes], FixSession] = {}
        try:
            for s in settings:
                if s.name in self._sessions:
                    raise ValueError(f"FIX session name {s.name!r} configured twice")
                key = (s.begin_string.encode(), s.target_comp_id.encode(), s.sender_comp_id.encode())
                if key in self._by_ids:
                    raise ValueError(f"FIX sessions {self._by_ids[key].name!r} and {s.name!r} "
                                     "have the same BeginString and CompIDs")
                store = MessageStore(self.store_dir / s.name)
                session = FixSession(s, store, app, clock=clock, max_queued=max_queued,
                                     max_outbound_bytes=max_outbound_bytes,
                                     logout_timeout_s=logout_timeout_s, on_dirty=self._want_sync)
                self._sessions[s.name] = session
                self._by_ids[key] = session
        except BaseException:
            for session in self._sessions.values():
                session.store.close()
            raise
        self._pre_parser = FixParser(max_message_size=max((s.max_message_size for s in settings),
                                                          default=65536))
        self._servers: list[asyncio.AbstractServer] = []
        self._connections: set[_Connection] = set()
        self._authenticating = 0
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ordex-fix-io")
        self._sync_handle = None
        self._syncer = StoreSyncer()
        self._syncing = False
        self._loop = None
        self.closed = False

    # -- public ---------------------------------------------------------------------------------

    async def serve(self, host: str | None, port: int, ssl=None) -> asyncio.AbstractServer:
        """Listen on host:port (TLS when ssl is an SSLContext); may be called for several
        listeners.  Returns the asyncio.Server (its sockets tell the bound port)."""
        if self.closed:
            raise RuntimeError("FixAcceptor is closed")
        self._loop = asyncio.get_running_loop()
        for session in self._sessions.values():
            session._loop = self._loop
        server = await self._loop.create_server(lambda: _Connection(self), host, port, ssl=ssl)
        self._servers.append(server)
        log.info("FIX acceptor listening on %s", ", ".join(
            str(sock.getsockname()) for sock in server.sockets))
        return server

    def session(self, name: str) -> FixSession:
        """The configured session `name` (logged on or not)."""
        try:
            return self._sessions[name]
        except KeyError:
            raise KeyError(f"no FIX session named {name!r}") from None

    @property
    def sessions(self) -> list[FixSession]:
        return list(self._sessions.values())

    async def close(self, timeout_s: float = 2.0) -> None:
        """Stop listening, Logout every logged-on session and wait up to timeout_s for the
        answers, close the connections, then flush, sync and close the stores."""
        if self.closed:
            return
        self.closed = True
        for server in self._servers:
            server.close()
        for conn in list(self._connections):
            if conn.state != _ATTACHED:
                conn.abort()
        live = [s for s in self._sessions.values() if s._conn is not None]
        for s in live:
            s.logout("server shutting down", timeout_s)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while any(s._conn is not None for s in live) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for s in live:
            s._close("server shutting down")
        # Let connection_lost run so that on_logout is called before the stores close.
        for _ in range(10):
            if not self._connections:
                break
            await asyncio.sleep(0.01)
        if self._sync_handle is not None:
            self._sync_handle.cancel()
        while self._syncing and not self._syncer.done():
            await asyncio.sleep(0.001)
        if self._syncing:
            self._sync_done()
        self._syncer.close()
        for s in self._sessions.values():
            s._flush()
            s.closed = True
            try:
                s.store.close()
            except OSError:
                log.exception("FIX %s: closing the store failed", s.name)
        self._io.shutdown(wait=True)

    # -- store sync -----------------------------------------------------------------------------

    def _want_sync(self) -> None:
        if self._store_sync != "batch" or self._sync_handle is not None or self._loop is None:
            return
        self._sync_handle = self._loop.call_later(self._sync_interval_s, self._start_sync)

    def _start_sync(self) -> None:
        # The stores' fdatasyncs run on a C thread that never takes the GIL (fixstoresync), and
        # the loop looks at the outcome from this timer: a Python I/O thread would need the GIL
        # back after each fdatasync, and a call_soon_threadsafe to report, each a hand-off that
        # lands in the middle of some order's round trip.
        self._sync_handle = None
        if self._syncing:
            if not self._syncer.done():       # one sync at a time; the next one follows it
                self._want_sync()
                return
            self._sync_done()
        fds = [fd for s in self._sessions.values() if s.store.dirty and not s.store.closed
               for fd in s.store.sync_fds()]
        if not fds:
            return
        self._syncer.request(fds)
        self._syncing = True
        self._want_sync()                     # to see it finish (and any failure logged)

    def _sync_done(self) -> None:
        self._syncing = False
        err = self._syncer.error
        if err:
            log.error("FIX store sync failed: %s", os.strerror(err))

    # -- logon ----------------------------------------------------------------------------------

    def _logon(self, conn: _Connection, logon, rest: bytes) -> None:
        """First message of a connection, a sound Logon: find the session and authenticate."""
        raw = logon.raw
        key = (raw[2:raw.index(b"\x01")], logon.get_bytes(49, b""), logon.get_bytes(56, b""))
        session = self._by_ids.get(key)
        settings = session.settings if session is not None else None
        user_ok = (settings is not None and (settings.username is None
                                             or logon.get_bytes(553, b"") == settings.username.encode()))
        if user_ok and settings.password_hash is None:
            return self._authenticated(conn, session, True, raw, rest, "")
        if self._authenticating >= self._max_authenticating:
            return conn.refuse("too many logons being checked")
        password = logon.get_bytes(554, b"")
        stored = settings.password_hash if user_ok else DUMMY_HASH
        why = ("unknown BeginString/CompIDs" if session is None
               else "wrong username" if not user_ok else "wrong password")
        self._authenticating += 1
        conn.state = _AUTHENTICATING
        future = self._io.submit(verify_password, password, stored)
        future.add_done_callback(lambda f: self._loop.call_soon_threadsafe(
            self._checked, conn, session, user_ok, f, raw, rest, why))

    def _checked(self, conn, session, user_ok, future, raw, rest, why) -> None:
        self._authenticating -= 1
        ok = user_ok and future.exception() is None and future.result()
        self._authenticated(conn, session, ok, raw, rest, why)

    def _authenticated(self, conn, session, ok, raw, rest, why) -> None:
        if conn.state == _CLOSED:
            return
        if self.closed:
            return conn.refuse("acceptor closing")
        if not ok:
            return conn.refuse(why)
        if session._conn is not None:
            return conn.refuse(f"session {session.name} already logged on from {session.peer}")
        conn.attach(session)
        session._attach(conn, raw, rest + conn.take_pending())


class _Connection(asyncio.Protocol):
    """One TCP connection: collects the Logon, then hands every byte to its FixSession."""

    def __init__(self, acceptor: FixAcceptor):
        self.acceptor = acceptor
        self.session: FixSession | None = None
        self.state = _AWAIT_LOGON
        self.transport = None
        self.peer = None
        self._pending = bytearray()
        self._timer = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.peer = transport.get_extra_info("peername")
        self.acceptor._connections.add(self)
        self._timer = asyncio.get_running_loop().call_later(
            self.acceptor._logon_timeout_s, self.refuse, "no logon in time")

    def data_received(self, data: bytes) -> None:
        session = self.session
        if session is not None:
            session._on_data(data)
            return
        if self.state == _CLOSED:
            return
        self._pending += data
        limit = self.acceptor._pre_parser.max_message_size + 64
        if self.state == _AUTHENTICATING:
            if len(self._pending) > 16 * limit:
                self.refuse("too much data before logon completed")
            return
        msgs, _ = self.acceptor._pre_parser.parse(self._pending)
        if not msgs:
            if len(self._pending) > limit:
                self.refuse("no complete message")
            return
        first = msgs[0]
        if not first.ok or first.msg_type != b"A":
            return self.refuse("first message is not a Logon" if first.ok
                               else f"first message unreadable: {first.error_text}")
        rest = bytes(self._pending[len(first.raw):])
        self._pending = bytearray()
        self.acceptor._logon(self, first, rest)

    def take_pending(self) -> bytes:
        data = bytes(self._pending)
        self._pending = bytearray()
        return data

    def attach(self, session: FixSession) -> None:
        self.state = _ATTACHED
        self.session = session
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def refuse(self, why: str) -> None:
        """Close without a word to the peer; the reason goes to the log only."""
        if self.state == _CLOSED:
            return
        log.warning("FIX connection from %s refused: %s", self.peer, why)
        self.abort()

    def abort(self) -> None:
        self.state = _CLOSED
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc) -> None:
        self.acceptor._connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.state = _CLOSED
        if self.session is not None:
            self.session._lost(self, exc)

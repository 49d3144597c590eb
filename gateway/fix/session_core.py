"""One FIX session (FIX session layer, 4.2 and 4.4): what it sends, its connection's lifecycle
and its timers; what it receives is handled by SessionInbound (session_inbound.py).

A FixSession lives as long as the acceptor and owns the session's store; a TCP connection is
attached to it after a successful logon and detached when it ends.  See session.py for the API
the application uses and how a connection gets here.
"""
from __future__ import annotations

import asyncio
import logging
import time

from ordex.core import fixdict
from ordex.ext.fixcodec import FieldError, FixEncoder, FixParser, FixTemplate, Validate

from .session_inbound import ADMIN_TYPES, SessionInbound
from .store import MessageStore

log = logging.getLogger("ordex.fix.session")

_HEADER_FIELDS = ((34, "int"), (52, "timestamp", 3))


def session_template(msg_type: bytes, fields) -> FixTemplate:
    """A FixTemplate for FixSession.send_template: the session's MsgSeqNum and SendingTime are
    put first, then `fields` as FixTemplate takes them ((tag, kind[, arg]), ...)."""
    if msg_type in ADMIN_TYPES:
        raise ValueError(f"MsgType {msg_type!r} is a session message; the session sends those")
    return FixTemplate(msg_type, _HEADER_FIELDS + tuple(fields))


class SessionClosed(RuntimeError):
    """The acceptor was closed: the session's store is closed and cannot take messages."""


class FixSession(SessionInbound):
    """See session.py for the public API.  All methods run on the event loop thread."""

    def __init__(self, settings, store: MessageStore, app, *, clock=time.time_ns,
                 max_queued: int = 1000, max_outbound_bytes: int = 16 << 20,
                 logout_timeout_s: float = 2.0, on_dirty=None):
        self.settings = settings
        self.name = settings.name
        self.store = store
        self.app = app
        self._clock = clock
        self._on_dirty = on_dirty
        self._max_queued = max_queued
        self._max_out = max_outbound_bytes
        self._logout_timeout_s = logout_timeout_s
        bs = settings.begin_string.encode()
        self.dictionary = fixdict.load(settings.dictionary or settings.begin_string)
        if self.dictionary.begin_string != bs:
            raise ValueError(f"FIX session {self.name!r}: dictionary {self.dictionary.path} is "
                             f"{self.dictionary.begin_string.decode()}, not {settings.begin_string}")
        schema = self.dictionary.schema()
        flags = settings.validation.flags
        self._parser_args = (schema, flags, settings.max_message_size)
        # Logon is checked for its required fields and formats only: FIX 4.2 has no
        # Username/Password tags, yet clients send them.
        self._logon_parser = FixParser(
            schema, validate=flags & ~(Validate.V_UNKNOWN_TAGS | Validate.V_TAGS_FOR_MSGTYPE),
            max_message_size=settings.max_message_size)
        self._enc = FixEncoder(bs, sender=settings.sender_comp_id, target=settings.target_comp_id,
                               max_message_size=settings.max_message_size)
        self._prefix = b"8=" + bs + b"\x01"
        self._ts_tags = frozenset(t for t, f in self.dictionary.fields.items()
                                  if f.type == "UTCTIMESTAMP")
        self._ts_digits = 3 if settings.begin_string == "FIX.4.2" else 6
        self._ours = settings.sender_comp_id.encode()
        self._theirs = settings.target_comp_id.encode()
        tol = settings.sending_time_tolerance_s
        self._tolerance_ns = int(tol * 1e9) if tol else 0
        # Applications that take runs of plain in-sequence messages in one call (on_messages)
        # say which MsgTypes; the others see every message through on_message.
        self._app_batch = getattr(app, "on_messages", None)
        self._app_batch_types = getattr(app, "batch_msg_types", b"") if self._app_batch else b""
        self._app_received = getattr(app, "on_received", None)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn = None
        self.logged_on = False
        self.closed = False
        self.heartbeat_s = 0
        self.peer = None
        self.garbled = 0                    # garbled frames ignored, all connections
        self._reset_connection_state()

    def __repr__(self) -> str:
        state = "logged on" if self.logged_on else "logged off"
        return (f"FixSession({self.name!r}, {state}, next_sender={self.store.next_sender}, "
                f"next_target={self.store.next_target})")

    def _reset_connection_state(self) -> None:
        self._parser = None
        self._rest = b""
        self._queue: dict[int, object] = {}
        self._resend_end = 0                # the gap we asked for is filled once past this
        self._out = bytearray()
        self._batch = False
        self._flush_scheduled = False
        self._logout_sent = False
        self._close_reason = None
        self._timer = None
        self._last_recv = self._last_sent = 0.0
        self._test_request_for = -1.0       # _last_recv when our last TestRequest went out
        self._test_req_id = 0
        self._building = False

    # ------------------------------------------------------------------------------------------
    # Sending (public)

    def send_template(self, template: FixTemplate, values: tuple) -> int:
        """Send an application message laid out by session_template(); values are its fields
        after MsgSeqNum and SendingTime.  Returns the MsgSeqNum."""
        store = self.store
        seq = store.next_sender
        frame = self._enc.encode_template(template, (seq, self._clock()) + values)
        store.next_sender = seq + 1
        store.append(seq, frame)
        self._write(frame)
        return seq

    def send_batch(self, first_seq: int, count: int, frames: bytes, records: bytes,
                   offsets: bytes) -> None:
        """Send `count` application messages numbered first_seq.. (the next MsgSeqNums), built
        elsewhere with this session's encoder (ordex.ext.fixreports): `frames` back to back as
        sent, `records` the same as message store records, `offsets` (int64) where each record
        starts in `records`.  One store append, one write, at once (unless the session is
        processing what it received: then with its answers)."""
        store = self.store
        if first_seq != store.next_sender:
            raise ValueError(f"FIX {self.name}: batch starts at MsgSeqNum {first_seq}, "
                             f"next is {store.next_sender}")
        store.next_sender = first_seq + count
        store.append_records(first_seq, records, offsets)
        # A batch is already coalesced: written now, it saves the ack a loop iteration.
        self._write(frames, now=True)

    def begin(self, msg_type: bytes) -> FixEncoder:
        """Start an application message: returns the session's FixEncoder with the header
        written (up to SendingTime); add the body with its add_* methods, then commit().
        Nothing else may be sent on this session between begin() and commit()."""
        if msg_type in ADMIN_TYPES:
            raise ValueError(f"MsgType {msg_type!r} is a session message; the session sends those")
        enc = self._enc
        enc.begin(msg_type)
        enc.add_int(34, self.store.next_sender)
        enc.add_timestamp(52, self._clock())
        self._building = True
        return enc

    def commit(self) -> int:
        """Finish, store and send the message started by begin(); returns its MsgSeqNum."""
        if not self._building:
            raise RuntimeError("commit() without begin()")
        self._building = False
        frame = self._enc.finish()
        store = self.store
        seq = store.next_sender
        store.next_sender = seq + 1
        store.append(seq, frame)
        self._write(frame)
        return seq

    def send(self, msg_type: bytes, body) -> int:
        """Send an application message: body is an iterable of (tag, value) pairs in wire order
        (str, bytes, bool as Y/N, int; an int for a UTCTimestamp tag of the dictionary, such as
        TransactTime, is ns since the epoch, written with microseconds, milliseconds on FIX
        4.2) or a callable that adds the fields to the FixEncoder it is given.  Returns the
        MsgSeqNum."""
        enc = self.begin(msg_type)
        try:
            if callable(body):
                body(enc)
            else:
                self._add_fields(enc, body)
        except BaseException:
            self._building = False
            raise
        return self.commit()

    def reject(self, msg, reason: int, tag: int = 0, text: str = "") -> None:
        """Session-level Reject(3) of a received message: SessionRejectReason `reason`, RefTagID
        `tag` (0: none), e.g. from a FieldError (e.reason, e.tag, e.text)."""
        self._send_reject(msg.get_int(34, 0), msg.msg_type, reason, tag, text)

    def business_reject(self, msg, reason: int, text: str = "", ref_id: str | bytes | None = None) -> int:
        """BusinessMessageReject(j) of a received application message (BusinessRejectReason
        `reason`, e.g. 3 unsupported message type); ref_id fills BusinessRejectRefID.  It is an
        application message: stored and resent.  Returns its MsgSeqNum."""
        fields = [(45, msg.get_int(34, 0)), (372, msg.msg_type)]
        if ref_id:
            fields.append((379, ref_id))
        fields.append((380, reason))
        if text:
            fields.append((58, text))
        return self.send(b"j", fields)

    def logout(self, reason: str = "", timeout_s: float | None = None) -> None:
        """Start the Logout handshake; the connection closes when the peer answers or after
        timeout_s (default: the acceptor's logout timeout)."""
        if self._conn is None or self._logout_sent:
            return
        self._send_logout(reason)
        self._flush()
        self._loop.call_later(self._logout_timeout_s if timeout_s is None else timeout_s,
                              self._logout_expired, self._conn)

    # ------------------------------------------------------------------------------------------
    # Output plumbing

    def _write(self, frame: bytes, now: bool = False) -> None:
        """Queue frame for the socket: sent at the end of the received batch being processed,
        else at once when `now` (a whole batch of messages), else later in this loop iteration
        (single messages coalesce)."""
        if self._conn is not None:
            self._out += frame
            if self._batch or (self._flush_scheduled and not now):
                return
        elif self.closed:
            raise SessionClosed(f"FIX session {self.name!r} is closed")
        elif self._flush_scheduled and not now:
            return
        if self._loop is None or now:
            self._flush()
        else:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Store first, then socket: a message the peer may see is always resendable."""
        self._flush_scheduled = False
        store = self.store
        if store.closed:
            return
        store.flush()
        if store.dirty and self._on_dirty is not None:
            self._on_dirty()
        if not self._out or self._conn is None or self._close_reason is not None:
            return
        data = self._out
        self._out = bytearray()
        transport = self._conn.transport
        transport.write(data)
        self._last_sent = self._loop.time()
        if transport.get_write_buffer_size() > self._max_out:
            self._close("slow consumer: outbound buffer full")

    def _send_admin(self, msg_type: bytes, fields=()) -> int:
        enc = self._enc
        store = self.store
        seq = store.next_sender
        enc.begin(msg_type)
        enc.add_int(34, seq)
        enc.add_timestamp(52, self._clock())
        self._add_fields(enc, fields)
        frame = enc.finish()
        store.next_sender = seq + 1
        self._write(frame)
        return seq

    def _add_fields(self, enc: FixEncoder, fields) -> None:
        for tag, value in fields:
            t = type(value)
            if t is int:
                if tag in self._ts_tags:
                    enc.add_timestamp(tag, value, self._ts_digits)
                else:
                    enc.add_int(tag, value)
            elif t is bool:
                enc.add_bool(tag, value)
            elif t is str:
                enc.add_str(tag, value)
            else:
                enc.add_bytes(tag, value)

    def _send_reject(self, ref_seq: int, ref_type: bytes, reason: int, tag: int, text: str) -> None:
        fields = [(45, ref_seq)]
        if tag > 0:
            fields.append((371, tag))
        if ref_type:
            fields.append((372, ref_type))
        if reason >= 0:
            fields.append((373, reason))
        if text:
            fields.append((58, text))
        self._send_admin(b"3", fields)

    def _send_logout(self, text: str) -> None:
        self._logout_sent = True
        self._send_admin(b"5", [(58, text)] if text else ())

    def _logout_and_close(self, text: str) -> None:
        log.warning("FIX %s: logout: %s", self.name, text)
        self._send_logout(text)
        self._close(text)

    def _close(self, reason: str) -> None:
        """Flush what is queued, then close the connection; _lost() does the bookkeeping."""
        conn = self._conn
        if conn is None or self._close_reason is not None:
            return
        self._flush()
        self._close_reason = reason
        conn.transport.close()

    def _logout_expired(self, conn) -> None:
        if conn is self._conn:
            self._close("logout not answered")

    # ------------------------------------------------------------------------------------------
    # Connection lifecycle (called by the acceptor's connection protocol)

    def _attach(self, conn, logon_raw: bytes, rest: bytes) -> None:
        """An authenticated connection's Logon: check it, answer it, then process `rest`."""
        self._loop = asyncio.get_running_loop()
        self._reset_connection_state()
        self._conn = conn
        self.peer = conn.peer
        self._last_recv = self._last_sent = self._loop.time()
        msgs, _ = self._logon_parser.parse(logon_raw)
        m = msgs[0]
        if not m.ok:
            return self._refuse_logon(f"Logon rejected: {m.error_text} (tag {m.error_tag})")
        try:
            seq = m.get_int(34)
            hb = m.get_int(108)
            reset = m.get_bool(141, False)
        except FieldError as e:
            return self._refuse_logon(f"Logon rejected: {e}")
        want = self.settings.heartbeat_s
        if hb < 0 or hb > 3600 or (want is not None and hb != want):
            return self._refuse_logon(f"HeartBtInt {hb} not accepted"
                                      + (f"; use {want}" if want is not None else ""))
        if self._tolerance_ns:
            try:
                skew = abs(m.get_timestamp_ns(52) - self._clock())
            except FieldError as e:
                return self._refuse_logon(f"Logon rejected: {e}")
            if skew > self._tolerance_ns:
                return self._refuse_logon("SendingTime accuracy problem")
        store = self.store
        if reset or self.settings.reset_on_logon:
            log.info("FIX %s: sequence numbers reset at logon", self.name)
            store.reset()
        elif seq < store.next_target:
            return self._refuse_logon(f"MsgSeqNum too low, expecting {store.next_target} but "
                                      f"received {seq}")
        self._parser = FixParser(self._parser_args[0], validate=self._parser_args[1],
                                 max_message_size=self._parser_args[2])
        self.heartbeat_s = hb
        reply = [(98, 0), (108, hb)]
        if reset or self.settings.reset_on_logon:
            reply.append((141, True))
        self._batch = True
        try:
            self._send_admin(b"A", reply)
            self.logged_on = True
            log.info("FIX %s: logged on from %s (HeartBtInt %d, next in %d, next out %d)",
                     self.name, self.peer, hb, store.next_target, store.next_sender)
            if seq > store.next_target:
                self._too_high(seq, None)
            else:
                store.next_target = seq + 1
            self._arm_timer()
            try:
                self.app.on_logon(self)
            except Exception:
                log.exception("FIX %s: Application.on_logon failed", self.name)
        finally:
            self._batch = False
        if rest and self._conn is conn and self._close_reason is None:
            self._on_data(rest)
        else:
            self._flush()

    def _refuse_logon(self, text: str) -> None:
        log.warning("FIX %s: logon from %s refused: %s", self.name, self.peer, text)
        self._send_logout(text)
        self._close(text)

    def _lost(self, conn, exc) -> None:
        if conn is not self._conn:
            return
        reason = self._close_reason or (f"disconnected: {exc}" if exc else "disconnected")
        was_logged_on = self.logged_on
        if self._timer is not None:
            self._timer.cancel()
        self._conn = None
        self._flush()
        self.logged_on = False
        self._reset_connection_state()
        if was_logged_on:
            log.info("FIX %s: logged off (%s)", self.name, reason)
            try:
                self.app.on_logout(self, reason)
            except Exception:
                log.exception("FIX %s: Application.on_logout failed", self.name)

    # ------------------------------------------------------------------------------------------
    # Timers: Heartbeat after heartbeat_s without sending; TestRequest after heartbeat_s + 20 %
    # without receiving; disconnect after twice that.

    def _arm_timer(self) -> None:
        hb = self.heartbeat_s
        if hb <= 0 or self._conn is None:
            return
        limit = hb * 1.2
        if self._test_request_for == self._last_recv:
            due_recv = self._last_recv + 2 * limit
        else:
            due_recv = self._last_recv + limit
        due = min(self._last_sent + hb, due_recv)
        self._timer = self._loop.call_at(max(due, self._loop.time() + 0.01), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._conn is None or self._close_reason is not None:
            return
        now = self._loop.time()
        hb = self.heartbeat_s
        silence = now - self._last_recv
        if silence >= 2.4 * hb:
            log.warning("FIX %s: no answer to TestRequest for %.1f s", self.name, silence)
            self._close("heartbeat timeout")
            return
        if silence >= 1.2 * hb and self._test_request_for != self._last_recv:
            self._test_req_id += 1
            self._send_admin(b"1", [(112, f"TEST{self._test_req_id}")])
            self._test_request_for = self._last_recv
        elif now - self._last_sent >= hb:
            self._send_admin(b"0")
        self._flush()
        self._arm_timer()

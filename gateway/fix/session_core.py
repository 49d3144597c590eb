"""One FIX session's protocol state machine (FIX session layer, 4.2 and 4.4).

A FixSession lives as long as the acceptor and owns the session's store; a TCP connection is
attached to it after a successful logon and detached when it ends.  See session.py for the API
the application uses and how a connection gets here.

Inbound, per message, in the order the FIX session protocol asks for:
    garbled frame                    ignored (TOO_LARGE: Logout, since a resend would repeat it)
    wrong BeginString                Logout, disconnect
    MsgSeqNum missing                Logout, disconnect
    SequenceReset-Reset, Logout      handled whatever their MsgSeqNum
    MsgSeqNum > expected             queued (bounded); one ResendRequest for the gap
    MsgSeqNum < expected             PossDupFlag=Y: ignored; else Logout "MsgSeqNum too low"
    CompID or SendingTime wrong      Reject(3) 9 or 10, then Logout, disconnect
    dictionary validation error      Reject(3) with SessionRejectReason and RefTagID
    admin message                    answered here
    application message              Application.on_message(session, msg), exactly once
"""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone

from ordex.core import fixdict
from ordex.ext.fixcodec import FieldError, FixEncoder, FixParser, FixTemplate, ParseError, Validate

from .store import MessageStore, StoreError

log = logging.getLogger("ordex.fix.session")

ADMIN_TYPES = frozenset((b"0", b"1", b"2", b"3", b"4", b"5", b"A"))
_HEADER_FIELDS = ((34, "int"), (52, "timestamp", 3))
_BAD_BEGIN_STRING = int(ParseError.BAD_BEGIN_STRING)
_TOO_LARGE = int(ParseError.TOO_LARGE)
_INFINITY_42 = 999999            # FIX 4.2 and earlier: EndSeqNo 999999 means "to the end"
_RESEND_FLUSH_BYTES = 1 << 20
_SOH = b"\x01"

# SessionRejectReason values the session layer sends itself.
REJECT_REQUIRED_MISSING = 1
REJECT_VALUE_INCORRECT = 5
REJECT_FORMAT = 6
REJECT_COMPID = 9
REJECT_SENDING_TIME = 10


def session_template(msg_type: bytes, fields) -> FixTemplate:
    """A FixTemplate for FixSession.send_template: the session's MsgSeqNum and SendingTime are
    put first, then `fields` as FixTemplate takes them ((tag, kind[, arg]), ...)."""
    if msg_type in ADMIN_TYPES:
        raise ValueError(f"MsgType {msg_type!r} is a session message; the session sends those")
    return FixTemplate(msg_type, _HEADER_FIELDS + tuple(fields))


def utc_stamp(ts_ns: int) -> bytes:
    """UTCTimestamp with milliseconds, as the session writes SendingTime."""
    dt = datetime.fromtimestamp(ts_ns // 1_000_000_000, timezone.utc)
    return b"%s.%03d" % (dt.strftime("%Y%m%d-%H:%M:%S").encode(), ts_ns // 1_000_000 % 1000)


class SessionClosed(RuntimeError):
    """The acceptor was closed: the session's store is closed and cannot take messages."""


class FixSession:
    """See session.py for the public API.  All methods run on the event loop thread."""

    def __init__(self, settings, store: MessageStore, app, *, clock=time.time_ns,
                 max_queued: int = 10_000, max_outbound_bytes: int = 16 << 20,
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
        self._prefix = b"8=" + bs + _SOH
        self._ts_tags = frozenset(t for t, f in self.dictionary.fields.items()
                                  if f.type == "UTCTIMESTAMP")
        self._ts_digits = 3 if settings.begin_string == "FIX.4.2" else 6
        self._ours = settings.sender_comp_id.encode()
        self._theirs = settings.target_comp_id.encode()
        tol = settings.sending_time_tolerance_s
        self._tolerance_ns = int(tol * 1e9) if tol else 0
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

    def _write(self, frame: bytes) -> None:
        if self._conn is not None:
            self._out += frame
            if self._batch or self._flush_scheduled:
                return
        elif self.closed:
            raise SessionClosed(f"FIX session {self.name!r} is closed")
        elif self._flush_scheduled:
            return
        if self._loop is None:
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

    # ------------------------------------------------------------------------------------------
    # Inbound

    def _on_data(self, data: bytes) -> None:
        if self._close_reason is not None:
            return
        self._last_recv = self._loop.time()
        if self._rest:
            data = self._rest + data
        msgs, consumed = self._parser.parse(data)
        self._rest = data[consumed:] if consumed < len(data) else b""
        self._batch = True
        try:
            for m in msgs:
                if self._close_reason is not None:
                    break
                self._on_message(m)
        except Exception:
            # A bug, not bad input: keep it to this session and say nothing specific.
            log.exception("FIX %s: failed on %r", self.name, m)
            self._logout_and_close("internal error")
        finally:
            self._batch = False
        self._flush()

    def _on_message(self, m) -> None:
        err = m.error
        if err and m.garbled:
            if err == _BAD_BEGIN_STRING and len(m):
                return self._logout_and_close("incorrect BeginString")
            if err == _TOO_LARGE:
                return self._logout_and_close(
                    f"message exceeds the maximum size ({self.settings.max_message_size} bytes)")
            self.garbled += 1
            log.info("FIX %s: garbled message ignored: %s", self.name, m.error_text)
            return
        try:
            seq = m.get_int(34)
        except FieldError:
            return self._logout_and_close("MsgSeqNum missing or invalid")
        msg_type = m.msg_type
        if msg_type == b"5":
            return self._on_logout(m, seq)
        if msg_type == b"4" and m.get_bytes(123, b"N") != b"Y":
            if m.error:
                return self._send_reject(seq, msg_type, m.reject_reason, m.error_tag, m.error_text)
            return self._on_sequence_reset(m, seq)
        store = self.store
        expected = store.next_target
        if seq == expected:
            self._process(m, seq, msg_type)
            if self._queue:
                self._drain()
        elif seq > expected:
            if msg_type == b"2":
                # Answer now: the peer may be waiting for it before it fills our gap.
                self._on_resend_request(m)
                self._too_high(seq, None)
            else:
                self._too_high(seq, m)
        elif m.get_bytes(43, b"N") != b"Y":
            self._logout_and_close(f"MsgSeqNum too low, expecting {expected} but received {seq}")

    def _process(self, m, seq: int, msg_type: bytes) -> None:
        """A message at the expected MsgSeqNum."""
        store = self.store
        if m.get_bytes(49, b"") != self._theirs or m.get_bytes(56, b"") != self._ours:
            store.next_target = seq + 1
            tag = 49 if m.get_bytes(49, b"") != self._theirs else 56
            self._send_reject(seq, msg_type, REJECT_COMPID, tag, "CompID problem")
            return self._logout_and_close("CompID problem")
        if self._tolerance_ns:
            try:
                sent = m.get_timestamp_ns(52)
            except FieldError as e:
                store.next_target = seq + 1
                return self._send_reject(seq, msg_type, e.reason, 52, e.text)
            if abs(sent - self._clock()) > self._tolerance_ns:
                store.next_target = seq + 1
                self._send_reject(seq, msg_type, REJECT_SENDING_TIME, 52,
                                  "SendingTime accuracy problem")
                return self._logout_and_close("SendingTime accuracy problem")
        store.next_target = seq + 1
        if m.error:
            return self._send_reject(seq, msg_type, m.reject_reason, m.error_tag, m.error_text)
        if msg_type in ADMIN_TYPES:
            return self._on_admin(m, seq, msg_type)
        try:
            self.app.on_message(self, m)
        except FieldError as e:
            self._building = False
            self._send_reject(seq, msg_type, e.reason, e.tag, e.text)
        except Exception:
            self._building = False
            log.exception("FIX %s: Application.on_message failed on MsgSeqNum %d", self.name, seq)
            self.business_reject(m, 0, "internal error")

    def _on_admin(self, m, seq: int, msg_type: bytes) -> None:
        if msg_type == b"0":
            return
        if msg_type == b"1":
            test_id = m.get_bytes(112, None)
            self._send_admin(b"0", [(112, test_id)] if test_id else ())
        elif msg_type == b"2":
            self._on_resend_request(m)
        elif msg_type == b"4":
            self._on_gap_fill(m, seq)
        elif msg_type == b"3":
            log.warning("FIX %s: peer rejected our MsgSeqNum %s: %s", self.name,
                        m.get_str(45, "?"), m.get_str(58, ""))
        elif msg_type == b"A":
            self._logout_and_close("Logon received while logged on")

    def _too_high(self, seq: int, m) -> None:
        queue = self._queue
        if len(queue) >= self._max_queued:
            return self._logout_and_close("too many messages out of sequence")
        queue[seq] = m
        expected = self.store.next_target
        if self._resend_end < expected:
            log.info("FIX %s: MsgSeqNum %d, expected %d: resend requested", self.name, seq,
                     expected)
            self._resend_end = seq
            self._send_admin(b"2", [(7, expected), (16, 0)])

    def _drain(self) -> None:
        """Process queued messages now in sequence; drop those a gap fill skipped."""
        queue = self._queue
        store = self.store
        while queue and self._close_reason is None:
            expected = store.next_target
            if expected in queue:
                m = queue.pop(expected)
                if m is None:
                    store.next_target = expected + 1
                else:
                    self._process(m, expected, m.msg_type)
                continue
            for seq in [s for s in queue if s < expected]:
                del queue[seq]
            if queue and self._resend_end < expected:
                # The first gap is filled and another one remains.
                self._resend_end = max(queue)
                self._send_admin(b"2", [(7, expected), (16, 0)])
            break

    def _on_resend_request(self, m) -> None:
        try:
            begin = m.get_int(7)
            end = m.get_int(16)
        except FieldError as e:
            return self._send_reject(m.get_int(34, 0), b"2", e.reason, e.tag, e.text)
        store = self.store
        last = store.next_sender - 1
        if end == 0 or end > last or (end == _INFINITY_42 and self.settings.begin_string == "FIX.4.2"):
            end = last
        if begin < 1 or begin > end:
            log.info("FIX %s: ResendRequest %d..%s: nothing to resend", self.name, begin,
                     m.get_str(16))
            return
        log.info("FIX %s: resending %d..%d", self.name, begin, end)
        now = self._clock()
        stamp = utc_stamp(now)
        pos = begin
        try:
            for seq, frame in store.messages(begin, end):
                if seq > pos:
                    self._gap_fill(pos, seq, now)
                self._out += self._possdup(frame, stamp)
                pos = seq + 1
                if len(self._out) >= _RESEND_FLUSH_BYTES:
                    self._flush()
        except StoreError as e:
            log.error("FIX %s: cannot resend: %s", self.name, e)
            return self._logout_and_close("resend not possible: message store damaged")
        if pos <= end:
            self._gap_fill(pos, end + 1, now)

    def _gap_fill(self, seq: int, new_seq: int, now: int) -> None:
        enc = self._enc
        enc.begin(b"4")
        enc.add_int(34, seq)
        enc.add_bool(43, True)
        enc.add_timestamp(52, now)
        enc.add_timestamp(122, now)
        enc.add_bool(123, True)
        enc.add_int(36, new_seq)
        self._out += enc.finish()

    def _possdup(self, frame: bytes, stamp: bytes) -> bytes:
        """A stored frame as a resend: PossDupFlag=Y, SendingTime now, OrigSendingTime the
        original.  Every stored frame was built by begin()/send_template(), so its first 52=
        field is SendingTime and nothing before it can be data."""
        body_start = frame.index(_SOH, frame.index(b"\x019=") + 1) + 1
        i = frame.index(b"\x0152=", body_start - 1) + 4
        j = frame.index(_SOH, i)
        body = (frame[body_start:i - 3] + b"43=Y\x0152=" + stamp + b"\x01122=" + frame[i:j]
                + frame[j:-7])
        head = self._prefix + b"9=%d\x01" % len(body)
        return head + body + b"10=%03d\x01" % ((sum(head) + sum(body)) & 255)

    def _on_gap_fill(self, m, seq: int) -> None:
        try:
            new_seq = m.get_int(36)
        except FieldError as e:
            return self._send_reject(seq, b"4", e.reason, e.tag, e.text)
        if new_seq <= seq:
            return self._send_reject(seq, b"4", REJECT_VALUE_INCORRECT, 36,
                                     f"NewSeqNo {new_seq} not above MsgSeqNum {seq}")
        self.store.next_target = new_seq

    def _on_sequence_reset(self, m, seq: int) -> None:
        """SequenceReset-Reset: MsgSeqNum is ignored; the sequence may only move forward."""
        try:
            new_seq = m.get_int(36)
        except FieldError as e:
            return self._send_reject(seq, b"4", e.reason, e.tag, e.text)
        store = self.store
        if new_seq < store.next_target:
            return self._send_reject(seq, b"4", REJECT_VALUE_INCORRECT, 36,
                                     f"NewSeqNo {new_seq} below the expected {store.next_target}")
        log.info("FIX %s: SequenceReset to %d (expected %d)", self.name, new_seq, store.next_target)
        store.next_target = new_seq
        if self._queue:
            self._drain()

    def _on_logout(self, m, seq: int) -> None:
        if seq == self.store.next_target:
            self.store.next_target = seq + 1
        text = m.get_str(58, "")
        if self._logout_sent:
            self._close("logout")
            return
        self._send_logout("")
        self._close("logout by peer" + (f": {text}" if text else ""))

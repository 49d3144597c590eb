"""What a FIX session receives, message by message, in the order the FIX session protocol
asks for:

    garbled frame                    ignored (TOO_LARGE: Logout, since a resend would repeat it)
    wrong BeginString                Logout, disconnect
    MsgSeqNum missing                Logout, disconnect
    SequenceReset-Reset, Logout      handled whatever their MsgSeqNum
    MsgSeqNum > expected             queued (bounded); one ResendRequest for the gap
    MsgSeqNum < expected             PossDupFlag=Y: ignored; else Logout "MsgSeqNum too low"
    CompID or SendingTime wrong      Reject(3) 9 or 10, then Logout, disconnect
    dictionary validation error      Reject(3) with SessionRejectReason and RefTagID
    admin message                    answered here (ResendRequest from the store)
    application message              Application.on_message(session, msg), exactly once

A run of consecutive messages that pass every check above without a word from the session
(in sequence, sound, right CompIDs and SendingTime, a MsgType the application takes in batches:
its `batch_msg_types`) goes to Application.on_messages(session, msgs, start, stop) in one call.
After the last message of what was received, Application.on_received(session) (when it has
one) is called while the session still coalesces its output: whatever the application sends
from it leaves in the same store flush and socket write as the session's own answers.

SessionInbound is the receiving half of FixSession (session_core.py), which provides the
sending primitives (_send_admin, _send_reject, _logout_and_close, _close, _flush) and state.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from ordex.ext.fixcodec import FieldError, ParseError
from ordex.ext.fixorders import in_sequence_run

from .store import StoreError

log = logging.getLogger("ordex.fix.session")

ADMIN_TYPES = frozenset((b"0", b"1", b"2", b"3", b"4", b"5", b"A"))
_BAD_BEGIN_STRING = int(ParseError.BAD_BEGIN_STRING)
_TOO_LARGE = int(ParseError.TOO_LARGE)
_INFINITY_42 = 999999            # FIX 4.2 and earlier: EndSeqNo 999999 means "to the end"
_RESEND_FLUSH_BYTES = 1 << 20
_SOH = b"\x01"
_LOG_COUNTS = frozenset((1, 10, 100, 1000, 10_000))   # garbled frames: log these, not each

# SessionRejectReason values the session layer sends itself.
REJECT_VALUE_INCORRECT = 5
REJECT_COMPID = 9
REJECT_SENDING_TIME = 10


def utc_stamp(ts_ns: int) -> bytes:
    """UTCTimestamp with milliseconds, as the session writes SendingTime."""
    dt = datetime.fromtimestamp(ts_ns // 1_000_000_000, timezone.utc)
    return b"%s.%03d" % (dt.strftime("%Y%m%d-%H:%M:%S").encode(), ts_ns // 1_000_000 % 1000)


class SessionInbound:
    """The receiving half of FixSession; see the module docstring."""


    def _on_data(self, data: bytes) -> None:
        if self._close_reason is not None:
            return
        self._last_recv = self._loop.time()
        if self._rest:
            data = self._rest + data
        msgs, consumed = self._parser.parse(data)
        self._rest = data[consumed:] if consumed < len(data) else b""
        self._batch = True
        i, n = 0, len(msgs)
        try:
            while i < n and self._close_reason is None:
                run = self._plain_run(msgs, i) if self._app_batch is not None else 0
                if run:
                    self._deliver_run(msgs, i, run)
                    i += run
                else:
                    self._on_message(msgs[i])
                    i += 1
            if self._app_received is not None:
                # Inside the batch: answers the application sends now join this write.
                self._app_received(self)
        except Exception:
            # A bug, not bad input: keep it to this session and say nothing specific.
            log.exception("FIX %s: failed on %r", self.name, msgs[min(i, n - 1)])
            self._logout_and_close("internal error")
        finally:
            self._batch = False
        self._flush()

    def _plain_run(self, msgs: list, i: int) -> int:
        """How many messages from msgs[i] on are in-sequence application messages of the
        types the application takes in batches, with nothing else for the session to check or
        answer (the rules below, all passed)."""
        if self._queue:
            return 0
        return in_sequence_run(msgs, i, self.store.next_target, self._theirs, self._ours,
                               self._tolerance_ns, self._clock() if self._tolerance_ns else 0,
                               self._app_batch_types)

    def _deliver_run(self, msgs: list, i: int, run: int) -> None:
        self.store.next_target += run
        try:
            self._app_batch(self, msgs, i, i + run)
        except Exception:
            self._building = False
            log.exception("FIX %s: Application.on_messages failed on MsgSeqNum %d..%d", self.name,
                          self.store.next_target - run, self.store.next_target - 1)
            for m in msgs[i:i + run]:
                self.business_reject(m, 0, "internal error")

    def _on_message(self, m) -> None:
        err = m.error
        if err and m.garbled:
            if err == _BAD_BEGIN_STRING and len(m):
                return self._logout_and_close("incorrect BeginString")
            if err == _TOO_LARGE:
                return self._logout_and_close(
                    f"message exceeds the maximum size ({self.settings.max_message_size} bytes)")
            self.garbled += 1
            if self.garbled in _LOG_COUNTS or self.garbled % 100_000 == 0:
                log.info("FIX %s: garbled message ignored (%d so far): %s", self.name,
                         self.garbled, m.error_text)
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

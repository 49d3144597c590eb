"""Replies of the OUCH gateway: a batch of one user's engine events -> Sequenced Data packets,
two ways that must agree byte for byte (tests/binary/test_ouch_encoders.py): for a batch, numpy
picks each event's reply and ext/ouch_out writes the packets in C; a few go one at a time with
struct (cheaper there); both keep the user's order state (live terms, quote sides) up to date as
orders end.  The common batch -- all of one user, orders' or Mass Quotes' events, without mass
cancels, follow-up cancels or fills for an armed protection -- skips both: OuchGateway._one_user_events hands it to C whole
(ouch_out.encode_one_user, the same per-event writer as the numpy path;
tests/binary/test_ouch_fast_path.py)."""
from __future__ import annotations

import numpy as np

from ordex.core.events import EventKind
from ordex.core.reasons import Reason
from ordex.gateway.binary.ouch_codec import (
    _ORDER_KINDS, CANCEL_CODES, DEFAULT_ECHO, ECHO_DTYPE, K_CANCEL_REJECTED, K_CANCELLED,
    K_EXPIRED, K_MASS_CANCEL_DONE, K_NEW, K_REJECTED, K_REPLACED, K_RESTATED, K_TRADE, M_ACCEPTED,
    M_CANCEL_REJECT, M_CANCELED, M_EXECUTED, M_REJECTED, M_REPLACED, MAKER, QTY_NOT_ABOVE_FILLED,
    REJECT_CODES, SRC_CANCEL, SRC_REDUCE, SRC_REPLACE, TERMINAL, TERMINAL_STATES, userrefs)


class Replies:
    """Mixed into OuchGateway (which provides codecs and clock)."""

    def _replies_numpy(self, user, ev: np.ndarray) -> tuple[bytes, int, list[int]]:
        """The replies to a batch of events (in sequence order): numpy picks each reply, C writes
        them (the same replies, byte for byte, as _replies_each, cheaper for a few events)."""
        codecs = self.codecs[user.dialect]
        n = len(ev)
        kind = ev["kind"]
        refs = userrefs(ev["clordid"])
        echo = np.zeros(n, dtype=ECHO_DTYPE)
        echo["src"], echo["clordid"], echo["display"] = b" ", b" " * 14, b"Y"
        echo["capacity"], echo["ise"], echo["cross"] = b"A", b"N", b"N"
        seq = ev["seq"]
        lo, hi = int(seq[0]), int(seq[-1])
        for first, rec in user.echo:       # both in sequence order: only the batches overlapping
            if first > hi:
                break
            if first + len(rec) <= lo:
                continue
            a, b = np.searchsorted(seq, (first, first + len(rec))).tolist()
            echo[a:b] = rec[seq[a:b] - first]
        src = echo["src"]
        follow_ups: list[int] = []
        msg = np.zeros(n, dtype=np.uint8)           # which reply each event gets (0: none)
        msg[kind == EventKind.NEW] = M_ACCEPTED
        msg[kind == EventKind.REJECTED] = M_REJECTED
        msg[kind == EventKind.TRADE] = M_EXECUTED
        msg[(kind == EventKind.CANCELLED) | (kind == EventKind.EXPIRED)
            | (kind == EventKind.RESTATED)] = M_CANCELED
        replaced = kind == EventKind.REPLACED
        msg[replaced & (src == SRC_REDUCE)] = M_CANCELED
        msg[replaced & (src != SRC_REDUCE)] = M_REPLACED
        cxl_rej = np.flatnonzero(kind == EventKind.CANCEL_REJECTED)
        for j in cxl_rej.tolist():
            s = src[j]
            if s == SRC_CANCEL:
                msg[j] = M_CANCEL_REJECT
            elif s == SRC_REDUCE:
                if ev["reason"][j] == Reason.QTY_NOT_ABOVE_FILLED:
                    follow_ups.append(int(refs[j]))
                else:
                    msg[j] = M_CANCEL_REJECT
            elif s == SRC_REPLACE:
                msg[j] = M_REJECTED
                user.terms.pop(int(refs[j]), None)
        special = np.flatnonzero(kind == EventKind.MASS_CANCEL_DONE)
        packets, ends, count = codecs.encode(self, ev, msg, refs, echo)
        extra: list[tuple[int, bytes]] = []     # (after event index, packet)
        for j in special.tolist():
            req = user.mass_cancels.pop(bytes(ev["clordid"][j]), None)
            if req is not None:
                extra.append((j, codecs.mass_cancel_report(
                    self.clock.since_midnight(int(ev["ts_ns"][j])), req[0], req[1],
                    int(ev["qty"][j]))))
        last_seq = int(seq[-1])
        while user.quote_acks and user.quote_acks[0][0] <= last_seq:
            ack_seq, quote_id, entries = user.quote_acks.popleft()
            j = int(np.searchsorted(seq, ack_seq, side="right")) - 1
            extra.append((j, codecs.quote_ack(self.clock.since_midnight(int(ev["ts_ns"][j])),
                                              quote_id, b"A", 0, entries)))
        self._forget_ended(user, ev, kind, refs, replaced)
        if extra:
            parts, at = [], 0
            for j, pkt in sorted(extra, key=lambda x: x[0]):
                cut = int(ends[j]) if len(ends) else 0
                parts += [packets[at:cut], pkt]
                at = cut
            parts.append(packets[at:])
            packets = b"".join(parts)
            count += len(extra)
        return packets, count, follow_ups

    def _echo_at(self, user, seq: int) -> tuple:
        for first, rec in user.echo:
            if first <= seq < first + len(rec):
                return rec[seq - first].item()
        return DEFAULT_ECHO

    def _replies_each(self, user, rows: list[tuple]) -> tuple[bytes, int, list[int]]:
        """The replies to a few events (EVENT_DTYPE tuples), one at a time with struct (see
        _replies_numpy)."""
        codecs = self.codecs[user.dialect]
        since = self.clock.since_midnight
        pstep = codecs.pstep_list
        terms, acks = user.terms, user.quote_acks
        out: list[bytes] = []
        follow_ups: list[int] = []
        last = len(rows) - 1
        for j, (seq, ts, exec_id, oid, _other, price, _stop, qty, last_px, last_qty, _leaves, cum,
                _avg, _fee, _sess, _acct, inst, reason, kind, state, side, _ot, tif, liq, clid,
                orig) in enumerate(rows):
            ref = int(clid[:10]) if clid[:10].isdigit() else -1
            t = since(ts)
            echo = self._echo_at(user, seq)
            src = echo[0]
            if kind == K_NEW:
                out.append(codecs.accepted(t, ref, side, qty, inst, price * pstep[inst], tif,
                                           echo, oid, state))
            elif kind == K_TRADE:
                maker = liq == MAKER
                out.append(codecs.executed(t, ref, last_qty, last_px * pstep[inst],
                                           b"A" if maker else b"R", exec_id - maker))
            elif kind == K_CANCELLED or kind == K_EXPIRED:
                out.append(codecs.canceled(t, ref, qty - cum, CANCEL_CODES[min(reason, 1023)]))
            elif kind == K_RESTATED:
                out.append(codecs.canceled(t, ref, last_qty, CANCEL_CODES[min(reason, 1023)]))
            elif kind == K_REPLACED:
                if src == SRC_REDUCE:
                    out.append(codecs.canceled(t, ref, echo[6] - qty, ord("U")))
                else:
                    old = int(orig[:10]) if orig[:10].isdigit() else -1
                    out.append(codecs.replaced(t, old, ref, side, qty, inst,
                                               price * pstep[inst], tif, echo, oid, state))
                    if old != ref:
                        terms.pop(old, None)
            elif kind == K_REJECTED:
                out.append(codecs.rejected(t, ref, REJECT_CODES[min(reason, 1023)], echo[1]))
            elif kind == K_CANCEL_REJECTED:
                if src == SRC_CANCEL or (src == SRC_REDUCE
                                         and reason != QTY_NOT_ABOVE_FILLED):
                    out.append(codecs.cancel_reject(t, ref))
                elif src == SRC_REDUCE:
                    follow_ups.append(ref)
                elif src == SRC_REPLACE:
                    out.append(codecs.rejected(t, ref, REJECT_CODES[min(reason, 1023)],
                                               echo[1]))
                    terms.pop(ref, None)
            elif kind == K_MASS_CANCEL_DONE:
                req = user.mass_cancels.pop(clid, None)
                if req is not None:
                    out.append(codecs.mass_cancel_report(t, req[0], req[1], qty))
            if state in TERMINAL_STATES and kind in _ORDER_KINDS:
                terms.pop(ref, None)
                user.quotes.forget(ref)
            while acks and acks[0][0] <= seq and (j == last or rows[j + 1][0] > acks[0][0]):
                _, quote_id, entries = acks.popleft()
                out.append(codecs.quote_ack(t, quote_id, b"A", 0, entries))
        return b"".join(out), len(out), follow_ups

    def _forget_ended(self, user, ev, kind, refs, replaced) -> None:
        state = ev["state"]
        order_event = ((kind == EventKind.TRADE) | (kind == EventKind.CANCELLED)
                       | (kind == EventKind.EXPIRED) | (kind == EventKind.REJECTED))
        ended = refs[np.flatnonzero(order_event & TERMINAL[state])]
        user.terms.pop_many(ended)
        user.quotes.forget_many(ended)
        real = np.flatnonzero(replaced)
        if len(real):           # a replaced order's previous UserRefNum names it no longer
            origs = userrefs(ev["orig_clordid"][real])
            user.terms.pop_many(origs[origs != refs[real]])

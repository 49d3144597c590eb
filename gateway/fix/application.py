"""FIX application layer: FIX 4.4 / 4.2 application messages <-> engine commands and events.

In:  NewOrderSingle(D), OrderCancelRequest(F), OrderCancelReplaceRequest(G), OrderStatusRequest(H),
     OrderMassCancelRequest(q), MarketDataRequest(V, see market_data.py); anything else gets
     BusinessMessageReject(j).
Out: ExecutionReport(8) for every order event, OrderCancelReject(9), OrderMassCancelReport(r),
     sent only once the commands behind them are durable (the server releases events then).

Prices and quantities are parsed straight from the FIX decimal string to the instrument's integer
grid; a value finer than the instrument's increment is rejected, never rounded.  A drop-copy
session receives every ExecutionReport of the accounts it is configured for.

The per-order work is compiled and done a batch at a time: the session hands runs of in-sequence
order entry messages to on_messages, which OrderTranslator (ext/fixorders) turns into command rows
in one call (refusals come back for the answers below); a durable batch of engine events becomes
every session's ExecutionReports in one ReportWriter.write (ext/fixreports), each session taking
its share as one store append and one socket write.  What is left here in Python is per batch, or
for the rare messages (rejects at the gateway, cancel rejects, mass cancel reports).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from ordex.core import reasons
from ordex.core.commands import COMMAND_DTYPE, CommandKind, OrdType, Scope, Tif
from ordex.core.events import EventKind
from ordex.core.lifecycle import FIX_ORD_STATUS
from ordex.core.refdata import ReferenceData
from ordex.ext.fixcodec import FieldError
from ordex.ext.fixorders import ORDER_ENTRY_TYPES, OrderTranslator
from ordex.ext.fixreports import ReportWriter, SessionOut
from ordex.gateway.fix.market_data import MarketData

log = logging.getLogger("ordex.fix.app")

# EVENT_DTYPE field positions in events.tolist() rows
(SEQ, TS, EXEC_ID, ORDER_ID, OTHER_ID, PRICE, STOP_PX, QTY, LAST_PX, LAST_QTY, LEAVES, CUM, AVG_PX,
 FEE, SESSION, ACCOUNT, INSTRUMENT, REASON, KIND, STATE, SIDE, ORD_TYPE, TIF, LIQUIDITY, CLORDID,
 ORIG_CLORDID) = range(26)

EXEC_TYPE_44 = {EventKind.NEW: b"0", EventKind.REJECTED: b"8", EventKind.TRADE: b"F",
                EventKind.CANCELLED: b"4", EventKind.REPLACED: b"5", EventKind.EXPIRED: b"C",
                EventKind.TRIGGERED: b"L", EventKind.RESTATED: b"D",
                EventKind.PENDING_TRIGGER: b"0", EventKind.ORDER_STATUS: b"I"}
# FIX 4.2 has no Trade (F), Triggered (L) or OrderStatus (I) ExecTypes.
EXEC_TYPE_42 = {**EXEC_TYPE_44, EventKind.TRIGGERED: b"0", EventKind.ORDER_STATUS: b"0"}
ORD_TYPE_IN = {b"1": OrdType.MARKET, b"2": OrdType.LIMIT, b"3": OrdType.STOP, b"4": OrdType.STOP_LIMIT}
ORD_TYPE_OUT = {int(v): k for k, v in ORD_TYPE_IN.items()}
TIF_IN = {b"0": Tif.DAY, b"1": Tif.GTC, b"3": Tif.IOC, b"4": Tif.FOK, b"6": Tif.GTD}
TIF_OUT = {int(v): k for k, v in TIF_IN.items()}
ORD_STATUS = {int(k): v.encode() for k, v in FIX_ORD_STATUS.items()}


@dataclass(frozen=True)
class Grid:
    """A FIX decimal <-> integer count mapping: count * step * 10**-decimals."""
    decimals: int
    step: int

    @classmethod
    def of(cls, increment: Decimal) -> Grid:
        sign, digits, exp = increment.normalize().as_tuple()
        decimals = max(0, -exp)
        return cls(decimals, int(increment.scaleb(decimals)))

    def text(self, count: int) -> bytes:
        v = count * self.step
        if not self.decimals:
            return str(v).encode()
        neg, v = v < 0, abs(v)
        s = str(v).rjust(self.decimals + 1, "0")
        return (("-" if neg else "") + s[:-self.decimals] + "." + s[-self.decimals:]).encode()


# Rejects by the gateway of a well-formed value off the instrument's grid or out of range
# (FieldError reason 5): OrdRejReason by tag (price tags: 18 invalid price, quantity tags: 13
# incorrect quantity, else 99 other).
_GRID_REJECT = {44: 18, 99: 18, 38: 13, 111: 13}
# Requests whose answer (OrderCancelReject's CxlRejResponseTo, the mass cancel report's type)
# depends on what was asked: (session id, ClOrdID) -> that, until the answer is sent.
_RESPONSE_TO = {b"F": b"1", b"G": b"2"}


def _reason_tables() -> tuple[list[bytes | None], list[int]]:
    """Text(58) and OrdRejReason(103) per reason code (None: not a reason code)."""
    size = max(reasons.Reason) + 1
    texts: list[bytes | None] = [None] * size
    ord_rej = [99] * size
    for r in reasons.Reason:
        texts[r] = reasons.text(r).encode()
        ord_rej[r] = reasons.ord_rej_reason(r)
    return texts, ord_rej


class FixApplication:
    """Implements gateway.fix.Application for the server; `send(session, msg_type, fields)` is the
    one call into the session layer for single messages, ReportWriter the one for execution
    reports."""

    def __init__(self, server, reference: ReferenceData, drop_copy: dict[str, set[str]] | None = None):
        self.server = server
        self.ref = reference
        self.instruments = {i.symbol.encode(): i for i in reference.instruments}
        self.symbols = [i.symbol.encode() for i in reference.instruments]
        self.price_grid = [Grid.of(i.price_increment) for i in reference.instruments]
        self.qty_grid = [Grid.of(i.qty_increment) for i in reference.instruments]
        self.accounts = {a.name.encode(): a.id for a in reference.accounts}
        self.account_names = [a.name.encode() for a in reference.accounts]
        self.session_ids = {s.name: s.id for s in reference.sessions}
        self.session_accounts = {s.id: sorted(self.accounts[n.encode()] for n in s.accounts)
                                 for s in reference.sessions}
        self.live: dict[int, object] = {}          # engine session id -> logged-on FixSession
        self.drop_copy = {self.session_ids[name]: {self.accounts[a.encode()] for a in accts}
                          for name, accts in (drop_copy or {}).items()}
        # (session id, clordid) -> what the request was, to answer its reject correctly
        self.pending: dict[tuple[int, bytes], bytes] = {}
        grids = [(p.decimals, p.step, q.decimals, q.step)
                 for p, q in zip(self.price_grid, self.qty_grid)]
        self.translator = OrderTranslator(
            {i.symbol.encode(): i.id for i in reference.instruments}, grids, self.accounts,
            {sid: accts[0] for sid, accts in self.session_accounts.items() if len(accts) == 1},
            {k: int(v) for k, v in ORD_TYPE_IN.items()}, {k: int(v) for k, v in TIF_IN.items()})
        texts, ord_rej = _reason_tables()
        self.reports = ReportWriter(self.symbols, grids, self.account_names,
                                    {int(k): v for k, v in EXEC_TYPE_44.items()},
                                    {int(k): v for k, v in EXEC_TYPE_42.items()},
                                    ORD_STATUS, ORD_TYPE_OUT, TIF_OUT, texts, ord_rej)
        n_sessions = max(self.session_ids.values(), default=-1) + 1
        self._outs: list[SessionOut | None] = [None] * n_sessions    # by engine session id
        self._drops = [(sid, bytes(a in accounts for a in range(len(self.account_names))))
                       for sid, accounts in self.drop_copy.items()]
        # Commands of one loop iteration (of one read in `none` mode: on_received) go to the
        # server as one batch: one journal append, one engine call (per-order submits cost more
        # than the engine itself).  The translator writes them into _cmds; _sources says which
        # session sent how many of them, _row_msgs which message each came from (for the
        # rejects if the batch is refused).
        self._cmds = np.zeros(256, dtype=COMMAND_DTYPE)
        # The same buffer as bytes: a batch copied out as bytes into a new array costs ~0.6 us,
        # where numpy's field-by-field copy of structured rows costs ~6.5 us for one row (and a
        # uint8 -> COMMAND_DTYPE .view() runs numpy's Python-level _view_is_safe).
        self._cmd_bytes = memoryview(self._cmds.view(np.uint8))
        self._n = 0
        self._sources: list[tuple[object, int, int]] = []
        self._row_msgs: list = []
        self._flush_handle = None
        server.subscribe(self.on_events)
        self.market_data = MarketData(self)

    # -- Application (called by the session layer) --------------------------------------------
    batch_msg_types = ORDER_ENTRY_TYPES

    def on_logon(self, session) -> None:
        sid = self.session_ids[session.name]
        self.live[sid] = session
        self._outs[sid] = SessionOut(session, session._enc,
                                     session.settings.begin_string == "FIX.4.2")

    def on_logout(self, session, reason: str) -> None:
        sid = self.session_ids[session.name]
        if self.live.get(sid) is session:
            del self.live[sid]
            self._outs[sid] = None
        self.flush()                   # its last orders come before its cancel-on-disconnect
        if session.settings.cancel_on_disconnect and self.server.accepting:
            row = np.zeros(1, dtype=COMMAND_DTYPE)
            row["kind"], row["session"], row["scope"], row["instrument"] = (
                CommandKind.MASS_CANCEL, sid, Scope.SESSION, -1)
            row["clordid"] = b"cancel-on-disconnect"
            self.server.submit(row)
            log.info("session %s: %s; its orders are cancelled (cancel_on_disconnect)",
                     session.name, reason)

    def on_message(self, session, msg) -> None:
        mt = msg.msg_type
        if mt in ORDER_ENTRY_TYPES and len(mt) == 1:
            self.on_messages(session, [msg], 0, 1)
        elif mt == b"V":
            self.market_data.request(session, self.session_ids[session.name], msg)
        else:
            self.send(session, b"j", [(45, str(msg.get_int(34, 0)).encode()), (372, mt),
                                      (380, b"3"), (58, b"unsupported message type")])

    def on_messages(self, session, msgs: list, start: int, stop: int) -> None:
        """msgs[start:stop]: in-sequence order entry messages (MsgTypes of batch_msg_types) of
        one session, translated in one call and queued for this loop iteration's batch."""
        sid = self.session_ids[session.name]
        if session.settings.drop_copy:
            for msg in msgs[start:stop]:
                self.send(session, b"j", [(45, str(msg.get_int(34, 0)).encode()),
                                          (372, msg.msg_type), (380, b"4"),
                                          (58, b"drop-copy session: order entry not permitted")])
            return
        need = self._n + stop - start
        if need > len(self._cmds):
            cmds = np.zeros(max(need, 2 * len(self._cmds)), dtype=COMMAND_DTYPE)
            cmds[:self._n] = self._cmds[:self._n]
            self._cmds = cmds
            self._cmd_bytes = memoryview(cmds.view(np.uint8))
        accepted_from = len(self._row_msgs)
        errors: list = []
        n = self.translator.translate(sid, msgs, start, stop, self._cmds, self._n,
                                      self._row_msgs, errors)
        if n:
            self._sources.append((session, sid, n))
            if self.translator.requests:
                self._remember_requests(sid, accepted_from)
            self._n += n
            if self._flush_handle is None:
                # on_received normally submits first; this covers callers without it
                self._flush_handle = self.server.loop.call_soon(self.flush)
        for i, why in errors:
            self._refuse(session, sid, msgs[i], why)

    def _remember_requests(self, sid: int, accepted_from: int) -> None:
        """Note what each accepted cancel, replace and mass cancel asked, for its answer."""
        for msg in self._row_msgs[accepted_from:]:
            mt = msg.msg_type
            if mt in _RESPONSE_TO:
                self.pending[(sid, msg.get_bytes(11))] = _RESPONSE_TO[mt]
            elif mt == b"q":
                self.pending[(sid, msg.get_bytes(11))] = msg.get_bytes(530)

    def _refuse(self, session, sid: int, msg, why) -> None:
        if isinstance(why, FieldError):
            if why.reason != 5:
                # missing or malformed: a session-level Reject(3)
                session.reject(msg, why.reason, why.tag, why.text)
                return
            # well-formed but off the instrument's grid or out of range: a business reject
            why = (f"tag {why.tag}: {why.text}", _GRID_REJECT.get(why.tag, 99))
        self.reject_at_gateway(session, sid, msg, *why)

    def on_received(self, session) -> None:
        """The session has handled everything one read brought.  In `none` durability, submit
        what it queued now (one batch per read), while the session still coalesces its output:
        the acknowledgements then leave in the session's own store flush and socket write for
        this read, with no loop iteration in between.  In fsync and batch mode acks wait for a
        sync anyway, so the batch stays one per loop iteration (the call_soon'd flush): several
        sessions' reads make one submit (per-read submits gave about 15% fewer orders/s with
        four pipelining sessions in fsync mode: medians of four noisy runs)."""
        if self._n and self.server.releases_inline:
            self.flush()

    def flush(self) -> None:
        """Submit the commands queued so far as one batch."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        n = self._n
        if not n:
            return
        rows = np.frombuffer(bytearray(self._cmd_bytes[:n * COMMAND_DTYPE.itemsize]), COMMAND_DTYPE)
        sources, row_msgs = self._sources, self._row_msgs
        self._n, self._sources, self._row_msgs = 0, [], []
        try:
            self.server.submit(rows)
        except Exception as e:   # NotAccepting, journal back-pressure or failure: nothing applied
            at = 0
            for session, sid, count in sources:
                for msg, clordid in zip(row_msgs[at:at + count],
                                        rows["clordid"][at:at + count].tolist()):
                    self.pending.pop((sid, clordid), None)
                    self.reject_at_gateway(session, sid, msg, f"not accepting orders: {e}", 0)
                at += count
            return
        self.server.release_submitted()     # none durability: the acks leave in this read

    def reject_at_gateway(self, session, sid: int, msg, text: str, ord_rej_reason: int) -> None:
        """Answer an inbound message the engine will never see."""
        mt = msg.msg_type
        clordid = msg.get_bytes(11, b"NONE")[:64]
        if mt == b"D":
            fields = [(37, b"NONE"), (11, clordid), (17, b"0"), (150, b"8"), (39, b"8"),
                      (55, msg.get_bytes(55, b"?")), (54, msg.get_bytes(54, b"1")),
                      (151, b"0"), (14, b"0"), (6, b"0"), (103, str(ord_rej_reason).encode()),
                      (58, text.encode())]
            self.send(session, b"8", fields)
        elif mt in (b"F", b"G"):
            self.send(session, b"9", [(37, msg.get_bytes(37, b"NONE")), (11, clordid),
                                      (41, msg.get_bytes(41, b"NONE")), (39, b"8"),
                                      (434, b"1" if mt == b"F" else b"2"), (102, b"99"),
                                      (58, text.encode())])
        elif mt == b"q":
            self.send(session, b"r", [(11, clordid), (530, msg.get_bytes(530, b"7")),
                                      (531, b"0"), (532, b"99"), (58, text.encode())])
        else:
            self.send(session, b"j", [(45, str(msg.get_int(34, 0)).encode()), (372, mt),
                                      (380, b"0"), (58, text.encode())])

    # -- outbound: engine events -> FIX -------------------------------------------------------
    def on_events(self, events: np.ndarray) -> None:
        self.reports.write(events, self._outs, self._drops, self._other_event, bool(self.pending))

    def _other_event(self, events: np.ndarray, i: int) -> None:
        """An event that is not an execution report (or, with requests pending, a cancel or
        replace whose request is answered)."""
        ev = events[i].item()
        kind = ev[KIND]
        if kind in (EventKind.CANCELLED, EventKind.REPLACED):
            self.pending.pop((ev[SESSION], ev[CLORDID]), None)
            return
        session = self.live.get(ev[SESSION])
        if session is None:
            return
        if kind == EventKind.CANCEL_REJECTED:
            response_to = self.pending.pop((ev[SESSION], ev[CLORDID]), b"1")
            oid = ev[ORDER_ID]
            self.send(session, b"9", [
                (37, str(oid).encode() if oid else b"NONE"), (11, ev[CLORDID] or b"NONE"),
                (41, ev[ORIG_CLORDID] or b"NONE"), (39, ORD_STATUS[ev[STATE]]),
                (434, response_to), (102, str(reasons.cxl_rej_reason(ev[REASON])).encode()),
                (58, reasons.text(ev[REASON]).encode())])
        elif kind == EventKind.MASS_CANCEL_DONE and ev[CLORDID] != b"cancel-on-disconnect":
            request = self.pending.pop((ev[SESSION], ev[CLORDID]), b"7")
            self.send(session, b"r", [(11, ev[CLORDID]), (530, request), (531, request),
                                      (533, str(ev[QTY]).encode())])

    # -- the one call into the session layer ---------------------------------------------------
    def send(self, session, msg_type: bytes, fields: list[tuple[int, object]]) -> None:
        session.send(msg_type, fields)

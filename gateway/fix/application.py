"""FIX application layer: FIX 4.4 / 4.2 application messages <-> engine commands and events.

In:  NewOrderSingle(D), OrderCancelRequest(F), OrderCancelReplaceRequest(G), OrderStatusRequest(H),
     OrderMassCancelRequest(q), MarketDataRequest(V, see market_data.py); anything else gets
     BusinessMessageReject(j).
Out: ExecutionReport(8) for every order event, OrderCancelReject(9), OrderMassCancelReport(r),
     sent only once the commands behind them are durable (the server releases events then).

Prices and quantities are parsed straight from the FIX decimal string to the instrument's integer
grid (`get_fixed`); a value finer than the instrument's increment is rejected, never rounded.
A drop-copy session receives every ExecutionReport of the accounts it is configured for.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from ordex.core import reasons
from ordex.core.commands import (ADMIN_SESSION, CLORDID_LEN, COMMAND_DTYPE, CommandKind, Flag,
                                 OrdType, Scope, Tif)
from ordex.core.events import EventKind
from ordex.core.lifecycle import FIX_ORD_STATUS, OrderState
from ordex.core.refdata import ReferenceData
from ordex.ext.fixcodec import FieldError
from ordex.gateway.fix.session import session_template
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
MASS_CANCEL_BY_SECURITY, MASS_CANCEL_ALL = b"1", b"7"


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


_POS = {name: i for i, name in enumerate(COMMAND_DTYPE.names)}
_ZERO_ROW = np.zeros(1, dtype=COMMAND_DTYPE)[0].item()


def as_tuple(fields: dict) -> tuple:
    """A command as a COMMAND_DTYPE record tuple (np.array(list_of_them) builds a batch fast)."""
    row = list(_ZERO_ROW)
    for name, value in fields.items():
        row[_POS[name]] = value
    return tuple(row)


class Rejected(Exception):
    """An inbound message the engine will never see: answered at the gateway."""

    def __init__(self, text: str, ord_rej_reason: int = 99):
        super().__init__(text)
        self.text, self.ord_rej_reason = text, ord_rej_reason


class FixApplication:
    """Implements gateway.fix.Application for the server; `send(session, msg_type, fields)` is the
    one call into the session layer."""

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
        # Commands of one loop iteration go to the server as one batch: one journal append, one
        # engine call, one event copy (per-order submits cost more than the engine itself).
        self._rows: list[tuple] = []
        self._origins: list[tuple] = []           # (session, sid, msg) of each row
        self._flush_scheduled = False
        self._templates: dict[tuple[bool, int], object] = {}
        server.subscribe(self.on_events)
        self.market_data = MarketData(self)

    # -- Application (called by the session layer) --------------------------------------------
    def on_logon(self, session) -> None:
        self.live[self.session_ids[session.name]] = session

    def on_logout(self, session, reason: str) -> None:
        sid = self.session_ids[session.name]
        if self.live.get(sid) is session:
            del self.live[sid]
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
        handler = self.HANDLERS.get(msg.msg_type)
        sid = self.session_ids[session.name]
        if msg.msg_type == b"V":
            self.market_data.request(session, sid, msg)
            return
        if handler is None:
            self.send(session, b"j", [(45, str(msg.get_int(34, 0)).encode()),
                                      (372, msg.msg_type), (380, b"3"),
                                      (58, b"unsupported message type")])
            return
        if getattr(session.settings, "drop_copy", False):
            self.send(session, b"j", [(45, str(msg.get_int(34, 0)).encode()),
                                      (372, msg.msg_type), (380, b"4"),
                                      (58, b"drop-copy session: order entry not permitted")])
            return
        try:
            row = handler(self, sid, msg)
        except Rejected as r:
            self.reject_at_gateway(session, sid, msg, r)
            return
        except FieldError as e:
            if e.reason != 5:
                raise      # missing or malformed: the session answers with Reject(3)
            # well-formed but off the instrument's grid or out of range: a business reject
            self.reject_at_gateway(session, sid, msg, Rejected(
                f"tag {e.tag}: {e.text}", 18 if e.tag in (44, 99) else 13 if e.tag in (38, 111) else 99))
            return
        self._rows.append(row)
        self._origins.append((session, sid, msg))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.server.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Submit the commands queued in this loop iteration as one batch."""
        self._flush_scheduled = False
        if not self._rows:
            return
        rows = np.array(self._rows, dtype=COMMAND_DTYPE)
        origins = self._origins
        self._rows, self._origins = [], []
        try:
            self.server.submit(rows)
        except Exception as e:   # NotAccepting, journal back-pressure or failure: nothing applied
            for (session, sid, msg), clordid in zip(origins, rows["clordid"].tolist()):
                self.pending.pop((sid, clordid), None)
                self.reject_at_gateway(session, sid, msg,
                                       Rejected(f"not accepting orders: {e}", 0))

    # -- inbound translation -------------------------------------------------------------------
    def _clordid(self, msg, tag: int = 11) -> bytes:
        v = msg.get_bytes(tag)
        if len(v) > CLORDID_LEN:
            raise Rejected(f"ClOrdID longer than {CLORDID_LEN} characters")
        return v

    def _instrument(self, msg):
        inst = self.instruments.get(msg.get_bytes(55, b""))
        if inst is None:
            raise Rejected("unknown symbol", 1)
        return inst

    def _account(self, sid: int, msg) -> int:
        name = msg.get_bytes(1, None)
        if name is None:
            accts = self.session_accounts.get(sid, [])
            if len(accts) == 1:
                return accts[0]
            raise Rejected("Account(1) is required for this session", 15)
        acct = self.accounts.get(name)
        if acct is None:
            raise Rejected("unknown account", 15)
        return acct

    @staticmethod
    def _row(kind: int, sid: int, clordid: bytes) -> dict:
        return {"kind": kind, "session": sid, "clordid": clordid}

    def new_order(self, sid: int, msg) -> tuple:
        clordid = self._clordid(msg)
        inst = self._instrument(msg)
        ord_type = ORD_TYPE_IN.get(msg.get_bytes(40))
        if ord_type is None:
            raise Rejected("unsupported OrdType", 11)
        tif = TIF_IN.get(msg.get_bytes(59, b"0"))
        if tif is None:
            raise Rejected("unsupported TimeInForce", 11)
        side = msg.get_bytes(54)
        row = self._row(CommandKind.NEW_ORDER, sid, clordid)
        pg, qg = self.price_grid[inst.id], self.qty_grid[inst.id]
        row["account"] = self._account(sid, msg)
        row["instrument"] = inst.id
        row["side"] = 1 if side == b"1" else 2 if side == b"2" else 0
        row["ord_type"], row["tif"] = ord_type, tif
        if ord_type in (OrdType.LIMIT, OrdType.STOP_LIMIT):
            row["price"] = msg.get_fixed(44, pg.decimals, pg.step)
        if ord_type in (OrdType.STOP, OrdType.STOP_LIMIT):
            row["stop_price"] = msg.get_fixed(99, pg.decimals, pg.step)
        row["qty"] = msg.get_fixed(38, qg.decimals, qg.step)
        row["display"] = msg.get_fixed(111, qg.decimals, qg.step, 0)
        if tif == Tif.GTD:
            row["expire_ts_ns"] = msg.get_timestamp_ns(126)
        if b"6" in msg.get_bytes(18, b"").split(b" "):
            row["flags"] = Flag.POST_ONLY
        return as_tuple(row)

    def _target(self, row, msg, clordid_tag: int = 41) -> None:
        """The order a request names: OrigClOrdID (ClOrdID for a status request), or OrderID."""
        row["orig_clordid"] = self._clordid(msg, clordid_tag)
        order_id = msg.get_bytes(37, b"")
        if order_id.isdigit():
            row["order_id"] = int(order_id)

    def cancel(self, sid: int, msg) -> tuple:
        row = self._row(CommandKind.CANCEL, sid, self._clordid(msg))
        self._target(row, msg)
        self.pending[(sid, row["clordid"])] = b"1"
        return as_tuple(row)

    def replace(self, sid: int, msg) -> tuple:
        row = self._row(CommandKind.REPLACE, sid, self._clordid(msg))
        self._target(row, msg)
        inst = self._instrument(msg)
        pg, qg = self.price_grid[inst.id], self.qty_grid[inst.id]
        if 44 in msg:
            row["price"] = msg.get_fixed(44, pg.decimals, pg.step)
        if 99 in msg:
            row["stop_price"] = msg.get_fixed(99, pg.decimals, pg.step)
        row["qty"] = msg.get_fixed(38, qg.decimals, qg.step)
        self.pending[(sid, row["clordid"])] = b"2"
        return as_tuple(row)

    def status(self, sid: int, msg) -> tuple:
        row = self._row(CommandKind.STATUS_REQUEST, sid, b"")
        self._target(row, msg, 11)
        return as_tuple(row)

    def mass_cancel(self, sid: int, msg) -> tuple:
        kind = msg.get_bytes(530)
        row = self._row(CommandKind.MASS_CANCEL, sid, self._clordid(msg))
        row["instrument"] = -1
        if kind == MASS_CANCEL_BY_SECURITY:
            row["instrument"] = self._instrument(msg).id
        elif kind != MASS_CANCEL_ALL:
            raise Rejected("MassCancelRequestType must be 1 (security) or 7 (all)")
        if 1 in msg:
            row["scope"], row["account"] = Scope.ACCOUNT, self._account(sid, msg)
        else:
            row["scope"] = Scope.SESSION
        self.pending[(sid, row["clordid"])] = kind
        return as_tuple(row)

    HANDLERS = {b"D": new_order, b"F": cancel, b"G": replace, b"H": status, b"q": mass_cancel}

    def reject_at_gateway(self, session, sid: int, msg, r: Rejected) -> None:
        mt = msg.msg_type
        clordid = msg.get_bytes(11, b"NONE")[:64]
        if mt == b"D":
            fields = [(37, b"NONE"), (11, clordid), (17, b"0"), (150, b"8"), (39, b"8"),
                      (55, msg.get_bytes(55, b"?")), (54, msg.get_bytes(54, b"1")),
                      (151, b"0"), (14, b"0"), (6, b"0"), (103, str(r.ord_rej_reason).encode()),
                      (58, r.text.encode())]
            self.send(session, b"8", fields)
        elif mt in (b"F", b"G"):
            self.send(session, b"9", [(37, msg.get_bytes(37, b"NONE")), (11, clordid),
                                      (41, msg.get_bytes(41, b"NONE")), (39, b"8"),
                                      (434, b"1" if mt == b"F" else b"2"), (102, b"99"),
                                      (58, r.text.encode())])
        elif mt == b"q":
            self.send(session, b"r", [(11, clordid), (530, msg.get_bytes(530, b"7")),
                                      (531, b"0"), (532, b"99"), (58, r.text.encode())])
        else:
            self.send(session, b"j", [(45, str(msg.get_int(34, 0)).encode()), (372, mt),
                                      (380, b"0"), (58, r.text.encode())])

    # -- outbound: engine events -> FIX -------------------------------------------------------
    def on_events(self, events: np.ndarray) -> None:
        live, drop = self.live, self.drop_copy
        for ev in events.tolist():
            session = live.get(ev[SESSION])
            kind = ev[KIND]
            if session is not None:
                self.send_event(session, ev, kind)
            if drop and kind in EXEC_TYPE_44:
                for sid, accounts in drop.items():
                    dc = live.get(sid)
                    if dc is not None and ev[ACCOUNT] in accounts and sid != ev[SESSION]:
                        self.send_event(dc, ev, kind)

    def send_event(self, session, ev, kind: int) -> None:
        if kind in EXEC_TYPE_44:
            fix42 = session.settings.begin_string == "FIX.4.2"
            session.send_template(self.er_template(fix42, ev[INSTRUMENT]),
                                  self.execution_report(fix42, ev, kind))
        elif kind == EventKind.CANCEL_REJECTED:
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

    def er_template(self, fix42: bool, inst: int):
        """The ExecutionReport layout for a FIX version and an instrument's decimals, compiled
        once (the codec's fast path); absent optional fields are None in the values."""
        t = self._templates.get((fix42, inst))
        if t is None:
            known = 0 <= inst < len(self.symbols)
            pd = self.price_grid[inst].decimals if known else 0
            qd = self.qty_grid[inst].decimals if known else 0
            t = session_template(b"8", [
                (37, "bytes"), (11, "bytes"), (41, "bytes"), (17, "int")]
                + ([(20, "bytes")] if fix42 else []) + [
                (150, "bytes"), (39, "bytes"), (1, "bytes"), (55, "bytes"), (54, "bytes"),
                (38, "fixed", qd), (40, "bytes"), (44, "fixed", pd), (99, "fixed", pd),
                (59, "bytes"), (31, "fixed", pd), (32, "fixed", qd), (151, "fixed", qd),
                (14, "fixed", qd), (6, "fixed", pd), (103, "int"), (58, "bytes"),
                (60, "timestamp", 3 if fix42 else 6)])
            self._templates[(fix42, inst)] = t
        return t

    def execution_report(self, fix42: bool, ev, kind: int) -> tuple:
        """Values for er_template(fix42, instrument), in its field order."""
        inst = ev[INSTRUMENT]
        known = 0 <= inst < len(self.symbols)
        ps = self.price_grid[inst].step if known else 1
        qs = self.qty_grid[inst].step if known else 1
        if kind in (EventKind.CANCELLED, EventKind.REPLACED):
            self.pending.pop((ev[SESSION], ev[CLORDID]), None)
        exec_type = (EXEC_TYPE_42 if fix42 else EXEC_TYPE_44)[kind]
        if fix42 and kind == EventKind.TRADE:
            exec_type = b"2" if ev[STATE] == OrderState.FILLED else b"1"
        trade = kind == EventKind.TRADE
        rejected = kind == EventKind.REJECTED
        head = (str(ev[ORDER_ID]).encode() if ev[ORDER_ID] else b"NONE", ev[CLORDID] or b"NONE",
                ev[ORIG_CLORDID] or None, ev[EXEC_ID])
        return head + ((b"0",) if fix42 else ()) + (
            exec_type, ORD_STATUS[ev[STATE]],
            self.account_names[ev[ACCOUNT]] if 0 <= ev[ACCOUNT] < len(self.account_names) else None,
            self.symbols[inst] if known else b"?", b"1" if ev[SIDE] == 1 else b"2",
            ev[QTY] * qs, ORD_TYPE_OUT.get(ev[ORD_TYPE]),
            ev[PRICE] * ps if ev[PRICE] else None, ev[STOP_PX] * ps if ev[STOP_PX] else None,
            TIF_OUT.get(ev[TIF]),
            ev[LAST_PX] * ps if trade else None, ev[LAST_QTY] * qs if trade else None,
            ev[LEAVES] * qs, ev[CUM] * qs, ev[AVG_PX] * ps,
            reasons.ord_rej_reason(ev[REASON]) if rejected else None,
            reasons.text(ev[REASON]).encode() if ev[REASON] else None,
            ev[TS])

    # -- the one call into the session layer ---------------------------------------------------
    def send(self, session, msg_type: bytes, fields: list[tuple[int, object]]) -> None:
        session.send(msg_type, fields)

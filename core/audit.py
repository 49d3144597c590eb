"""The journal as evidence: order lifecycles and trade history, reproduced by replay.

The journal holds commands only (input journaling); what the engine answered is reproduced by
replaying them through the engine with the same reference data -- DESIGN invariant 1 makes that
the very event stream the clients were sent.  Replaying with a different configuration than the
server ran gives different answers: tools take the server's own --config.

    for commands, events in replay_chunks(reference, read_journal(dir)): ...
    for entry in audit(reference, records_factory, AuditQuery(order_ids={7})): ...
    table = trades_table(reference, read_journal(dir), from_ns=..., to_ns=..., account=0)

Times are ns since the epoch (UTC); parse_time() reads what operators type.
Amounts leave as exact decimals: ticks * increment, never through float (invariant 3).
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from ordex.core.commands import ADMIN_SESSION, CommandKind, Limit, OrdType, Scope, Side, Tif
from ordex.core.events import EventKind, Liquidity
from ordex.core.lifecycle import OrderState
from ordex.core.reasons import Reason, text as reason_text
from ordex.core import sequencer

ADMIN_MARK = b"adm:"
FEED_MARK = b"feed:"
Records = Iterable[tuple[int, int, int, bytes]]


class AuditError(ValueError):
    """A query that cannot be answered as given (unknown name, bad time)."""


# -- time -----------------------------------------------------------------------------------------
def parse_time(text: str) -> int:
    """ns since the epoch from an integer (ns), a date (2026-03-02 = its midnight UTC) or an ISO
    8601 time (2026-03-02T14:30:00.25Z, offsets allowed; no zone means UTC)."""
    s = text.strip()
    if s.lstrip("-").isdigit():
        return int(s)
    try:
        t = _dt.datetime.fromisoformat(s)
    except ValueError:
        raise AuditError(f"time {text!r}: expected ISO 8601 (2026-03-02T14:30:00Z), a date, "
                         "or ns since the epoch") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    delta = t - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def format_time(ts_ns: int) -> str:
    seconds, nanos = divmod(int(ts_ns), 1_000_000_000)
    t = _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


# -- names and units ------------------------------------------------------------------------------
class Names:
    """Reference-data names and exact decimal amounts for ids and integer counts."""

    def __init__(self, reference):
        self.ref = reference
        self.sessions = {s.id: s.name for s in reference.sessions}
        self.accounts = {a.id: a.name for a in reference.accounts}
        self.symbols = {i.id: i.symbol for i in reference.instruments}
        self.account_ids = {a.name: a.id for a in reference.accounts}
        self.session_ids = {s.name: s.id for s in reference.sessions}
        self.instrument_ids = {i.symbol: i.id for i in reference.instruments}
        self._price = {i.id: i.price_increment for i in reference.instruments}
        self._qty = {i.id: i.qty_increment for i in reference.instruments}
        self.currency = {i.id: i.currency for i in reference.instruments}
        self._cash = {i.id: reference.currencies[i.currency].cash_increment
                      for i in reference.instruments if i.currency in reference.currencies}

    def session(self, sid: int) -> str:
        return "admin" if sid == ADMIN_SESSION else self.sessions.get(sid, f"session#{sid}")

    def account(self, aid: int) -> str:
        return self.accounts.get(aid, f"account#{aid}")

    def symbol(self, iid: int) -> str:
        return self.symbols.get(iid, f"instrument#{iid}")

    def lookup(self, table: str, name: str) -> int:
        ids = {"account": self.account_ids, "session": self.session_ids,
               "instrument": self.instrument_ids}[table]
        if name not in ids:
            raise AuditError(f"unknown {table} {name!r}; known: {', '.join(sorted(ids))}")
        return ids[name]

    @staticmethod
    def _scaled(count: int, inc: Decimal | None) -> Decimal:
        return Decimal(int(count)) if inc is None else Decimal(int(count)) * inc

    def price(self, iid: int, ticks: int) -> Decimal:
        return self._scaled(ticks, self._price.get(iid))

    def qty(self, iid: int, lots: int) -> Decimal:
        return self._scaled(lots, self._qty.get(iid))

    def cash(self, iid: int, amount: int) -> Decimal:
        return self._scaled(amount, self._cash.get(iid))

    def scales(self) -> tuple[int, int, int]:
        """Decimal places that hold every instrument's price, quantity and cash exactly."""
        def places(incs):
            return max([max(0, -d.normalize().as_tuple().exponent) for d in incs] or [0])
        return places(self._price.values()), places(self._qty.values()), places(self._cash.values())

    def actor(self, session: int, kind: int, clordid: bytes) -> str:
        """Who sent a command.  Admin actions carry `adm:<operator>` in clordid and the admin
        session as actor (their target session, if any, in target_session).  Journals from
        before target_session put a session kill switch's target in `session`; KILL_SWITCH is only
        ever sent by the admin listener, so a marked one is the admin's whatever `session` says.
        Reference prices from a `[[feed]]` carry `feed:<name>` (gateway/feed_gateway.py): that
        feed.  Other unmarked commands of the admin session come from the server itself (the
        scheduler's trading hours and GTD timer): "system"."""
        marked = clordid.startswith(ADMIN_MARK)
        op = clordid[len(ADMIN_MARK):].decode(errors="replace") if marked else ""
        if session == ADMIN_SESSION or (marked and kind == CommandKind.KILL_SWITCH):
            if not marked and clordid.startswith(FEED_MARK):
                return clordid.rstrip(b"\0").decode(errors="replace")
            return f"admin:{op}" if marked else "system"
        name = self.session(session)
        return f"{name} (marked adm:{op})" if marked else name


def _fmt(d: Decimal) -> str:
    return format(d, "f")      # never exponent notation (1E-7)


def _enum_name(enum, v: int) -> str:
    return enum(v).name if v in enum._value2member_map_ else str(v)


# -- replay ---------------------------------------------------------------------------------------
def replay_chunks(reference, records: Records, max_orders: int = 1 << 20, chunk: int = 65536,
                  engine_factory: Callable | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(commands, events) per chunk of journal records, replayed through a fresh engine.
    Records must be engine commands with consecutive sequence numbers (ReplayError otherwise)."""
    if engine_factory is None:
        from ordex.ext.engine import Engine as engine_factory
    yield from sequencer.replay_chunks(engine_factory(reference, max_orders=max_orders), records,
                                       chunk)


# -- rendering ------------------------------------------------------------------------------------
def command_entry(names: Names, c) -> dict:
    kind, sid = int(c["kind"]), int(c["session"])
    clordid = bytes(c["clordid"])
    e = {"type": "command", "seq": int(c["seq"]), "ts_ns": int(c["ts_ns"]),
         "time": format_time(c["ts_ns"]), "actor": names.actor(sid, kind, clordid),
         "kind": _enum_name(CommandKind, kind)}
    inst = int(c["instrument"])
    if kind in (CommandKind.NEW_ORDER, CommandKind.QUOTE):    # QUOTE: qty is the open quantity
        if kind == CommandKind.QUOTE and c["orig_clordid"]:
            e["orig_clordid"] = bytes(c["orig_clordid"]).decode(errors="replace")
        e.update(clordid=clordid.decode(errors="replace"), account=names.account(int(c["account"])),
                 instrument=names.symbol(inst), side=_enum_name(Side, int(c["side"])),
                 ord_type=_enum_name(OrdType, int(c["ord_type"])), tif=_enum_name(Tif, int(c["tif"])),
                 qty=_fmt(names.qty(inst, c["qty"])))
        if c["price"]:
            e["price"] = _fmt(names.price(inst, c["price"]))
        if c["stop_price"]:
            e["stop_price"] = _fmt(names.price(inst, c["stop_price"]))
        if c["display"]:
            e["display"] = _fmt(names.qty(inst, c["display"]))
        if c["expire_ts_ns"]:
            e["expire"] = format_time(c["expire_ts_ns"])
        if c["flags"]:
            e["flags"] = int(c["flags"])
        if c["link"]:
            e["link"] = int(c["link"])
    elif kind in (CommandKind.CANCEL, CommandKind.REPLACE, CommandKind.STATUS_REQUEST):
        if clordid:
            e["clordid"] = clordid.decode(errors="replace")
        if c["orig_clordid"]:
            e["orig_clordid"] = bytes(c["orig_clordid"]).decode(errors="replace")
        if c["order_id"]:
            e["order_id"] = int(c["order_id"])
        if kind == CommandKind.REPLACE:     # no instrument in the request: raw counts
            e["qty_lots"] = int(c["qty"])
            e["price_ticks"] = int(c["price"])
            if c["stop_price"]:
                e["stop_price_ticks"] = int(c["stop_price"])
    elif kind in (CommandKind.MASS_CANCEL, CommandKind.KILL_SWITCH):
        scope = int(c["scope"])
        e["scope"] = _enum_name(Scope, scope)
        if scope == Scope.ACCOUNT:
            e["account"] = names.account(int(c["account"]))
        if scope == Scope.SESSION:
            e["target_session"] = names.session(target_session(c))
        if kind == CommandKind.MASS_CANCEL and inst >= 0:
            e["instrument"] = names.symbol(inst)
        if kind == CommandKind.KILL_SWITCH:
            e["on"] = bool(int(c["flags"]) & 8)
    elif kind == CommandKind.SET_STATUS:
        e["instrument"] = names.symbol(inst)
        e["status"] = STATUS_NAMES.get(int(c["status"]), int(c["status"]))
    elif kind == CommandKind.REFERENCE_PRICE:
        e.update(instrument=names.symbol(inst), price=_fmt(names.price(inst, c["price"])))
    elif kind == CommandKind.SET_LIMIT:
        limit = int(c["status"])
        e["limit"] = _enum_name(Limit, limit)
        if limit == Limit.MAX_POSITION:
            e["account"] = names.account(int(c["account"]))
        if limit == Limit.THROTTLE:
            e["target_session"] = names.session(target_session(c))
        else:
            e["instrument"] = names.symbol(inst)
        e["value"] = limit_value(names, limit, inst, int(c["qty"]))
    elif kind == CommandKind.DISCONNECT:
        e["target_session"] = names.session(target_session(c))
        if c["orig_clordid"]:
            e["text"] = bytes(c["orig_clordid"]).decode(errors="replace")
    return e


STATUS_NAMES = {0: "open", 1: "halted", 2: "closed"}


def target_session(c) -> int:
    """The session a command is about: target_session - 1, or (0: none) its actor."""
    t = int(c["target_session"])
    return t - 1 if t else int(c["session"])


def limit_value(names: Names, limit: int, inst: int, value: int) -> str:
    """A SET_LIMIT value in the unit an operator writes (ordex admin set-limit)."""
    if limit in (Limit.MAX_POSITION, Limit.MAX_ORDER_QTY):
        return _fmt(names.qty(inst, value))
    if limit == Limit.MAX_NOTIONAL:
        return _fmt(names.cash(inst, value))
    if limit == Limit.REF_MAX_AGE:
        return _fmt(Decimal(value).scaleb(-9).normalize()) + " s"
    if limit == Limit.COLLAR_BPS:
        return f"{value} bps"
    return f"{value}/s" if limit == Limit.THROTTLE else str(value)


def event_entry(names: Names, ev, actor: str) -> dict:
    kind, inst, reason = int(ev["kind"]), int(ev["instrument"]), int(ev["reason"])
    e = {"type": "event", "seq": int(ev["seq"]), "ts_ns": int(ev["ts_ns"]),
         "time": format_time(ev["ts_ns"]), "actor": actor, "kind": _enum_name(EventKind, kind),
         "exec_id": int(ev["exec_id"]), "order_id": int(ev["order_id"]),
         "clordid": bytes(ev["clordid"]).decode(errors="replace"),
         "session": names.session(int(ev["session"])), "account": names.account(int(ev["account"])),
         "instrument": names.symbol(inst), "state": _enum_name(OrderState, int(ev["state"]))}
    if ev["orig_clordid"]:
        e["orig_clordid"] = bytes(ev["orig_clordid"]).decode(errors="replace")
    if kind == EventKind.MASS_CANCEL_DONE:
        e["cancelled"] = int(ev["qty"])
    elif kind == EventKind.STATUS_CHANGED:
        for k in ("order_id", "state", "account"):
            del e[k]
        e["status"] = STATUS_NAMES.get(int(ev["qty"]), int(ev["qty"]))
        e["previous"] = STATUS_NAMES.get(int(ev["last_qty"]), int(ev["last_qty"]))
    elif kind == EventKind.CLORDIDS_PURGED:
        for k in ("order_id", "state", "account", "instrument"):
            del e[k]
        e.update(forgotten=int(ev["qty"]), kept=int(ev["leaves"]))
    elif kind in (EventKind.LIMIT_SET, EventKind.ADMIN_REJECTED, EventKind.DISCONNECT):
        for k in ("order_id", "state", "account", "instrument"):
            del e[k]
        if kind == EventKind.DISCONNECT:
            e["session"] = names.session(int(ev["session"]))
        else:
            limit = int(ev["ord_type"])
            e["limit"] = _enum_name(Limit, limit)
            e["value"] = limit_value(names, limit, inst, int(ev["qty"]))
            if kind == EventKind.LIMIT_SET:
                e["previous"] = limit_value(names, limit, inst, int(ev["last_qty"]))
    elif kind == EventKind.CANCEL_REJECTED and ev["state"] == OrderState.REJECTED:
        # the target is not live: the order fields came from the request, which has none
        for k in ("account", "instrument"):
            del e[k]
    else:
        e.update(side=_enum_name(Side, int(ev["side"])), qty=_fmt(names.qty(inst, ev["qty"])),
                 leaves=_fmt(names.qty(inst, ev["leaves"])), cum_qty=_fmt(names.qty(inst, ev["cum_qty"])))
        if ev["price"]:
            e["price"] = _fmt(names.price(inst, ev["price"]))
        if ev["avg_px"]:
            e["avg_px"] = _fmt(names.price(inst, ev["avg_px"]))
    if kind in (EventKind.TRADE, EventKind.RESTATED):
        e["last_qty"] = _fmt(names.qty(inst, ev["last_qty"]))
    if kind == EventKind.TRADE:
        e.update(last_px=_fmt(names.price(inst, ev["last_px"])), fee=_fmt(names.cash(inst, ev["fee"])),
                 liquidity=_enum_name(Liquidity, int(ev["liquidity"])),
                 contra_order_id=int(ev["other_order_id"]))
    if reason:
        e["reason"] = _enum_name(Reason, reason)
        if reason in Reason._value2member_map_:
            e["reason_text"] = reason_text(reason)
    return e


# -- audit ----------------------------------------------------------------------------------------
@dataclass
class AuditQuery:
    order_ids: set[int] = field(default_factory=set)
    clordid: bytes | None = None          # with session
    session: int | None = None
    account: int | None = None
    instrument: int | None = None         # its trading status: SET_STATUS and STATUS_CHANGED
    from_ns: int | None = None
    to_ns: int | None = None

    def check(self) -> None:
        chosen = (bool(self.order_ids) + (self.clordid is not None) + (self.account is not None)
                  + (self.instrument is not None))
        if chosen != 1:
            raise AuditError("choose one of: order ids, a clordid with its session, an account, "
                             "an instrument")
        if (self.clordid is None) != (self.session is None):
            raise AuditError("a clordid is unique per session: give both")


def _resolve_clordid(reference, records: Records, q: AuditQuery, **kw) -> set[int]:
    """Every order the (session, clordid) ever named: its entry, or a cancel/replace of it."""
    ids: set[int] = set()
    for _, ev in replay_chunks(reference, records, **kw):
        m = (ev["session"] == q.session) & ((ev["clordid"] == q.clordid)
                                             | (ev["orig_clordid"] == q.clordid))
        ids.update(int(x) for x in np.unique(ev["order_id"][m]) if x)
    return ids


_ADMIN_EVENTS = (EventKind.LIMIT_SET, EventKind.ADMIN_REJECTED, EventKind.DISCONNECT,
                 EventKind.STATUS_CHANGED, EventKind.CLORDIDS_PURGED)


def audit(reference, records: Callable[[], Records], q: AuditQuery, **kw) -> Iterator[dict]:
    """Command and event entries of the selected orders, in sequence order: each command that
    touched them (with its actor), followed by its events that concern them.  `records` is
    called for each pass over the journal (a clordid query needs two)."""
    q.check()
    names = Names(reference)
    ids = set(q.order_ids)
    if q.clordid is not None:
        ids = _resolve_clordid(reference, records(), q, **kw)
    id_array = np.fromiter(ids, dtype=np.int64, count=len(ids))
    for cmds, ev in replay_chunks(reference, records(), **kw):
        if q.to_ns is not None and len(cmds) and cmds["ts_ns"][0] > q.to_ns:
            break
        if q.instrument is not None:
            sel = (ev["kind"] == EventKind.STATUS_CHANGED) & (ev["instrument"] == q.instrument)
            direct = (cmds["kind"] == CommandKind.SET_STATUS) & (cmds["instrument"] == q.instrument)
        elif q.account is not None:
            # operators' events carry the command's account field, which only a MAX_POSITION
            # limit uses
            admin = np.isin(ev["kind"], _ADMIN_EVENTS)
            sel = (ev["account"] == q.account) & (~admin | (ev["ord_type"] == Limit.MAX_POSITION))
            direct = (cmds["account"] == q.account) & (((cmds["scope"] == Scope.ACCOUNT) & np.isin(
                cmds["kind"], (CommandKind.KILL_SWITCH, CommandKind.MASS_CANCEL)))
                | ((cmds["kind"] == CommandKind.SET_LIMIT) & (cmds["status"] == Limit.MAX_POSITION)))
        else:
            sel = np.isin(ev["order_id"], id_array)
            if q.clordid is not None:
                sel |= ((ev["session"] == q.session) & (ev["clordid"] == q.clordid)
                        & (ev["order_id"] == 0))
            direct = np.zeros(len(cmds), dtype=bool)
        if q.from_ns is not None:
            sel &= ev["ts_ns"] >= q.from_ns
            direct &= cmds["ts_ns"] >= q.from_ns
        if q.to_ns is not None:
            sel &= ev["ts_ns"] <= q.to_ns
            direct &= cmds["ts_ns"] <= q.to_ns
        chosen = ev[sel]
        want = np.union1d(np.unique(chosen["seq"]), cmds["seq"][direct])
        if not len(want):
            continue
        first = int(cmds["seq"][0])
        by_seq: dict[int, list] = {}
        for e in chosen:
            by_seq.setdefault(int(e["seq"]), []).append(e)
        for seq in want.tolist():
            c = cmds[seq - first]
            entry = command_entry(names, c)
            yield entry
            for e in by_seq.get(seq, ()):
                yield event_entry(names, e, entry["actor"])


def format_entry(e: dict) -> str:
    """One line of `ordex audit` text output."""
    skip = {"type", "seq", "ts_ns", "time", "actor", "kind"}
    rest = " ".join(f"{k}={v}" for k, v in e.items() if k not in skip and k != "reason_text")
    if e["type"] == "command":
        return f"{e['time']}  seq {e['seq']:>8}  {e['actor']:<16} {e['kind']:<15} {rest}"
    why = f"  ({e['reason_text']})" if "reason_text" in e else ""
    return f"{'':>30}  -> {e['kind']:<16} {rest}{why}"


# -- trades ---------------------------------------------------------------------------------------
TRADE_COLUMNS = ("seq", "ts_ns", "time", "exec_id", "order_id", "contra_order_id", "clordid",
                 "session", "account", "instrument", "side", "liquidity", "price", "qty", "fee",
                 "currency", "price_ticks", "qty_lots", "fee_cash")


def trades(reference, records: Records, from_ns: int | None = None, to_ns: int | None = None,
           account: int | None = None, **kw) -> Iterator[np.ndarray]:
    """TRADE events (EVENT_DTYPE, one per side of each fill) in the window, per replay chunk."""
    for cmds, ev in replay_chunks(reference, records, **kw):
        if to_ns is not None and len(cmds) and cmds["ts_ns"][0] > to_ns:
            break
        sel = ev["kind"] == EventKind.TRADE
        if from_ns is not None:
            sel &= ev["ts_ns"] >= from_ns
        if to_ns is not None:
            sel &= ev["ts_ns"] <= to_ns
        if account is not None:
            sel &= ev["account"] == account
        if sel.any():
            yield ev[sel]


def trade_rows(names: Names, trades_: np.ndarray) -> Iterator[dict]:
    """Trade events as export rows: names, exact Decimals, and the integer counts they come from."""
    for t in trades_:
        inst = int(t["instrument"])
        yield {"seq": int(t["seq"]), "ts_ns": int(t["ts_ns"]), "time": format_time(t["ts_ns"]),
               "exec_id": int(t["exec_id"]), "order_id": int(t["order_id"]),
               "contra_order_id": int(t["other_order_id"]),
               "clordid": bytes(t["clordid"]).decode(errors="replace"),
               "session": names.session(int(t["session"])), "account": names.account(int(t["account"])),
               "instrument": names.symbol(inst), "side": _enum_name(Side, int(t["side"])),
               "liquidity": _enum_name(Liquidity, int(t["liquidity"])),
               "price": names.price(inst, t["last_px"]), "qty": names.qty(inst, t["last_qty"]),
               "fee": names.cash(inst, t["fee"]), "currency": names.currency.get(inst, ""),
               "price_ticks": int(t["last_px"]), "qty_lots": int(t["last_qty"]),
               "fee_cash": int(t["fee"])}

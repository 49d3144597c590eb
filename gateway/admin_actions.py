"""What an operator may do to a running server, as sequenced engine commands.

Every action is a command submitted through `Server.submit()` -- journaled, replayed and audited
like any order -- never a side door into state or into a connection.  The actor is always
ADMIN_SESSION (-1); a session the action is about is the command's `target_session` (session id
+ 1, see core/commands.py); the operator's name rides in the clordid as `adm:<operator>`, which
`ordex audit` shows.

    halt / resume / close   SET_STATUS 1 / 0 / 2 (close expires the instrument's DAY orders)
    kill-switch             KILL_SWITCH, scope ACCOUNT, or SESSION with a target, Flag.ON for on
    mass-cancel             MASS_CANCEL by account, session (target), instrument, or all; its
                            MASS_CANCEL_DONE goes to the actor, not to the cancelled session
    disconnect              DISCONNECT of a target session, the reason text in orig_clordid: the
                            FIX and binary gateways log that session out when the event is
                            durable (cancel on disconnect then applies as for any disconnect);
                            a replay changes nothing on the network
    set-limit               SET_LIMIT: one of LIMITS (names below) for an account + instrument,
                            an instrument or a session, the value a decimal string in the
                            limit's human unit, converted to the engine's integer grid here
    purge-clordids          PURGE_CLORDIDS: a new trading day for ClOrdID uniqueness (the engine
                            forgets the ClOrdIDs of orders no longer live; the scheduler also
                            issues it daily when [engine] clordid_reset is set)
"""
from __future__ import annotations

import asyncio
import logging
import re

import numpy as np

from decimal import Decimal, InvalidOperation

from ordex.core.commands import (ADMIN_SESSION, CLORDID_LEN, COMMAND_DTYPE, CommandKind, Flag,
                                 Limit, Scope, target)
from ordex.core.events import EventKind
from ordex.core.reasons import Reason

log = logging.getLogger("ordex.admin")

OPERATOR_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,20}$")
ADMIN_CLORDID_PREFIX = b"adm:"
STATUS = {"open": 0, "halted": 1, "closed": 2}


class ActionError(Exception):
    """A request the admin listener answers with an HTTP error (status) and this message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _keys(body: dict, allowed: set[str], required: set[str] = frozenset()) -> None:
    unknown = set(body) - allowed - {"operator"}
    if unknown:
        raise ActionError(400, f"unknown field(s): {', '.join(sorted(unknown))}; "
                               f"expected {', '.join(sorted(allowed))}")
    missing = required - set(body)
    if missing:
        raise ActionError(400, f"missing field(s): {', '.join(sorted(missing))}")


def _str(body: dict, key: str) -> str | None:
    v = body.get(key)
    if v is not None and not isinstance(v, str):
        raise ActionError(400, f"{key} must be a string")
    return v


class AdminActions:
    def __init__(self, server, reference, connected=lambda name: None, timeout_s: float = 10.0):
        """connected(session name): whether a gateway has that session connected now (None:
        no gateway serves it); only reported back, never decides anything."""
        self.server = server
        self.timeout_s = timeout_s
        self.connected = connected
        self.reference = reference
        self.instruments = {i.symbol: i.id for i in reference.instruments}
        self.accounts = {a.name: a.id for a in reference.accounts}
        self.sessions = {s.name: s.id for s in reference.sessions}
        self._waiting: dict[int, asyncio.Future] = {}
        server.subscribe(self._on_events)

    ACTIONS = ("halt", "resume", "close", "kill-switch", "mass-cancel", "disconnect", "set-limit",
               "purge-clordids")

    async def run(self, action: str, body: dict) -> dict:
        if not isinstance(body, dict):
            raise ActionError(400, "the request body must be a JSON object")
        operator = body.get("operator", "admin")
        if not isinstance(operator, str) or not OPERATOR_RE.match(operator):
            raise ActionError(400, "operator must be 1-20 characters of A-Z a-z 0-9 _ . @ -")
        handler = {"halt": self.halt, "resume": self.resume, "close": self.close,
                   "kill-switch": self.kill_switch, "mass-cancel": self.mass_cancel,
                   "disconnect": self.disconnect, "set-limit": self.set_limit,
                   "purge-clordids": self.purge_clordids}.get(action)
        if handler is None:
            raise ActionError(404, f"no admin action {action!r}; actions: {', '.join(self.ACTIONS)}")
        return await handler(body, operator)

    # -- lookups ------------------------------------------------------------------------------
    def _id(self, table: dict[str, int], what: str, name: str | None) -> int:
        if name not in table:
            raise ActionError(404, f"unknown {what} {name!r}; known: {', '.join(sorted(table))}")
        return table[name]

    # -- actions ------------------------------------------------------------------------------
    async def halt(self, body: dict, operator: str) -> dict:
        return await self._status(body, operator, "halted")

    async def resume(self, body: dict, operator: str) -> dict:
        return await self._status(body, operator, "open")

    async def close(self, body: dict, operator: str) -> dict:
        return await self._status(body, operator, "closed")

    async def _status(self, body: dict, operator: str, status: str) -> dict:
        _keys(body, {"instrument"}, {"instrument"})
        symbol = _str(body, "instrument")
        row = self._row(CommandKind.SET_STATUS, ADMIN_SESSION, operator)
        row["instrument"] = self._id(self.instruments, "instrument", symbol)
        row["status"] = STATUS[status]
        return await self._submit(row, operator, f"set {symbol} {status}",
                                  {"instrument": symbol, "status": status})

    async def kill_switch(self, body: dict, operator: str) -> dict:
        _keys(body, {"account", "session", "on"}, {"on"})
        on = body["on"]
        if not isinstance(on, bool):
            raise ActionError(400, "on must be true or false")
        account, session = _str(body, "account"), _str(body, "session")
        if (account is None) == (session is None):
            raise ActionError(400, "give exactly one of account or session")
        if account is not None:
            row = self._row(CommandKind.KILL_SWITCH, ADMIN_SESSION, operator)
            row["scope"], row["account"] = Scope.ACCOUNT, self._id(self.accounts, "account", account)
            target_ = {"account": account}
        else:
            row = self._row(CommandKind.KILL_SWITCH, ADMIN_SESSION, operator)
            row["scope"] = Scope.SESSION
            row["target_session"] = target(self._id(self.sessions, "session", session))
            target_ = {"session": session}
        row["flags"] = Flag.ON if on else 0
        return await self._submit(row, operator, f"kill switch {'on' if on else 'off'}",
                                  {**target_, "on": on})

    async def mass_cancel(self, body: dict, operator: str) -> dict:
        _keys(body, {"account", "session", "instrument", "all"})
        account, session, symbol = _str(body, "account"), _str(body, "session"), _str(body, "instrument")
        everything = body.get("all", False)
        if not isinstance(everything, bool):
            raise ActionError(400, "all must be true or false")
        if account is not None and session is not None:
            raise ActionError(400, "give account or session, not both")
        if everything and (account or session or symbol):
            raise ActionError(400, "all cancels everything: give no account, session or instrument")
        if not (everything or account or session or symbol):
            raise ActionError(400, "say what to cancel: account, session, instrument, or all=true")
        instrument = self._id(self.instruments, "instrument", symbol) if symbol is not None else -1
        row = self._row(CommandKind.MASS_CANCEL, ADMIN_SESSION, operator)
        if session is not None:
            row["scope"] = Scope.SESSION
            row["target_session"] = target(self._id(self.sessions, "session", session))
        else:
            if account is not None:
                row["scope"], row["account"] = Scope.ACCOUNT, self._id(self.accounts, "account", account)
            else:
                row["scope"] = Scope.INSTRUMENT if symbol is not None else Scope.ALL
        row["instrument"] = instrument
        named = {k: v for k, v in (("account", account), ("session", session),
                                   ("instrument", symbol)) if v is not None}
        result = await self._submit(row, operator, "mass cancel", named or {"all": True})
        done = [e for e in result["events"] if e["kind"] == "MASS_CANCEL_DONE"]
        result["cancelled"] = done[0]["qty"] if done else 0
        return result

    async def disconnect(self, body: dict, operator: str) -> dict:
        """DISCONNECT: the gateways log the session out once the command is durable."""
        _keys(body, {"session", "reason"}, {"session"})
        name, reason = _str(body, "session"), _str(body, "reason") or ""
        if not reason.isascii() or len(reason.encode()) > CLORDID_LEN:
            raise ActionError(400, f"reason must be at most {CLORDID_LEN} ASCII characters "
                                   "(it is journaled with the command)")
        row = self._row(CommandKind.DISCONNECT, ADMIN_SESSION, operator)
        row["target_session"] = target(self._id(self.sessions, "session", name))
        row["orig_clordid"] = reason.encode()
        connected = self.connected(name)
        result = await self._submit(row, operator, f"disconnect {name}", {"session": name})
        result["journaled"] = True
        result["connected"] = connected
        return result

    async def set_limit(self, body: dict, operator: str) -> dict:
        """SET_LIMIT.  body: limit (a LIMITS name), value (a decimal string in the limit's unit),
        and the target the limit needs: account + instrument, instrument, or session."""
        _keys(body, {"limit", "value", "account", "instrument", "session"}, {"limit", "value"})
        name = _str(body, "limit")
        spec = LIMITS.get(name)
        if spec is None:
            raise ActionError(400, f"unknown limit {name!r}; limits: {', '.join(LIMITS)}")
        needs = spec.target
        given = {k for k in ("account", "instrument", "session") if body.get(k) is not None}
        if given != set(needs):
            raise ActionError(400, f"limit {name} takes {' and '.join(needs)} (got "
                                   f"{', '.join(sorted(given)) or 'none'})")
        value = body["value"]
        if not isinstance(value, str):
            raise ActionError(400, "value must be a decimal string (no floats), e.g. \"500\"")
        row = self._row(CommandKind.SET_LIMIT, ADMIN_SESSION, operator)
        row["status"] = spec.limit
        named = {}
        if "account" in needs:
            named["account"] = _str(body, "account")
            row["account"] = self._id(self.accounts, "account", named["account"])
        inst = None
        if "instrument" in needs:
            named["instrument"] = _str(body, "instrument")
            row["instrument"] = self._id(self.instruments, "instrument", named["instrument"])
            inst = self.reference.instruments[int(row["instrument"][0])]
        if "session" in needs:
            named["session"] = _str(body, "session")
            row["target_session"] = target(self._id(self.sessions, "session", named["session"]))
        row["qty"] = spec.to_grid(value, inst, self.reference)
        result = await self._submit(row, operator, f"set limit {name} = {value}",
                                    {"limit": name, "value": value, **named})
        refused = [e for e in result["events"] if e["kind"] == "ADMIN_REJECTED"]
        if refused:
            raise ActionError(400, f"the engine refused: {refused[0]['reason']} (journaled as "
                                   f"seq {result['seq']}; nothing changed)")
        done = [e for e in result["events"] if e["kind"] == "LIMIT_SET"]
        if done:
            result["grid_value"], result["previous_grid_value"] = done[0]["qty"], done[0]["last_qty"]
        return result

    async def purge_clordids(self, body: dict, operator: str) -> dict:
        """PURGE_CLORDIDS: the ClOrdIDs of finished orders may be used again."""
        _keys(body, set())
        row = self._row(CommandKind.PURGE_CLORDIDS, ADMIN_SESSION, operator)
        result = await self._submit(row, operator, "purge ClOrdIDs", {})
        done = [e for e in result["events"] if e["kind"] == "CLORDIDS_PURGED"]
        if done:
            result["forgotten"] = done[0]["qty"]
            result["kept"] = done[0]["leaves"]
        return result

    # -- plumbing -----------------------------------------------------------------------------
    def _row(self, kind: int, session: int, operator: str) -> np.ndarray:
        row = np.zeros(1, dtype=COMMAND_DTYPE)
        row["kind"], row["session"] = kind, session
        row["clordid"] = ADMIN_CLORDID_PREFIX + operator.encode()
        return row

    async def _submit(self, row: np.ndarray, operator: str, what: str, named: dict) -> dict:
        server = self.server
        try:
            seq = server.submit(row)
        except Exception as e:        # NotAccepting, journal back-pressure or failure
            raise ActionError(503, f"not accepting commands: {e}") from None
        log.warning("admin: %s", what, extra={"actor": "admin", "operator": operator, "seq": seq,
                                              "action": CommandKind(int(row["kind"][0])).name,
                                              **named})
        # The server holds a submit's events until durable; whether it holds any for this one
        # decides what to wait for (Server keeps the queue private: see metrics.py).
        held = server._held
        loop = asyncio.get_running_loop()
        events: list = []
        try:
            if held and held[-1][0] == seq:
                fut = self._waiting[seq] = loop.create_future()
                events = await asyncio.wait_for(fut, self.timeout_s)
            else:
                deadline = loop.time() + self.timeout_s
                while server.durable_seq < seq:
                    if loop.time() > deadline or server.journal.failure is not None:
                        raise asyncio.TimeoutError
                    await asyncio.sleep(0.001)
        except asyncio.TimeoutError:
            self._waiting.pop(seq, None)
            raise ActionError(504, f"command {seq} was journaled but is not durable after "
                                   f"{self.timeout_s} s") from None
        return {"ok": True, "action": what, "seq": seq, "operator": operator, **named,
                "events": events}

    def _on_events(self, events: np.ndarray) -> None:
        if not self._waiting:
            return
        last = int(events["seq"][-1])
        fut = self._waiting.pop(last, None)
        if fut is None or fut.done():
            return
        fut.set_result([{"kind": EventKind(int(e["kind"])).name, "order_id": int(e["order_id"]),
                         "qty": int(e["qty"]), "last_qty": int(e["last_qty"]),
                         "leaves": int(e["leaves"]),
                         "reason": Reason(int(e["reason"])).name if int(e["reason"]) in
                         Reason._value2member_map_ else int(e["reason"])} for e in events])


class _LimitSpec:
    """An operator's name for a Limit: what it targets and how its human value becomes an
    integer on the engine's grid (a value off the grid is refused, never rounded)."""

    def __init__(self, limit: Limit, target: tuple[str, ...], unit: str):
        self.limit, self.target, self.unit = limit, target, unit

    def to_grid(self, text: str, inst, reference) -> int:
        try:
            d = Decimal(text.strip())
        except InvalidOperation:
            raise ActionError(400, f"value {text!r} is not a decimal number") from None
        if not d.is_finite() or d < 0:
            raise ActionError(400, f"value {text!r} must be a finite number >= 0")
        step = {"qty": lambda: inst.qty_increment,
                "cash": lambda: reference.currencies[inst.currency].cash_increment,
                "bps": lambda: Decimal(1), "seconds": lambda: Decimal("0.000000001"),
                "per_second": lambda: Decimal(1)}[self.unit]()
        q = d / step
        if q != q.to_integral_value():
            raise ActionError(400, f"value {text} is not a multiple of {step} ({self.unit})")
        n = int(q)
        if n >= 1 << 63:
            raise ActionError(400, f"value {text} does not fit the engine's 64-bit grid")
        return n


# name -> (Limit, target fields, unit of the value the operator writes)
LIMITS = {
    "max_position": _LimitSpec(Limit.MAX_POSITION, ("account", "instrument"), "qty"),
    "max_order_qty": _LimitSpec(Limit.MAX_ORDER_QTY, ("instrument",), "qty"),
    "max_notional": _LimitSpec(Limit.MAX_NOTIONAL, ("instrument",), "cash"),
    "collar_bps": _LimitSpec(Limit.COLLAR_BPS, ("instrument",), "bps"),
    "ref_max_age_s": _LimitSpec(Limit.REF_MAX_AGE, ("instrument",), "seconds"),
    "max_orders_per_sec": _LimitSpec(Limit.THROTTLE, ("session",), "per_second"),
}


_DISCONNECT = bytes([EventKind.DISCONNECT])      # EVENT_DTYPE kind is one byte


def disconnects(events: np.ndarray):
    """(session id, seq, Logout text) of each DISCONNECT event in a durable batch, for the
    gateways to carry out.  Every batch passes through here: a byte search of the kinds first
    (0.3-1.2 us, against ~4 us for an array comparison)."""
    kinds = events["kind"]
    if _DISCONNECT not in kinds.tobytes():
        return
    for ev in events[np.flatnonzero(kinds == int(EventKind.DISCONNECT))]:
        yield (int(ev["session"]), int(ev["seq"]),
               disconnect_text(bytes(ev["clordid"]), bytes(ev["orig_clordid"])))


def disconnect_text(clordid: bytes, reason: bytes) -> str:
    """The Logout text a gateway sends for a DISCONNECT event (its clordid and orig_clordid)."""
    who = clordid.rstrip(b"\0")
    who = who[4:].decode(errors="replace") if who.startswith(ADMIN_CLORDID_PREFIX) else "operator"
    why = reason.rstrip(b"\0").decode(errors="replace") or "disconnected by operator"
    return f"{why} ({who})"

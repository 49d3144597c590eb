"""What an operator may do to a running server, as sequenced engine commands.

Every action that changes engine state is a command submitted through `Server.submit()` --
journaled, replayed and audited like any order -- never a side door into state.  The actor is
ADMIN_SESSION (-1) where the command layout allows it; the operator's name rides in the command's
clordid as `adm:<operator>`, which `ordex audit` shows.

    halt / resume / close   SET_STATUS 1 / 0 / 2 (close expires the instrument's DAY orders)
    kill-switch             KILL_SWITCH, scope ACCOUNT or SESSION, Flag.ON for on
    mass-cancel             MASS_CANCEL by account, session, instrument, or all
    disconnect              the FIX session's Logout (a gateway action, not an engine command)
    risk-limit              refused: the engine has no command to change a limit (see RiskLimit)

Two limits of the command layout show here.  KILL_SWITCH and MASS_CANCEL with scope SESSION take
their target from the `session` field, which is also the actor: an admin action on a session is
journaled with that session as its actor, and only the `adm:` clordid tells it apart.  And a
MASS_CANCEL_DONE for such a session is delivered to that session (an unsolicited mass-cancel
report on FIX).
"""
from __future__ import annotations

import asyncio
import logging
import re

import numpy as np

from ordex.core.commands import ADMIN_SESSION, COMMAND_DTYPE, CommandKind, Flag, Scope
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
    def __init__(self, server, reference, fix_acceptor=lambda: None, timeout_s: float = 10.0):
        self.server = server
        self.timeout_s = timeout_s
        self.fix_acceptor = fix_acceptor
        self.instruments = {i.symbol: i.id for i in reference.instruments}
        self.accounts = {a.name: a.id for a in reference.accounts}
        self.sessions = {s.name: s.id for s in reference.sessions}
        self._waiting: dict[int, asyncio.Future] = {}
        server.subscribe(self._on_events)

    ACTIONS = ("halt", "resume", "close", "kill-switch", "mass-cancel", "disconnect", "risk-limit")

    async def run(self, action: str, body: dict) -> dict:
        if not isinstance(body, dict):
            raise ActionError(400, "the request body must be a JSON object")
        operator = body.get("operator", "admin")
        if not isinstance(operator, str) or not OPERATOR_RE.match(operator):
            raise ActionError(400, "operator must be 1-20 characters of A-Z a-z 0-9 _ . @ -")
        handler = {"halt": self.halt, "resume": self.resume, "close": self.close,
                   "kill-switch": self.kill_switch, "mass-cancel": self.mass_cancel,
                   "disconnect": self.disconnect, "risk-limit": self.risk_limit}.get(action)
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
            target = {"account": account}
        else:
            # The engine reads a session kill switch's target from `session` (see module doc).
            row = self._row(CommandKind.KILL_SWITCH, self._id(self.sessions, "session", session),
                            operator)
            row["scope"] = Scope.SESSION
            target = {"session": session}
        row["flags"] = Flag.ON if on else 0
        return await self._submit(row, operator, f"kill switch {'on' if on else 'off'}",
                                  {**target, "on": on})

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
        if session is not None:
            row = self._row(CommandKind.MASS_CANCEL, self._id(self.sessions, "session", session),
                            operator)
            row["scope"] = Scope.SESSION
        else:
            row = self._row(CommandKind.MASS_CANCEL, ADMIN_SESSION, operator)
            if account is not None:
                row["scope"], row["account"] = Scope.ACCOUNT, self._id(self.accounts, "account", account)
            else:
                row["scope"] = Scope.INSTRUMENT if symbol is not None else Scope.ALL
        row["instrument"] = instrument
        target = {k: v for k, v in (("account", account), ("session", session),
                                    ("instrument", symbol)) if v is not None}
        result = await self._submit(row, operator, "mass cancel", target or {"all": True})
        done = [e for e in result["events"] if e["kind"] == "MASS_CANCEL_DONE"]
        result["cancelled"] = done[0]["qty"] if done else 0
        return result

    async def disconnect(self, body: dict, operator: str) -> dict:
        """Log a FIX session out.  Not an engine command: the journal sees only what follows
        (its cancel-on-disconnect mass cancel, if configured); the log line carries the actor."""
        _keys(body, {"session", "reason"}, {"session"})
        name, reason = _str(body, "session"), _str(body, "reason") or "disconnected by operator"
        self._id(self.sessions, "session", name)
        acceptor = self.fix_acceptor()
        if acceptor is None:
            raise ActionError(409, "no FIX gateway is running")
        try:
            session = acceptor.session(name)
        except KeyError:
            raise ActionError(404, f"{name!r} is not a FIX session") from None
        if not session.logged_on:
            raise ActionError(409, f"session {name} is not logged on")
        log.warning("admin: disconnect session %s: %s", name, reason,
                    extra={"actor": "admin", "operator": operator, "action": "disconnect",
                           "session": name})
        session.logout(f"{reason} ({operator})"[:200])
        return {"ok": True, "action": "disconnect", "session": name, "journaled": False}

    async def risk_limit(self, body: dict, operator: str) -> dict:
        _keys(body, {"account", "instrument", "limit", "value"}, {"account", "limit", "value"})
        account = _str(body, "account")
        self._id(self.accounts, "account", account)
        symbol = _str(body, "instrument")
        if symbol is not None:
            self._id(self.instruments, "instrument", symbol)
        limit = _str(body, "limit")
        if limit not in RISK_LIMITS:
            raise ActionError(400, f"limit must be one of {', '.join(RISK_LIMITS)}")
        if not isinstance(body["value"], str):
            raise ActionError(400, "value must be a decimal string (no floats)")
        # The request is checked in full so that wiring SET_LIMIT in is the only missing step.
        log.warning("admin: risk limit change refused: the engine has no SET_LIMIT command",
                    extra={"actor": "admin", "operator": operator, "action": "risk-limit",
                           "account": account})
        raise ActionError(501, "changing a risk limit needs an engine command (SET_LIMIT) that "
                               "does not exist yet; nothing was changed")

    # -- plumbing -----------------------------------------------------------------------------
    def _row(self, kind: int, session: int, operator: str) -> np.ndarray:
        row = np.zeros(1, dtype=COMMAND_DTYPE)
        row["kind"], row["session"] = kind, session
        row["clordid"] = ADMIN_CLORDID_PREFIX + operator.encode()
        return row

    async def _submit(self, row: np.ndarray, operator: str, what: str, target: dict) -> dict:
        server = self.server
        try:
            seq = server.submit(row)
        except Exception as e:        # NotAccepting, journal back-pressure or failure
            raise ActionError(503, f"not accepting commands: {e}") from None
        log.warning("admin: %s", what, extra={"actor": "admin", "operator": operator, "seq": seq,
                                              "action": CommandKind(int(row["kind"][0])).name,
                                              **target})
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
        return {"ok": True, "action": what, "seq": seq, "operator": operator, **target,
                "events": events}

    def _on_events(self, events: np.ndarray) -> None:
        if not self._waiting:
            return
        last = int(events["seq"][-1])
        fut = self._waiting.pop(last, None)
        if fut is None or fut.done():
            return
        fut.set_result([{"kind": EventKind(int(e["kind"])).name, "order_id": int(e["order_id"]),
                         "qty": int(e["qty"]),
                         "reason": Reason(int(e["reason"])).name if int(e["reason"]) in
                         Reason._value2member_map_ else int(e["reason"])} for e in events])


# The limits an operator would change; the engine would need SET_LIMIT to apply them.
RISK_LIMITS = ("max_position", "max_notional", "max_orders_per_sec", "band_bps")

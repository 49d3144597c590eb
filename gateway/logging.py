"""Structured logs: one JSON object per line, for log shippers (Vector, Fluent Bit, Loki, ELK).

Every line has `ts` (UTC, ISO 8601 with microseconds), `level`, `logger` and `msg`; identifiers
given through `extra=` become top-level keys, so that operators can filter on them:

    log.info("order halted", extra={"session": "CLIENT1", "order_id": 17, "seq": 4211})

The identifiers ordex uses are listed in ID_KEYS.  `configure(level)` installs the formatter on the
root logger (ordex serve does this with [server] log_level).  `EventLog` is an engine-event sink
that logs every durable event at DEBUG with its session, account, order, clordid and seq -- a
per-order trace for debugging, off unless the level is debug, because it costs per event.
"""
from __future__ import annotations

import logging
import sys
import time
from typing import IO

import numpy as np
import orjson

from ordex.core.events import EventKind
from ordex.core.reasons import Reason

# keys a record may carry (through `extra=`) that become top-level JSON fields
ID_KEYS = ("session", "account", "instrument", "order_id", "clordid", "seq", "exec_id", "actor",
           "operator", "action", "peer", "reason", "state", "kind", "qty", "price", "status")

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        seconds, frac = divmod(record.created, 1.0)
        obj = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
               + f".{int(frac * 1e6):06d}Z",
               "level": record.levelname.lower(), "logger": record.name,
               "msg": record.getMessage()}
        d = record.__dict__
        for key in ID_KEYS:
            if key in d:
                v = d[key]
                obj[key] = v.decode(errors="replace") if isinstance(v, bytes) else v
        if record.exc_info:
            obj["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(obj, default=str).decode()


def configure(level: str = "info", stream: IO[str] | None = None) -> logging.Handler:
    """JSON lines on `stream` (stderr) at `level` for every logger; replaces the root handlers."""
    if level not in _LEVELS:
        raise ValueError(f"log level {level!r}: expected one of {', '.join(_LEVELS)}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(_LEVELS[level])
    return handler


class EventLog:
    """Engine-event sink (Server.subscribe): one DEBUG line per durable event."""

    def __init__(self, reference, logger: logging.Logger | None = None):
        self.log = logger or logging.getLogger("ordex.events")
        self.sessions = {s.id: s.name for s in reference.sessions}
        self.accounts = {a.id: a.name for a in reference.accounts}
        self.symbols = {i.id: i.symbol for i in reference.instruments}

    def __call__(self, events: np.ndarray) -> None:
        if not self.log.isEnabledFor(logging.DEBUG):
            return
        for ev in events:
            kind, reason = int(ev["kind"]), int(ev["reason"])
            sid = int(ev["session"])
            self.log.debug("%s", EventKind(kind).name, extra={
                "seq": int(ev["seq"]), "exec_id": int(ev["exec_id"]), "order_id": int(ev["order_id"]),
                "session": self.sessions.get(sid, "admin" if sid == -1 else sid),
                "account": self.accounts.get(int(ev["account"]), int(ev["account"])),
                "instrument": self.symbols.get(int(ev["instrument"]), int(ev["instrument"])),
                "clordid": bytes(ev["clordid"]), "qty": int(ev["qty"]),
                "price": int(ev["price"]), "state": int(ev["state"]),
                "reason": Reason(reason).name if reason in Reason._value2member_map_ else reason})

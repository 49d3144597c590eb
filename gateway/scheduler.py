"""Time-driven commands: the only place where wall-clock time turns into engine state changes.

The engine never reads a clock (DESIGN invariant 1), so opening and closing instruments at their
trading hours and expiring GTD orders are sequenced commands issued from here, journaled like any
other, and replayed exactly:
  * SET_STATUS open/closed when an instrument with `hours` (HH:MM-HH:MM local, in its time zone,
    Monday to Friday) crosses a boundary, and once at start-up if its status is not what the
    clock says (closing expires its DAY orders in the engine);
  * TIMER every `interval_ms`, which expires GTD orders whose time has come;
  * PURGE_CLORDIDS once a day when the local time of [engine] clordid_reset_timezone reaches
    [engine] clordid_reset (HH:MM; off when not configured): a new trading day for ClOrdID
    uniqueness.  Only a crossing seen while running counts -- not a start-up after the time, which
    might repeat a reset already journaled that day and free ClOrdIDs used since; a day the
    server was down at that time has no reset (`ordex admin purge-clordids` does it by hand).
An instrument halted by an operator stays halted until its next boundary.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from zoneinfo import ZoneInfo

import numpy as np

from ordex.core.commands import ADMIN_SESSION, COMMAND_DTYPE, CommandKind
from ordex.core.refdata import STATUS, Instrument

log = logging.getLogger("ordex.scheduler")
OPEN, HALTED, CLOSED = STATUS["open"], STATUS["halted"], STATUS["closed"]


def is_open(inst: Instrument, ts_ns: int) -> bool:
    """Whether the clock says inst trades at ts_ns (no hours: always)."""
    if not inst.hours:
        return True
    start, end = inst.hours.split("-")
    local = dt.datetime.fromtimestamp(ts_ns / 1e9, ZoneInfo(inst.timezone))
    if local.weekday() >= 5:
        return False
    hm = local.strftime("%H:%M")
    return start <= hm < end if start < end else (hm >= start or hm < end)


class Scheduler:
    def __init__(self, server, interval_ms: int = 1000):
        self.server = server
        self.interval_s = interval_ms / 1000
        self.instruments = [i for i in server.config.reference.instruments if i.hours]
        self.expected: dict[int, bool] = {}
        self.task: asyncio.Task | None = None
        cfg = server.config
        self.reset_at: str | None = getattr(cfg, "clordid_reset", None)
        self.reset_tz = ZoneInfo(getattr(cfg, "clordid_reset_timezone", "UTC"))
        self._reset_seen: tuple[dt.date, bool] | None = None    # (local day, reset time reached)

    async def start(self, server) -> None:
        self.tick()
        self.task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            self.tick()

    def reset_due(self, now_ns: int) -> bool:
        """Whether the daily ClOrdID reset time was crossed since the previous tick."""
        if self.reset_at is None:
            return False
        local = dt.datetime.fromtimestamp(now_ns / 1e9, self.reset_tz)
        seen = (local.date(), local.strftime("%H:%M") >= self.reset_at)
        before, self._reset_seen = self._reset_seen, seen
        return before is not None and seen[1] and (before[0] != seen[0] or not before[1])

    def tick(self) -> None:
        """Issue whatever commands the clock calls for now."""
        if not self.server.accepting:
            return
        now = self.server.clock_ns()
        rows = []
        engine = self.server.engine
        for inst in self.instruments:
            should = is_open(inst, now)
            status = engine.instrument_status(inst.id)
            boundary = self.expected.get(inst.id) is not None and self.expected[inst.id] != should
            first = inst.id not in self.expected
            self.expected[inst.id] = should
            if should and status == CLOSED and (first or boundary) or \
                    should and status == HALTED and boundary:
                rows.append((inst.id, OPEN))
            elif not should and status != CLOSED:
                rows.append((inst.id, CLOSED))
        purge = self.reset_due(now)
        out = np.zeros(len(rows) + 1 + purge, dtype=COMMAND_DTYPE)
        for k, (inst_id, status) in enumerate(rows):
            out[k]["kind"], out[k]["instrument"], out[k]["status"] = (
                CommandKind.SET_STATUS, inst_id, status)
            out[k]["session"] = ADMIN_SESSION
            log.info("instrument %d: %s by its trading hours", inst_id,
                     "open" if status == OPEN else "closed")
        if purge:        # after the closes above: the orders they expire are forgotten too
            out[-2]["kind"], out[-2]["session"] = CommandKind.PURGE_CLORDIDS, ADMIN_SESSION
            log.info("ClOrdIDs: a new trading day (%s %s)", self.reset_at, self.reset_tz.key)
        out[-1]["kind"], out[-1]["session"] = CommandKind.TIMER, ADMIN_SESSION
        self.server.submit(out)

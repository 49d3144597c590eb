"""[engine] clordid_reset: the scheduler issues PURGE_CLORDIDS once a day at the configured local
time (after the close), never at start-up, never twice a day; journaled, so a replay agrees; and
a configuration with a bad time or zone is refused."""
import asyncio
import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from ordex.core.commands import COMMAND_DTYPE, CommandKind, OrdType, Side, Tif
from ordex.core.events import EventKind
from ordex.core.journal import read_journal
from ordex.core.reasons import Reason
from ordex.core.sequencer import replay
from ordex.ext.engine import Engine
from ordex.gateway import config as config_mod
from ordex.gateway.scheduler import Scheduler
from ordex.gateway.server import Server

NY = ZoneInfo("America/New_York")


def ns(*args) -> int:
    return int(dt.datetime(*args, tzinfo=NY).timestamp() * 1e9)


def config_text(reset='"16:05"', tz='"America/New_York"'):
    return config_mod.default_text().replace(
        "[engine]\n", f"[engine]\nclordid_reset = {reset}\nclordid_reset_timezone = {tz}\n", 1)


def test_bad_reset_settings_are_refused():
    assert config_mod.parse(config_mod.default_text()).clordid_reset is None     # default: off
    assert config_mod.parse(config_text()).clordid_reset == "16:05"
    for reset, tz, what in (('"25:00"', '"UTC"', "HH:MM"), ('"9:30"', '"UTC"', "HH:MM"),
                            ('"16:05"', '"Mars/Olympus"', "time zone"), ("1605", '"UTC"', "string")):
        with pytest.raises(config_mod.ConfigError, match=what):
            config_mod.parse(config_text(reset, tz))


def test_daily_purge_after_the_close_and_replay_agrees(tmp_path):
    cfg = dataclasses.replace(config_mod.parse(config_text(), base_dir=tmp_path),
                              durability="none")
    now = [ns(2026, 11, 23, 15, 59)]

    async def scenario():
        server = Server(cfg, clock_ns=lambda: now[0])
        server.recover()
        events = []
        server.subscribe(lambda ev: events.extend(ev.tolist()))
        sched = Scheduler(server)

        def order(clordid, price=10000):
            row = np.zeros(1, dtype=COMMAND_DTYPE)
            row["kind"], row["session"], row["account"], row["instrument"] = CommandKind.NEW_ORDER, 0, 0, 0
            row["clordid"], row["side"], row["ord_type"], row["tif"] = clordid, Side.BUY, OrdType.LIMIT, Tif.DAY
            row["price"], row["qty"] = price, 1_000_000
            server.submit(row)

        def purges():
            return [e for e in events if e[18] == EventKind.CLORDIDS_PURGED]

        async def durable():          # events reach subscribers once the journal has them
            for _ in range(2000):
                if server.durable_seq >= server.sequencer.next_seq - 1:
                    return
                await asyncio.sleep(0.001)
            raise AssertionError("commands not durable")

        sched.tick()
        order("ended")
        order("live", price=9000)
        server.submit(_cancel("x1", "ended"))
        now[0] = ns(2026, 11, 23, 16, 4, 59)
        sched.tick()
        await durable()
        assert purges() == []
        now[0] = ns(2026, 11, 23, 16, 5)
        sched.tick()                                   # the reset time: one purge
        now[0] = ns(2026, 11, 23, 16, 6)
        sched.tick()                                   # not twice the same day
        await durable()
        assert [(p[7], p[10], p[14]) for p in purges()] == [(2, 1, -1)]   # forgot 2, kept 1
        order("ended")                                 # usable again ...
        order("live")                                  # ... but not the live order's
        # a restart after the reset time: the first tick only looks at the clock
        late = Scheduler(server)
        now[0] = ns(2026, 11, 23, 18, 0)
        late.tick()
        now[0] = ns(2026, 11, 24, 16, 4)
        late.tick()
        await durable()
        assert len(purges()) == 1
        now[0] = ns(2026, 11, 24, 16, 5, 30)
        late.tick()                                    # the next day's reset
        await durable()
        assert len(purges()) == 2
        live_hash = server.engine.state_hash()
        await server.stop()
        return events, live_hash

    events, live_hash = asyncio.run(scenario())
    answers = [(e[24], EventKind(e[18]).name, e[17]) for e in events
               if e[18] in (EventKind.NEW, EventKind.REJECTED)]
    assert answers == [(b"ended", "NEW", 0), (b"live", "NEW", 0), (b"ended", "NEW", 0),
                       (b"live", "REJECTED", Reason.DUPLICATE_CLORDID)]
    again = Engine(cfg.reference, max_orders=cfg.max_orders)
    replay(again, read_journal(cfg.journal_dir))
    assert again.state_hash() == live_hash


def _cancel(clordid, orig):
    row = np.zeros(1, dtype=COMMAND_DTYPE)
    row["kind"], row["session"], row["clordid"], row["orig_clordid"] = CommandKind.CANCEL, 0, clordid, orig
    return row

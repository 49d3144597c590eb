"""Trading hours and GTD expiry become sequenced commands: at 16:00 New York the instrument closes
and its DAY orders expire; a GTD order expires at its time; it reopens at 09:30 the next weekday;
all of it journaled, so a replay reproduces it."""
import asyncio
import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np

from ordex.core.commands import COMMAND_DTYPE, CommandKind, OrdType, Side, Tif
from ordex.core.events import EventKind
from ordex.core.journal import read_journal
from ordex.core.reasons import Reason
from ordex.core.sequencer import replay
from ordex.ext.engine import Engine
from ordex.gateway import config as config_mod
from ordex.gateway.scheduler import Scheduler, is_open
from ordex.gateway.server import Server

NY = ZoneInfo("America/New_York")


def ns(*args) -> int:
    return int(dt.datetime(*args, tzinfo=NY).timestamp() * 1e9)


def test_is_open_follows_local_hours_and_weekdays():
    cfg = config_mod.parse(config_mod.default_text().replace(
        '# hours = "09:30-16:00"', 'hours = "09:30-16:00"').replace(
        '# timezone = "America/New_York"', 'timezone = "America/New_York"'))
    aapl = cfg.reference.instrument("AAPL")
    assert not is_open(aapl, ns(2026, 11, 23, 9, 29))      # Monday before the open
    assert is_open(aapl, ns(2026, 11, 23, 9, 30))
    assert is_open(aapl, ns(2026, 11, 23, 15, 59, 59))
    assert not is_open(aapl, ns(2026, 11, 23, 16, 0))
    assert not is_open(aapl, ns(2026, 11, 28, 12, 0))      # Saturday
    assert is_open(cfg.reference.instrument("MSFT"), ns(2026, 11, 28, 12, 0))   # no hours: always


def test_close_expires_day_orders_timer_expires_gtd_and_replay_agrees(tmp_path):
    text = config_mod.default_text().replace('# hours = "09:30-16:00"', 'hours = "09:30-16:00"') \
        .replace('# timezone = "America/New_York"', 'timezone = "America/New_York"')
    cfg = dataclasses.replace(config_mod.parse(text, base_dir=tmp_path), durability="none")
    now = [ns(2026, 11, 23, 15, 59)]

    async def scenario():
        server = Server(cfg, clock_ns=lambda: now[0])
        server.recover()
        events = []
        server.subscribe(lambda ev: events.extend(ev.tolist()))
        sched = Scheduler(server)
        sched.tick()                                   # open, as the clock says: only a TIMER

        def order(clordid, tif, expire=0):
            row = np.zeros(1, dtype=COMMAND_DTYPE)
            row["kind"], row["session"], row["account"], row["instrument"] = CommandKind.NEW_ORDER, 0, 0, 0
            row["clordid"], row["side"], row["ord_type"], row["tif"] = clordid, Side.BUY, OrdType.LIMIT, tif
            row["price"], row["qty"], row["expire_ts_ns"] = 10000, 1_000_000, expire
            server.submit(row)

        order("day", Tif.DAY)
        order("gtd", Tif.GTD, ns(2026, 11, 23, 16, 30))
        now[0] = ns(2026, 11, 23, 16, 0, 1)
        sched.tick()                                   # close: the DAY order expires
        assert server.engine.instrument_status(0) == 2
        now[0] = ns(2026, 11, 23, 16, 31)
        sched.tick()                                   # TIMER: the GTD order expires
        now[0] = ns(2026, 11, 24, 9, 30)
        sched.tick()                                   # the next morning it opens again
        assert server.engine.instrument_status(0) == 0
        hash_live = server.engine.state_hash()
        await server.stop()
        return events, hash_live

    events, hash_live = asyncio.run(scenario())
    expired = [(e[24], e[17]) for e in events if e[18] == EventKind.EXPIRED]
    assert expired == [(b"day", Reason.SESSION_CLOSE), (b"gtd", Reason.GTD_EXPIRED)]
    again = Engine(cfg.reference, max_orders=cfg.max_orders)
    replay(again, read_journal(cfg.journal_dir))
    assert again.state_hash() == hash_live

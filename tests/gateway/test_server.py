"""The server process without network: recovery before anything listens, events released only
once durable, the same state after a restart, no commands accepted after a journal failure."""
import asyncio
import dataclasses

import numpy as np
import pytest

from ordex.core.commands import COMMAND_DTYPE, CommandKind, OrdType, Side, Tif
from ordex.core.events import EventKind
from ordex.gateway import config as config_mod
from ordex.gateway.server import NotAccepting, Server

LOOPS = ["asyncio", "uvloop"]


def run_on(loop_kind, coro_fn):
    if loop_kind == "uvloop":
        import uvloop
        return uvloop.run(coro_fn())
    return asyncio.run(coro_fn())


def demo_config(tmp_path, durability="fsync"):
    cfg = config_mod.parse(config_mod.default_text(), base_dir=tmp_path)
    return dataclasses.replace(cfg, durability=durability)


def order(clordid, side, price, qty, account=0):
    row = np.zeros(1, dtype=COMMAND_DTYPE)
    row["kind"], row["session"], row["account"], row["instrument"] = CommandKind.NEW_ORDER, 0, account, 1
    row["clordid"], row["side"], row["ord_type"], row["tif"] = clordid, side, OrdType.LIMIT, Tif.GTC
    row["price"], row["qty"] = price, qty
    return row


@pytest.mark.parametrize("loop_kind", LOOPS)
def test_events_are_released_only_when_durable_and_survive_restart(tmp_path, loop_kind):
    cfg = demo_config(tmp_path)

    async def first_run():
        server = Server(cfg)
        server.recover()
        released = []
        server.subscribe(lambda ev: released.append(ev.copy()))
        server.submit(order("b1", Side.BUY, 10000, 10))
        server.submit(order("s1", Side.SELL, 10000, 4, account=1))
        # Nothing leaves before the journal says the commands are durable.
        assert released == []
        assert server.durable_seq < 2
        for _ in range(200):
            await asyncio.sleep(0.005)
            if server.durable_seq >= 2:
                break
        await asyncio.sleep(0)
        assert server.durable_seq >= 2
        kinds = [EventKind(int(k)).name for batch in released for k in batch["kind"]]
        assert kinds == ["NEW", "NEW", "TRADE", "TRADE"]
        state = server.engine.state_hash()
        await server.stop()
        return state

    async def second_run():
        server = Server(cfg)
        server.recover()
        assert server.recovered_commands == 2
        state = server.engine.state_hash()
        await server.stop()
        return state

    before = run_on(loop_kind, first_run)
    after = run_on(loop_kind, second_run)
    assert before == after


def test_a_failed_journal_stops_order_intake(tmp_path):
    cfg = demo_config(tmp_path)

    async def scenario():
        server = Server(cfg)
        server.recover()
        server._on_journal_failure(OSError(28, "No space left on device"))
        with pytest.raises(NotAccepting, match="journal failed"):
            server.submit(order("b1", Side.BUY, 10000, 10))
        assert server.engine.order(1) is None          # nothing was applied
        await server.stop()

    asyncio.run(scenario())


def test_bad_config_names_the_key(tmp_path):
    bad = config_mod.default_text().replace('durability = "fsync"', 'durability = "sometimes"')
    with pytest.raises(config_mod.ConfigError, match=r"\[journal\] durability = 'sometimes'"):
        config_mod.parse(bad, base_dir=tmp_path)

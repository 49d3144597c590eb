"""The server takes snapshots by itself and recovers from them: every N commands (or T seconds),
only of durable state, and a restart -- twice -- restores the newest one and replays the rest."""
import asyncio
import dataclasses
import logging

import numpy as np
import pytest

from ordex.core import snapshot
from ordex.core.commands import COMMAND_DTYPE, CommandKind, OrdType, Side, Tif
from ordex.gateway import config as config_mod
from ordex.gateway.server import Server

LOOPS = ["asyncio", "uvloop"]


def run_on(loop_kind, coro_fn):
    if loop_kind == "uvloop":
        import uvloop
        return uvloop.run(coro_fn())
    return asyncio.run(coro_fn())


def demo_config(tmp_path, **changes):
    cfg = config_mod.parse(config_mod.default_text(), base_dir=tmp_path)
    return dataclasses.replace(cfg, **changes)


def orders(n, start):
    """n alternating buy/sell limit orders on MSFT from two accounts: some rest, some trade."""
    rows = np.zeros(n, dtype=COMMAND_DTYPE)
    i = np.arange(start, start + n)
    rows["kind"], rows["session"], rows["instrument"] = CommandKind.NEW_ORDER, 0, 1
    rows["account"] = i % 2
    rows["side"] = np.where(i % 2 == 0, Side.BUY, Side.SELL)
    rows["ord_type"], rows["tif"] = OrdType.LIMIT, Tif.GTC
    rows["price"] = 10000 + np.where(i % 2 == 0, -(i % 7), i % 5)
    rows["qty"] = 1 + i % 9
    rows["clordid"] = np.char.encode(np.char.add("o", i.astype(str)))
    return rows


async def until(predicate, timeout=10.0):
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


@pytest.mark.parametrize("loop_kind", LOOPS)
def test_periodic_snapshots_and_restarts_from_them(tmp_path, loop_kind):
    cfg = demo_config(tmp_path, snapshot_every_commands=40, snapshot_every_s=0)
    snap_dir = snapshot.snapshot_dir(cfg.journal_dir)

    async def first_run():
        server = Server(cfg)
        server.recover()
        assert server.recovered_snapshot_seq == 0
        for k in range(10):                         # 150 commands in 10 loop iterations
            server.submit(orders(15, 15 * k))
            await asyncio.sleep(0)
        await until(lambda: snapshot.list_snapshots(snap_dir)
                    and snapshot.list_snapshots(snap_dir)[-1][0] >= 120)
        for seq, _ in snapshot.list_snapshots(snap_dir):
            assert seq <= server.durable_seq, "a snapshot may only cover durable commands"
        assert len(snapshot.list_snapshots(snap_dir)) <= snapshot.KEEP
        state = server.engine.state_hash()
        await server.stop()
        return state

    async def restart(expect_snapshot):
        server = Server(cfg)
        server.recover()
        newest = snapshot.list_snapshots(snap_dir)[-1][0]
        assert server.recovered_snapshot_seq == newest >= expect_snapshot
        assert server.recovered_commands == server.sequencer.next_seq - 1 - newest
        state = server.engine.state_hash()
        await server.stop()
        return state

    before = run_on(loop_kind, first_run)
    assert run_on(loop_kind, lambda: restart(120)) == before
    assert run_on(loop_kind, lambda: restart(120)) == before


def test_time_trigger_and_nothing_when_idle(tmp_path):
    cfg = demo_config(tmp_path, snapshot_every_commands=0, snapshot_every_s=1)
    snap_dir = snapshot.snapshot_dir(cfg.journal_dir)

    async def scenario():
        server = Server(cfg)
        server.recover()
        await asyncio.sleep(1.3)
        assert snapshot.list_snapshots(snap_dir) == [], "nothing new: no snapshot"
        server.submit(orders(5, 0))
        await until(lambda: snapshot.list_snapshots(snap_dir), timeout=5)
        assert snapshot.list_snapshots(snap_dir)[-1][0] == 5
        await server.stop()

    asyncio.run(scenario())


def test_a_snapshot_not_durable_in_time_is_dropped(tmp_path, caplog):
    cfg = demo_config(tmp_path, snapshot_every_commands=0, snapshot_every_s=0)

    async def scenario():
        server = Server(cfg)
        server.recover()
        server.submit(orders(10, 0))
        server.journal.wait_durable = lambda seq, timeout=None: False    # never durable
        with caplog.at_level(logging.ERROR, logger="ordex.server"):
            assert await server.take_snapshot() is None
        assert "snapshot of sequence 10 dropped: not durable" in caplog.text
        assert snapshot.list_snapshots(server.snapshot_dir) == []
        del server.journal.wait_durable
        path = await server.take_snapshot()
        assert path.name == snapshot.snapshot_name(10)
        await server.stop()

    asyncio.run(scenario())


def test_one_snapshot_at_a_time(tmp_path):
    cfg = demo_config(tmp_path, snapshot_every_commands=0, snapshot_every_s=0)

    async def scenario():
        server = Server(cfg)
        server.recover()
        server.submit(orders(10, 0))
        first = asyncio.ensure_future(server.take_snapshot())
        await asyncio.sleep(0)                 # it has copied the state and waits to write it
        assert await server.take_snapshot() is None
        assert (await first).name == snapshot.snapshot_name(10)
        await server.stop()

    asyncio.run(scenario())


def test_a_damaged_newest_snapshot_falls_back_at_start(tmp_path, caplog):
    cfg = demo_config(tmp_path, snapshot_every_commands=0, snapshot_every_s=0)

    async def first_run():
        server = Server(cfg)
        server.recover()
        server.submit(orders(20, 0))
        await server.take_snapshot()
        server.submit(orders(20, 20))
        newest = await server.take_snapshot()
        server.submit(orders(7, 40))
        state = server.engine.state_hash()
        await server.stop()
        return state, newest

    async def restart():
        server = Server(cfg)
        with caplog.at_level(logging.ERROR, logger="ordex.snapshot"):
            server.recover()
        assert (server.recovered_snapshot_seq, server.recovered_commands) == (20, 27)
        state = server.engine.state_hash()
        await server.stop()
        return state

    state, newest = asyncio.run(first_run())
    data = bytearray(newest.read_bytes())
    data[len(data) // 3] ^= 0xFF
    newest.write_bytes(bytes(data))
    assert asyncio.run(restart()) == state
    assert "skipped" in caplog.text and newest.name in caplog.text


def test_config_keys(tmp_path):
    text = config_mod.default_text().replace(
        "snapshot_every_commands = 1000000", "snapshot_every_commands = 5000").replace(
        "snapshot_every_s = 300", "snapshot_every_s = 0")
    cfg = config_mod.parse(text, base_dir=tmp_path)
    assert (cfg.snapshot_every_commands, cfg.snapshot_every_s) == (5000, 0)
    default = config_mod.parse(config_mod.default_text(), base_dir=tmp_path)
    assert (default.snapshot_every_commands, default.snapshot_every_s) == (1_000_000, 300)
    with pytest.raises(config_mod.ConfigError, match=r"snapshot_every_s = -1: must be at least 0"):
        config_mod.parse(text.replace("snapshot_every_s = 0", "snapshot_every_s = -1"),
                         base_dir=tmp_path)
    with pytest.raises(config_mod.ConfigError, match="expected an integer"):
        config_mod.parse(text.replace("= 5000", '= "many"'), base_dir=tmp_path)

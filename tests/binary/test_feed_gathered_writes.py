"""The ITCH feed writes the batches one durable report releases as one write per subscriber
(Server.subscribe_released), with exactly the bytes that writing them batch by batch gives."""
import asyncio
import dataclasses

import numpy as np
import pytest

from ordex.core.commands import COMMAND_DTYPE, CommandKind, OrdType, Side, Tif
from ordex.gateway import config as config_mod
from ordex.gateway.binary import soup
from ordex.gateway.binary.itch_feed import ItchFeed, Subscriber
from ordex.gateway.server import Server


class _Transport:
    def is_closing(self):
        return False


class _Conn:
    """What the feed uses of a subscriber's connection; records each write."""

    def __init__(self):
        self.state = soup.ACTIVE
        self.transport = _Transport()
        self.writes: list[bytes] = []
        self.last_out = 0.0

    def write(self, data):
        self.writes.append(bytes(data))


class _NoGather:
    """The server as a feed without the release hook sees it: every batch written at once."""

    def __init__(self, server):
        self.engine, self.clock_ns = server.engine, server.clock_ns
        self.subscribe, self.subscribe_book = server.subscribe, server.subscribe_book


def orders(start, n, side):
    rows = np.zeros(n, dtype=COMMAND_DTYPE)
    k = np.arange(start, start + n)
    rows["kind"], rows["session"], rows["account"], rows["instrument"] = \
        CommandKind.NEW_ORDER, 0, 0 if side == Side.BUY else 1, 1
    rows["side"], rows["ord_type"], rows["tif"] = side, OrdType.LIMIT, Tif.GTC
    rows["price"] = 10000 - k % 7 if side == Side.BUY else 10000 + k % 7
    rows["qty"] = 5 + k % 3
    rows["clordid"] = np.char.encode(np.char.add("g", k.astype(str)))
    return rows


def subscribe(feed):
    conn = _Conn()
    sub = Subscriber(conn)
    sub.live = True
    feed.subscribers[conn] = sub
    return conn


@pytest.mark.parametrize("durability", ["batch", "fsync", "none"])
def test_one_write_per_report_same_bytes(tmp_path, durability):
    cfg = dataclasses.replace(config_mod.parse(config_mod.default_text(), base_dir=tmp_path),
                              durability=durability, batch_interval_ms=20)

    async def run():
        server = Server(cfg)
        server.recover()
        gathered = ItchFeed(server, cfg.binary, cfg.reference)
        one_by_one = ItchFeed(_NoGather(server), cfg.binary, cfg.reference)
        a, b = subscribe(gathered), subscribe(one_by_one)
        n = 0
        for k in range(4):                       # four submits in one loop iteration
            server.submit(orders(n, 10, Side.BUY if k % 2 == 0 else Side.SELL))
            n += 10
        server.release_submitted()
        for _ in range(400):
            if server.durable_seq >= n:
                break
            await asyncio.sleep(0.005)
        await asyncio.sleep(0)
        assert server.durable_seq >= n
        await server.stop()
        return a.writes, b.writes

    gathered, one_by_one = asyncio.run(run())
    assert len(one_by_one) >= 4                  # a batch each (the sells trade with the buys)
    assert b"".join(gathered) == b"".join(one_by_one)
    # none releases at each flush: the four submits went in one; batch and fsync: one sync each
    assert len(gathered) == 1

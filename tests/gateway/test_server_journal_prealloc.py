"""The server's journal preallocation follows its durability: zeros ahead of the records where
fdatasync runs (fsync, batch), none where nothing ever syncs (`none`: the zeros would only double
the bytes written).  Either way a restart recovers the same state."""
import asyncio
import dataclasses
import os

import numpy as np
import pytest

from ordex.core.commands import COMMAND_DTYPE, CommandKind, OrdType, Side, Tif
from ordex.core.journal_segments import scan_directory
from ordex.gateway import config as config_mod
from ordex.gateway.server import Server, journal_preallocation


def order(clordid, price):
    row = np.zeros(1, dtype=COMMAND_DTYPE)
    row["kind"], row["session"], row["account"], row["instrument"] = CommandKind.NEW_ORDER, 0, 0, 1
    row["clordid"], row["side"], row["ord_type"], row["tif"] = clordid, Side.BUY, OrdType.LIMIT, Tif.GTC
    row["price"], row["qty"] = price, 10
    return row


@pytest.mark.parametrize("durability", ["none", "batch", "fsync"])
def test_zeros_ahead_only_where_the_journal_syncs(tmp_path, durability):
    cfg = dataclasses.replace(config_mod.parse(config_mod.default_text(), base_dir=tmp_path),
                              durability=durability)

    async def run():
        server = Server(cfg)
        server.recover()
        for k in range(20):
            server.submit(order(f"b{k}", 10000 - k))
        server.journal.flush()
        for _ in range(400):
            if server.durable_seq >= 20:
                break
            await asyncio.sleep(0.005)
        assert server.durable_seq >= 20
        (seg,) = scan_directory(cfg.journal_dir).segments
        size = os.stat(seg.path).st_size           # while open: the preallocated tail included
        state = server.engine.state_hash()
        await server.stop()
        return seg.data_end, size, state

    data_end, size, state = asyncio.run(run())
    assert journal_preallocation(durability) == ("none" if durability == "none" else "zero")
    if durability == "none":
        assert size == data_end                    # the file holds the records and nothing else
    else:
        assert size > data_end and size % 4096 == 0

    async def again():
        server = Server(cfg)
        server.recover()
        assert server.recovered_commands == 20
        h = server.engine.state_hash()
        await server.stop()
        return h

    assert asyncio.run(again()) == state

"""SoupBinTCP replay: a client that logs in again with the next sequence number it expects gets
what it missed -- after a reconnect, and after a server restart (the store is on disk)."""
import pytest

from binary_helpers import LOOPS, PASSWORD, binary_config, ouch, run, settle, start
from ordex.gateway.client import OuchClient


def without_time(msgs):
    return [{k: v for k, v in m.items() if k != "Timestamp"} for m in msgs]


async def collect(c, server, expect_types=(), timeout: float = 10.0):
    """What arrived once every expected type has (a loaded machine may take longer than one
    settle to read the client's orders at all) and everything sequenced since is delivered."""
    got = []
    for _ in range(int(timeout / 0.01)):
        await settle(server, 0.01)
        got += c.drain()
        if all(any(m["type"] == t for m in got) for t in expect_types):
            break
    await settle(server)
    got += c.drain()
    for t in expect_types:
        assert any(m["type"] == t for m in got), (t, got)
    return got


@pytest.mark.parametrize("loop_kind", LOOPS)
def test_replay_after_reconnect_and_restart(tmp_path, loop_kind):
    cfg = binary_config(tmp_path, mm1='cancel_on_disconnect = "off"')

    async def first_run():
        server, gw = await start(cfg)
        seen = []                                    # every sequenced message MM1 received
        c = await ouch(gw, "MM1")
        seen.append({"type": "SystemEvent", "EventCode": b"S"})
        for ref in (1, 2, 3):
            c.enter(ref, "S", 10, "MSFT", 1_500_000 + ref * 100, clordid=f"S{ref}")
        seen += await collect(c, server, ["OrderAccepted"])
        next_seq = c.next_seq
        c.close()
        await settle(server)
        # While MM1 is away, MM2 trades against it: MM1's executions are stored, not sent.
        mm2 = await ouch(gw, "MM2")
        mm2.enter(1, "B", 25, "MSFT", 1_500_300)
        await mm2.expect("OrderAccepted")
        await settle(server)
        c = await ouch(gw, "MM1", sequence=next_seq)
        missed = without_time(c.replayed)
        assert [m["type"] for m in missed] == ["OrderExecuted", "OrderExecuted", "OrderExecuted"]
        assert [m["UserRefNum"] for m in missed] == [1, 2, 3]
        assert c.next_seq == next_seq + 4                # the three, then a System Event
        seen += missed + [{"type": "SystemEvent", "EventCode": b"S"}]
        # Logging in with 0 replays nothing.
        c.close()
        await settle(server)
        c = await ouch(gw, "MM1", sequence=0)
        assert c.replayed == []
        seen.append({"type": "SystemEvent", "EventCode": b"S"})
        c.close()
        mm2.close()
        await settle(server)
        await server.stop()
        return without_time(seen)

    async def second_run(seen):
        server, gw = await start(cfg)
        c = await OuchClient.connect("127.0.0.1", gw.port)
        await c.login("MM1", PASSWORD, sequence=1)
        await settle(server, 0.2)
        # everything, in order, from the store on disk, then this login's System Event
        assert without_time(c.drain()) == seen + [{"type": "SystemEvent", "EventCode": b"S"}]
        c.close()
        await server.stop()

    seen = run(loop_kind, first_run())
    assert len(seen) > 8
    run(loop_kind, second_run(seen))

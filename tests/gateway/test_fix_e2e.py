"""ordex serve's FIX path end to end over a real socket: logon, orders, fills, cancel, rejects
(business and session level), and a restart with sequence numbers and idempotency intact.
The client is built on simplefix, not on ordex's codec."""
import asyncio
import dataclasses

import pytest

from fixclient import FixClient
from ordex.gateway import config as config_mod
from ordex.gateway.fix.gateway import FixGateway
from ordex.gateway.server import Server


def demo_config(tmp_path, durability="fsync"):
    cfg = config_mod.parse(config_mod.default_text(), base_dir=tmp_path)
    return dataclasses.replace(cfg, durability=durability, fix_listen=("127.0.0.1", 0))


async def start(cfg):
    server = Server(cfg)
    gw = FixGateway(cfg)
    server.gateways.append(gw)
    await server.start()
    return server, gw.port


def tags(m):
    return {int(t): v for t, v in m.pairs}


async def expect_er(client, **want):
    m = await client.expect(b"8")
    got = tags(m)
    for tag, value in want.items():
        assert got.get(int(tag[1:])) == value.encode(), (tag, got)
    return got


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_trade_cancel_reject_and_restart(tmp_path, loop_kind):
    cfg = demo_config(tmp_path)

    async def first():
        server, port = await start(cfg)
        c = await FixClient.connect(port, sender="CLIENT1", target="ORDEX")
        await c.logon()
        await c.send(b"D", [(11, "B1"), (1, "DEMO1"), (55, "MSFT"), (54, "1"), (38, "10"),
                            (40, "2"), (44, "150.00"), (59, "1"), (60, "20261122-10:00:00.000")])
        await expect_er(c, t150="0", t39="0", t11="B1", t151="10", t14="0")
        await c.send(b"D", [(11, "S1"), (1, "DEMO2"), (55, "MSFT"), (54, "2"), (38, "4"),
                            (40, "2"), (44, "149.00"), (59, "3"), (60, "20261122-10:00:01.000")])
        await expect_er(c, t150="0", t11="S1")
        taker = await expect_er(c, t150="F", t11="S1", t39="2", t31="150.00", t32="4")
        maker = await expect_er(c, t150="F", t11="B1", t39="1", t31="150.00", t32="4", t151="6",
                                t14="4", t6="150.00")
        assert taker[17] != maker[17]                      # ExecIDs unique
        await c.send(b"F", [(11, "C1"), (41, "B1"), (55, "MSFT"), (54, "1"),
                            (60, "20261122-10:00:02.000")])
        await expect_er(c, t150="4", t39="4", t11="C1", t41="B1", t151="0", t14="4")
        await c.send(b"F", [(11, "C2"), (41, "B1"), (55, "MSFT"), (54, "1"),
                            (60, "20261122-10:00:03.000")])
        rej = tags(await c.expect(b"9"))
        assert rej[102] == b"0" and rej[434] == b"1" and rej[11] == b"C2"    # too late to cancel
        # a price finer than the 0.01 increment: a business reject, nothing rounded
        await c.send(b"D", [(11, "B2"), (1, "DEMO1"), (55, "MSFT"), (54, "1"), (38, "1"),
                            (40, "2"), (44, "150.005"), (59, "1"), (60, "20261122-10:00:04.000")])
        await expect_er(c, t150="8", t39="8", t11="B2", t103="18")
        # a malformed decimal: a session-level Reject(3), reason 6 (incorrect data format)
        await c.send(b"D", [(11, "B3"), (1, "DEMO1"), (55, "MSFT"), (54, "1"), (38, "1"),
                            (40, "2"), (44, "1x0"), (59, "1"), (60, "20261122-10:00:05.000")])
        r = tags(await c.expect(b"3"))
        assert r[373] == b"6" and r[371] == b"44"
        await c.logout()           # cancel_on_disconnect: a journaled mass cancel of the session
        next_out = c.seq
        c.close()
        await server.stop()
        return server.engine.state_hash(), next_out

    async def second(state, next_out):
        server, port = await start(cfg)
        assert server.engine.state_hash() == state
        c = await FixClient.connect(port, sender="CLIENT1", target="ORDEX")
        c.seq = next_out                                   # sequence numbers continue
        await c.logon()
        await c.send(b"D", [(11, "B1"), (1, "DEMO1"), (55, "MSFT"), (54, "1"), (38, "10"),
                            (40, "2"), (44, "150.00"), (59, "1"), (60, "20261122-10:01:00.000")])
        await expect_er(c, t150="8", t11="B1", t103="6")   # duplicate ClOrdID across a restart
        await c.logout()
        c.close()
        await server.stop()

    def run(coro):
        if loop_kind == "uvloop":
            import uvloop
            return uvloop.run(asyncio.wait_for(coro, 30))
        return asyncio.run(asyncio.wait_for(coro, 30))

    state, next_out = run(first())
    run(second(state, next_out))


def test_market_data_snapshot_and_increments_show_only_durable_state(tmp_path):
    """A V subscription gets a W snapshot of the durable book, then X increments (level changes
    and trades) that, applied to the snapshot, give the engine's own book."""
    cfg = demo_config(tmp_path)

    async def scenario():
        server, port = await start(cfg)
        c = await FixClient.connect(port, sender="CLIENT1", target="ORDEX")
        await c.logon()
        order = lambda cl, acct, side, qty, px: c.send(b"D", [
            (11, cl), (1, acct), (55, "MSFT"), (54, side), (38, qty), (40, "2"), (44, px),
            (59, "1"), (60, "20261122-10:00:00.000")])
        await order("B1", "DEMO1", "1", "10", "99.00")
        await expect_er(c, t150="0")
        await c.send(b"V", [(262, "md1"), (263, "1"), (264, "0"), (265, "1"), (267, "3"),
                            (269, "0"), (269, "1"), (269, "2"), (146, "1"), (55, "MSFT")])
        snap = await c.expect(b"W")
        assert [(int(t), v) for t, v in snap.pairs if int(t) in (269, 270, 271, 346)] == [
            (269, b"0"), (270, b"99.00"), (271, b"10"), (346, b"1")]
        book = {(b"0", b"99.00"): b"10"}
        await order("S1", "DEMO2", "2", "4", "99.00")     # trades 4 at 99.00
        await order("S2", "DEMO2", "2", "7", "101.00")    # rests: new offer level
        trades = []
        while len(trades) < 1 or (b"1", b"101.00") not in book:
            m = await c.recv()
            if m.get(35) != b"X":
                continue
            entries, cur = [], None
            for t, v in m.pairs:
                t = int(t)
                if t == 279:
                    cur = {}
                    entries.append(cur)
                if cur is not None:
                    cur[t] = v
            for e in entries:
                if e[269] == b"2":
                    trades.append((e[270], e[271]))
                elif e[279] == b"2":
                    book.pop((e[269], e[270]), None)
                else:
                    book[(e[269], e[270])] = e[271]
        assert trades == [(b"99.00", b"4")]
        assert book == {(b"0", b"99.00"): b"6", (b"1", b"101.00"): b"7"}
        assert server.engine.book.depth(1, 1) == [(9900, 6, 1)]
        await c.send(b"V", [(262, "md2"), (263, "1"), (264, "0"), (265, "1"), (267, "1"),
                            (269, "0"), (146, "1"), (55, "NOPE")])
        rej = tags(await c.expect(b"Y"))
        assert rej[262] == b"md2" and rej[281] == b"0"
        await c.logout()
        c.close()
        await server.stop()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_drop_copy_sees_the_firms_execution_reports_and_cannot_trade(tmp_path):
    text = config_mod.default_text() + '''
[[fix.session]]
name = "DROP1"
begin_string = "FIX.4.2"
sender_comp_id = "ORDEX"
target_comp_id = "DROPCOPY"
accounts = ["DEMO1"]
drop_copy = true
'''
    cfg = dataclasses.replace(config_mod.parse(text, base_dir=tmp_path), fix_listen=("127.0.0.1", 0))

    async def scenario():
        server, port = await start(cfg)
        trader = await FixClient.connect(port, sender="CLIENT1", target="ORDEX")
        await trader.logon()
        drop = await FixClient.connect(port, begin="FIX.4.2", sender="DROPCOPY", target="ORDEX")
        await drop.logon()
        for cl, acct in (("B1", "DEMO1"), ("B2", "DEMO2")):
            await trader.send(b"D", [(11, cl), (1, acct), (55, "MSFT"), (54, "1"), (38, "5"),
                                     (40, "2"), (44, "99.00"), (59, "1"),
                                     (60, "20261122-10:00:00.000")])
            await expect_er(trader, t150="0", t11=cl)
        copy = tags(await drop.expect(b"8"))
        # only DEMO1's report, in FIX 4.2 form (ExecTransType present)
        assert copy[11] == b"B1" and copy[1] == b"DEMO1" and copy[20] == b"0" and copy[150] == b"0"
        with pytest.raises(asyncio.TimeoutError):
            await drop.expect(b"8", timeout=0.5)          # DEMO2's report is not copied
        await drop.send(b"D", [(11, "X"), (1, "DEMO1"), (55, "MSFT"), (54, "1"), (38, "5"),
                               (40, "2"), (44, "99.00"), (59, "1"), (21, "1"),
                               (60, "20261122-10:00:00.000")])
        j = tags(await drop.expect(b"j"))
        assert j[380] == b"4"                              # drop copy: order entry refused
        assert server.engine.order_count == 2
        # The drop copy leaves first: the trader's cancel-on-disconnect would otherwise copy a
        # Cancelled report to it that may arrive before the answer to its own Logout.
        for c in (drop, trader):
            await c.logout()
            c.close()
        await server.stop()

    asyncio.run(asyncio.wait_for(scenario(), 30))

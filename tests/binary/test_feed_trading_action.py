"""Trading status on the ITCH feed: an operator's halt / resume / close reaches a live subscriber
as a Stock Trading Action ('H') once its STATUS_CHANGED event is durable, before the book
messages it causes (a close's Order Deletes); a SET_STATUS that changes nothing sends nothing; a
subscriber joining later gets the status as published in its snapshot.  The recording is read
back by meatpy (an independent ITCH 5.0 parser) as well as by our own client."""
import pytest

from binary_helpers import binary_config, itch, ouch, run, settle, start
from ordex.gateway.admin_actions import AdminActions

meatpy_itch = pytest.importorskip("meatpy.itch50")


def test_admin_halt_resume_close_reach_live_subscribers(tmp_path):
    cfg = binary_config(tmp_path)                     # fsync: events wait for durability
    record = tmp_path / "live.itch"

    async def main():
        server, gw = await start(cfg)
        admin = AdminActions(server, cfg.reference)
        live = await itch(gw, record=str(record))
        await live.expect("SystemEvent", EventCode=b"Q")          # snapshot done
        mm1 = await ouch(gw, "MM1")
        mm1.enter(1, "B", 100, "MSFT", 1_000_000)                 # OUCH day order: a close expires it
        await live.expect("AddOrder", Stock=b"MSFT")

        await admin.run("halt", {"instrument": "MSFT", "operator": "olivia"})
        halted = await live.expect("StockTradingAction", Stock=b"MSFT")
        published = gw.feed.published
        await admin.run("halt", {"instrument": "MSFT", "operator": "olivia"})   # no change
        await settle(server)
        unchanged = gw.feed.published - published

        late = await itch(gw)                                     # snapshot while halted
        other = await late.expect("StockTradingAction", Stock=b"AAPL")   # locate order
        snap = await late.expect("StockTradingAction", Stock=b"MSFT")

        await admin.run("resume", {"instrument": "MSFT", "operator": "olivia"})
        resumed = await live.expect("StockTradingAction", Stock=b"MSFT")
        await admin.run("close", {"instrument": "MSFT", "operator": "olivia"})
        closed = await live.expect("StockTradingAction", Stock=b"MSFT")
        deleted = await live.next()                               # the DAY order's delete follows
        await settle(server, 0.1)
        for c in (live, late, mm1):
            c.close()
        await server.stop()
        return halted, unchanged, snap, other, resumed, closed, deleted

    halted, unchanged, snap, other, resumed, closed, deleted = run("uvloop", main())
    assert halted["TradingState"] == b"H"
    assert unchanged == 0
    assert (snap["TradingState"], other["TradingState"]) == (b"H", b"T")
    assert resumed["TradingState"] == b"T"
    assert closed["TradingState"] == b"H" and deleted["type"] == "OrderDelete"

    actions = [(m.stock.rstrip(), m.state) for m in meatpy_itch.ITCH50MessageReader().read_file(
        record) if isinstance(m, meatpy_itch.StockTradingActionMessage)]
    msft = [state for stock, state in actions if stock == b"MSFT"]
    assert msft == [b"T", b"H", b"T", b"H"]                       # snapshot, halt, resume, close

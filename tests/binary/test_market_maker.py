"""Market-maker extensions: mass quote atomicity, market-maker protection, cancel on disconnect,
mass cancel -- checked against the engine's state and the journal, not just the replies."""
import asyncio

import pytest

from binary_helpers import (LOOPS, binary_config, journal_commands, live_orders, ouch, run, settle,
                            start)
from ordex.core.commands import CommandKind, Scope

QUOTE_UNAVAILABLE = 0x0001


def ref_of(clordid: bytes) -> int:
    return int(clordid[:10])


@pytest.mark.parametrize("loop_kind", LOOPS)
def test_mass_quote_is_one_uninterrupted_batch(tmp_path, loop_kind):
    cfg = binary_config(tmp_path, durability="batch")
    quotes = []                                  # the UserRefNums of each quote's sides

    async def flood(mm2, stop: asyncio.Event):
        ref = 0
        while not stop.is_set():
            burst = []
            for _ in range(20):
                ref += 1
                burst.append(mm2.enter_bytes(ref, "B", 1, "MSFT", 1_400_000 + ref % 50 * 100))
            mm2.send_raw(b"".join(burst))
            await asyncio.sleep(0)

    async def main():
        server, gw = await start(cfg)
        mm1, mm2 = await ouch(gw, "MM1"), await ouch(gw, "MM2")
        stop = asyncio.Event()
        flooder = asyncio.get_running_loop().create_task(flood(mm2, stop))
        ref = 0
        for q in range(1, 41):
            sides = [ref + k for k in range(1, 5)]
            ref += 4
            quotes.append(sides)
            mm1.mass_quote(q, [("MSFT", sides[0], 1_490_000 - q * 100, 5, sides[1], 1_510_000 + q * 100, 5),
                               ("AAPL", sides[2], 1_490_000, 5_000_000, sides[3], 1_510_000, 5_000_000)])
            if q % 8 == 0:
                ack = await mm1.expect("MassQuoteAck", QuoteId=q)
                assert ack["Status"] == b"A" and ack["Entries"] == 2
            await asyncio.sleep(0)
        stop.set()
        await flooder
        await settle(server)
        live = live_orders(server, "MM1")
        rows = journal_commands(server)
        mm1.close()
        mm2.close()
        await server.stop()
        return live, rows

    live, rows = run(loop_kind, main())
    mm1 = 1
    assert sorted(ref_of(o[16]) for o in live) == quotes[-1]     # only the last quote is live
    assert all(o[16].endswith(b"Q") for o in live)
    by_seq = {int(r["seq"]): r for r in rows}
    others = sum(1 for r in rows if int(r["session"]) != mm1)
    assert others > 100                                           # MM2 really was interleaving
    for k, sides in enumerate(quotes):
        prev = quotes[k - 1] if k else [b""] * len(sides)
        # one QUOTE per side, naming the side it replaces (MSFT and AAPL bids and asks)
        mine = [int(r["seq"]) for r in rows if int(r["session"]) == mm1
                and r["kind"] == CommandKind.QUOTE and ref_of(bytes(r["clordid"])) in sides]
        orig = [bytes(r["orig_clordid"]) for r in rows if int(r["session"]) == mm1
                and r["kind"] == CommandKind.QUOTE and ref_of(bytes(r["clordid"])) in sides]
        assert [ref_of(o) if o else b"" for o in orig] == prev
        assert len(mine) == len(sides)
        assert max(mine) - min(mine) + 1 == len(mine), (k, mine)   # contiguous: nothing between
        assert all(int(by_seq[s]["session"]) == mm1 for s in range(min(mine), max(mine) + 1))


@pytest.mark.parametrize("limit", ["protection_fills = 3", "protection_qty = 3"])
def test_protection_trips_cancels_everything_and_refuses_quotes_until_reset(tmp_path, limit):
    cfg = binary_config(tmp_path, mm1=f"{limit}\nprotection_window_ms = 60000")

    async def main():
        server, gw = await start(cfg)
        mm1, mm2 = await ouch(gw, "MM1"), await ouch(gw, "MM2")
        mm1.mass_quote(1, [("MSFT", 1, 1_490_000, 10, 2, 1_510_000, 10),
                           ("AAPL", 3, 1_490_000, 10_000_000, 4, 1_510_000, 10_000_000)])
        mm1.enter(5, "B", 7, "MSFT", 1_480_000)                  # a plain order: pulled too
        await mm1.expect("MassQuoteAck", QuoteId=1)
        await mm1.expect("OrderAccepted", UserRefNum=5)
        for ref in (1, 2, 3):                                    # three fills of one lot
            mm2.enter(ref, "S", 1, "MSFT", 1_490_000, tif="3")
            await mm2.expect("OrderExecuted", UserRefNum=ref)
        trip = await mm1.expect("ProtectionTriggered")
        assert trip["Fills"] == 3 and trip["Quantity"] == 3 and trip["WindowMs"] == 60000
        canceled = {(await mm1.expect("OrderCanceled"))["UserRefNum"] for _ in range(5)}
        assert canceled == {1, 2, 3, 4, 5}
        await settle(server)
        assert live_orders(server, "MM1") == []
        mm1.mass_quote(2, [("MSFT", 10, 1_490_000, 10, 11, 1_510_000, 10)])
        ack = await mm1.expect("MassQuoteAck", QuoteId=2)
        assert ack["Status"] == b"R" and ack["Reason"] == QUOTE_UNAVAILABLE
        mm1.protection_reset()
        await mm1.expect("ProtectionReset")
        mm1.mass_quote(3, [("MSFT", 12, 1_490_000, 10, 13, 1_510_000, 10)])
        ack = await mm1.expect("MassQuoteAck", QuoteId=3)
        assert ack["Status"] == b"A"
        await settle(server)
        live = live_orders(server, "MM1")
        rows = journal_commands(server)
        mm1.close()
        mm2.close()
        await server.stop()
        return live, rows

    live, rows = run("uvloop", main())
    assert sorted(ref_of(o[16]) for o in live) == [12, 13]
    trips = [r for r in rows if r["kind"] == CommandKind.MASS_CANCEL and r["session"] == 1]
    assert len(trips) == 1 and trips[0]["scope"] == Scope.SESSION   # sequenced, so replayable
    assert bytes(trips[0]["clordid"]) == b"mm-protection"


@pytest.mark.parametrize("mode", ["quotes", "all", "off"])
def test_cancel_on_disconnect(tmp_path, mode):
    cfg = binary_config(tmp_path, mm1=f'cancel_on_disconnect = "{mode}"')

    async def main():
        server, gw = await start(cfg)
        mm1 = await ouch(gw, "MM1")
        mm1.mass_quote(1, [("MSFT", 1, 1_490_000, 10, 2, 1_510_000, 10)])
        mm1.enter(3, "B", 7, "MSFT", 1_480_000)
        await mm1.expect("MassQuoteAck", QuoteId=1)
        await mm1.expect("OrderAccepted", UserRefNum=3)
        await settle(server)
        before = len(live_orders(server, "MM1"))
        mm1.close()                              # the connection just drops
        await asyncio.sleep(0.1)
        await settle(server)
        after = sorted(ref_of(o[16]) for o in live_orders(server, "MM1"))
        rows = journal_commands(server)
        mm1 = await ouch(gw, "MM1", sequence=5)  # the cancels were stored for replay
        replayed = mm1.replayed
        mm1.close()
        await server.stop()
        return before, after, rows, replayed

    before, after, rows, replayed = run("uvloop", main())
    assert before == 3
    assert after == {"quotes": [3], "all": [], "off": [1, 2, 3]}[mode]
    mass = [r for r in rows if r["kind"] == CommandKind.MASS_CANCEL]
    assert len(mass) == (1 if mode == "all" else 0)
    if mode == "all":
        assert bytes(mass[0]["clordid"]) == b"cancel-on-disconnect"
    got = sorted(m["UserRefNum"] for m in replayed if m["type"] == "OrderCanceled")
    assert got == {"quotes": [1, 2], "all": [1, 2, 3], "off": []}[mode]


def test_mass_cancel_by_instrument_and_all(tmp_path):
    cfg = binary_config(tmp_path)

    async def main():
        server, gw = await start(cfg)
        mm1 = await ouch(gw, "MM1")
        mm1.enter(1, "B", 1, "MSFT", 1_480_000)
        mm1.enter(2, "B", 1, "MSFT", 1_470_000)
        mm1.enter(3, "B", 1_000_000, "AAPL", 1_480_000)
        await mm1.expect("OrderAccepted", UserRefNum=3)
        mm1.mass_cancel(77, "MSFT")
        report = await mm1.expect("MassCancelReport", RequestId=77)
        await settle(server)
        left = [ref_of(o[16]) for o in live_orders(server, "MM1")]
        mm1.mass_cancel(78)
        report_all = await mm1.expect("MassCancelReport", RequestId=78)
        mm1.mass_cancel(79, "NOPE")
        unknown = await mm1.expect("MassCancelReport", RequestId=79)
        mm1.close()
        await server.stop()
        return report, left, report_all, unknown

    report, left, report_all, unknown = run("uvloop", main())
    assert report["Symbol"] == b"MSFT" and report["Canceled"] == 2 and left == [3]
    assert report_all["Canceled"] == 1 and unknown["Canceled"] == 0


def test_restart_recovers_quote_sides_order_terms_and_userrefnums(tmp_path):
    cfg = binary_config(tmp_path, mm1='cancel_on_disconnect = "off"')

    async def first():
        server, gw = await start(cfg)
        mm1 = await ouch(gw, "MM1")
        mm1.mass_quote(1, [("MSFT", 1, 1_490_000, 10, 2, 1_510_000, 10)])
        mm1.enter(3, "B", 8, "MSFT", 1_480_000)
        await mm1.expect("OrderAccepted", UserRefNum=3)
        mm1.close()
        await settle(server)
        await server.stop()

    async def second():
        server, gw = await start(cfg)
        mm1 = await ouch(gw, "MM1")
        mm1.mass_quote(2, [("MSFT", 4, 1_491_000, 10, 5, 1_509_000, 10)])   # replaces 1 and 2
        ack = await mm1.expect("MassQuoteAck", QuoteId=2)
        mm1.cancel(3, 5)                                   # a reduction needs the order's price
        reduced = await mm1.expect("OrderCanceled", UserRefNum=3)
        mm1.enter(2, "B", 1, "MSFT", 1_480_000)           # UserRefNums stay increasing
        dup = await mm1.expect("OrderRejected", UserRefNum=2)
        await settle(server)
        live = sorted((ref_of(o[16]), o[9]) for o in live_orders(server, "MM1"))
        mm1.close()
        await server.stop()
        return ack, reduced, dup, live

    run("uvloop", first())
    ack, reduced, dup, live = run("uvloop", second())
    assert ack["Status"] == b"A"
    assert reduced["Quantity"] == 3
    assert dup["Reason"] == 0x2B
    assert live == [(3, 5), (4, 10), (5, 10)]

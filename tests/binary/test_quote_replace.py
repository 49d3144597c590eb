"""Mass Quote through the engine's QUOTE command: a live side is replaced in place (OUCH Order
Replaced previous -> new UserRefNum, one ITCH Order Replace), a side that filled out becomes a new
order (Order Accepted, ITCH Add), a refused side cancels the previous one; the recorded feed is read
by independent parsers (itchfeed for the message types, meatpy for the book) and the journal holds
one QUOTE per side."""
import pytest

from binary_helpers import (binary_config, itch, journal_commands, live_orders, ouch, run, settle,
                            start)
from ordex.core.commands import CommandKind
from ordex.gateway.binary import schema

meatpy_itch = pytest.importorskip("meatpy.itch50")
from test_itch_interop import _itchfeed_types, ordex_books, rebuild  # noqa: E402

PX = 1_500_000
REJ = {c.name: c.value for c in schema.CODES["RejectReason"].codes}


def test_requote_replaces_live_sides_and_renews_filled_ones(tmp_path):
    cfg = binary_config(tmp_path)
    path = tmp_path / "feed.itch"

    async def main():
        server, gw = await start(cfg)
        feed = await itch(gw, record=str(path))
        mm1, mm2 = await ouch(gw, "MM1"), await ouch(gw, "MM2")
        got = {}
        mm1.mass_quote(1, [("MSFT", 1, PX - 100, 10, 2, PX + 100, 10)])
        got["acc"] = [await mm1.expect("OrderAccepted", UserRefNum=r) for r in (1, 2)]
        await mm1.expect("MassQuoteAck", QuoteId=1)
        await settle(server)
        got["ids"] = {o[16]: o[0] for o in live_orders(server, "MM1")}
        mm1.mass_quote(2, [("MSFT", 3, PX - 200, 8, 4, PX + 200, 8)])
        got["rep"] = [await mm1.expect("OrderReplaced", UserRefNum=r) for r in (3, 4)]
        got["ack2"] = await mm1.expect("MassQuoteAck", QuoteId=2)
        mm2.enter(1, "B", 8, "MSFT", PX + 200)                        # takes the whole ask
        await mm1.expect("OrderExecuted", UserRefNum=4)
        await settle(server)
        # bid 3 is live: replaced (a reduction at the same price keeps its place); ask 4 filled
        # out: the quote enters a new order; then a bid off the grid: refused, bid 5 cancelled
        mm1.mass_quote(3, [("MSFT", 5, PX - 200, 6, 6, PX + 300, 9)])
        got["rep3"] = await mm1.expect("OrderReplaced", UserRefNum=5)
        got["acc3"] = await mm1.expect("OrderAccepted", UserRefNum=6)
        await mm1.expect("MassQuoteAck", QuoteId=3)
        mm1.mass_quote(4, [("MSFT", 7, PX - 250 + 1, 6, 8, PX + 300, 9)])
        got["rej4"] = await mm1.expect("OrderRejected", UserRefNum=7)
        got["cxl4"] = await mm1.expect("OrderCanceled", UserRefNum=5)
        got["rep4"] = await mm1.expect("OrderReplaced", UserRefNum=8)
        await mm1.expect("MassQuoteAck", QuoteId=4)
        await settle(server, 0.2)
        got["live"] = sorted((o[16], o[0], o[7], o[11]) for o in live_orders(server, "MM1"))
        user = gw.ouch.users["MM1"]
        got["terms"] = (dict(user.terms.items()), user.quotes.current(), user.quotes.refs())
        got["rows"] = [r for r in journal_commands(server) if int(r["session"]) == 1]
        got["books"] = ordex_books(server)
        for c in (feed, mm1, mm2):
            c.close()
        await server.stop()
        return got

    got = run("uvloop", main())
    ids = got["ids"]
    r3, r4 = got["rep"]
    assert (r3["OrigUserRefNum"], r3["Quantity"], r3["Price"]) == (1, 8, PX - 200)
    assert (r4["OrigUserRefNum"], r4["Quantity"], r4["Price"]) == (2, 8, PX + 200)
    assert r3["OrderReferenceNumber"] == ids[b"0000000001Q"]          # the same engine order
    assert got["ack2"]["Status"] == b"A" and got["ack2"]["Entries"] == 1
    assert (got["rep3"]["OrigUserRefNum"], got["rep3"]["Quantity"]) == (3, 6)
    assert got["acc3"]["OrderReferenceNumber"] not in ids.values()   # a new order
    assert got["rej4"]["Reason"] == REJ["INVALID_PRICE"]
    assert got["rep4"]["OrigUserRefNum"] == 6
    # the engine: one live side per side, under the latest UserRefNums
    assert [(cl, px, leaves) for cl, _id, px, leaves in got["live"]] == [
        (b"0000000008Q", (PX + 300) // 100, 9)]
    terms, current, tracked = got["terms"]
    assert set(terms) == {8} and tracked == [8] and set(current.values()) == {8}
    # the journal: one QUOTE per side with a quantity, naming the side it replaces (ask 4's
    # fill had reached the gateway, so ask 6 named none)
    quotes_j = [(bytes(r["clordid"]), bytes(r["orig_clordid"]), int(r["qty"]))
                for r in got["rows"] if r["kind"] == CommandKind.QUOTE]
    assert quotes_j == [(b"0000000001Q", b"", 10), (b"0000000002Q", b"", 10),
                        (b"0000000003Q", b"0000000001Q", 8), (b"0000000004Q", b"0000000002Q", 8),
                        (b"0000000005Q", b"0000000003Q", 6), (b"0000000006Q", b"", 9),
                        (b"0000000008Q", b"0000000006Q", 9)]
    assert not any(r["kind"] == CommandKind.NEW_ORDER for r in got["rows"])
    cancels = [bytes(r["orig_clordid"]) for r in got["rows"] if r["kind"] == CommandKind.CANCEL]
    assert cancels == [b"0000000005Q"]                                 # the refused bid's
    # the feed, read by itchfeed: quote 2 and the requote of ask 6 are Order Replaces, the
    # same-price reduction an Order Cancel, the new ask an Add; deletes only for bid 5
    types = _itchfeed_types(path)
    body = types[types.index("Q") + 1:] if "Q" in types else types     # after the snapshot
    assert [t for t in body if t in "AUDXE"] == ["A", "A", "U", "U", "E", "X", "A", "D", "U"]
    assert rebuild(path) == got["books"]                                # meatpy's book = ours


def test_requote_of_a_side_that_filled_in_the_same_batch_becomes_a_new_order(tmp_path):
    """The gateway's view lags the engine: an Enter Order that takes the ask and a Mass Quote
    requoting it, in one read, are one batch -- the QUOTE names the ask the engine has already
    filled, so it enters a new order (Order Accepted), while the live bid is replaced."""
    cfg = binary_config(tmp_path)

    async def main():
        server, gw = await start(cfg)
        mm1 = await ouch(gw, "MM1")
        mm1.mass_quote(1, [("MSFT", 1, PX - 100, 10, 2, PX + 100, 10)])
        await mm1.expect("MassQuoteAck", QuoteId=1)
        mm1.send_raw(mm1.enter_bytes(3, "B", 10, "MSFT", PX + 100, tif="3")
                     + mm1.mass_quote_bytes(2, [("MSFT", 4, PX - 200, 10, 5, PX + 200, 10)]))
        got = [await mm1.expect("OrderExecuted", UserRefNum=2),
               await mm1.expect("OrderReplaced", UserRefNum=4),
               await mm1.expect("OrderAccepted", UserRefNum=5),
               await mm1.expect("MassQuoteAck", QuoteId=2)]
        await settle(server)
        live = sorted((o[16], o[7]) for o in live_orders(server, "MM1"))
        rows = [(bytes(r["clordid"]), bytes(r["orig_clordid"])) for r in journal_commands(server)
                if r["kind"] == CommandKind.QUOTE]
        current = gw.ouch.users["MM1"].quotes.current()
        mm1.close()
        await server.stop()
        return got, live, rows, current

    (executed, replaced, accepted, ack), live, rows, current = run("uvloop", main())
    assert executed["Quantity"] == 10 and replaced["OrigUserRefNum"] == 1
    assert accepted["Quantity"] == 10 and accepted["Price"] == PX + 200
    assert rows[-2:] == [(b"0000000004Q", b"0000000001Q"), (b"0000000005Q", b"0000000002Q")]
    assert live == [(b"0000000004Q", (PX - 200) // 100), (b"0000000005Q", (PX + 200) // 100)]
    assert current == {(1, 1): 4, (1, 2): 5}

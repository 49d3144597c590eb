"""Accounts: holds placed, converted on fills and released; fees; positions with cost basis and
realized P&L through long -> flat -> short flips; several currencies; fractional quantities; the
invariant checker itself.  Numbers worked out by hand (notional = p * q cents unless noted).
"""
import pytest

from engine_helpers import (AAA, ALICE, BBB, BOB, BUY, CAROL, FRAC, SELL, Driver, accepted,
                            briefs, refdata, trade)
from ordex.core.commands import OrdType, Tif
from ordex.core.events import EventKind as K
from ordex.core.events import Liquidity as L
from ordex.core.lifecycle import OrderState as St
from ordex.core.reasons import Reason as R
from ordex.core.refengine import InvariantViolation, ReferenceEngine


def cash(eng, account, currency="USD"):
    return eng.engine.account(account)["cash"][currency]


def position(eng, account, instrument=AAA):
    return eng.engine.account(account)["positions"].get(instrument, (0, 0, 0, 0))


def test_buy_hold_placed_converted_and_released(eng):
    accepted(eng.sell(3, 95, account=BOB))
    events = eng.buy(5, 100)                     # hold 500 at the limit; fills 3 at the maker's 95
    assert briefs(events)[1:] == [("TRADE", 2, St.PARTIALLY_FILLED, 2, 3, 95, 0),
                                  ("TRADE", 1, St.FILLED, 0, 3, 95, 0)]
    # paid 285; hold re-taken for 2 leaves at 100: the 15 saved on price went back to available
    assert cash(eng, ALICE) == (100000 - 285 - 200, 200)
    assert eng.engine.order(2)["hold_cash"] == 200
    eng.cancel(2)
    assert cash(eng, ALICE) == (100000 - 285, 0)
    assert cash(eng, BOB) == (100000 + 285, 0)


def test_sell_holds_position_until_filled_or_cancelled(eng):
    accepted(eng.sell(10, 100))
    assert position(eng, ALICE) == (100, 10, 0, 0)
    eng.buy(4, 100, account=BOB)
    assert position(eng, ALICE) == (96, 6, 0, 400)            # initial position has cost 0
    eng.cancel(1)
    assert position(eng, ALICE) == (96, 0, 0, 400)
    assert position(eng, BOB) == (4, 0, 400, 0)


def test_holds_released_on_expiry_and_rejection(eng):
    accepted(eng.buy(5, 100, tif=Tif.DAY))
    accepted(eng.sell(5, 120, tif=Tif.DAY))
    assert cash(eng, ALICE) == (99500, 500) and position(eng, ALICE)[1] == 5
    eng.status(AAA, 2)
    assert cash(eng, ALICE) == (100000, 0) and position(eng, ALICE)[1] == 0
    eng.status(AAA, 0)
    eng.sell(1, 100, account=BOB)
    events = eng.buy(1, 100, flags=1)            # post-only would take: rejected after the hold
    assert events[0].reason == R.POST_ONLY_WOULD_TAKE
    assert cash(eng, ALICE) == (100000, 0)


def test_market_buy_holds_at_protection_and_releases_the_rest(make_engine):
    eng = make_engine({"AAA": dict(band_pct="10")})
    eng.sell(2, 100, account=BOB)
    eng.reference(AAA, 100)
    events = eng.buy(5)                          # protection 110: holds 550, buys 2 at 100
    assert [K(e.kind).name for e in events] == ["NEW", "TRADE", "TRADE", "CANCELLED"]
    assert cash(eng, ALICE) == (100000 - 200, 0)


def test_fees_maker_and_taker(eng):
    # BBB (EUR): maker 10 bps, taker 20 bps.  50 @ 1000: notional 50000.
    accepted(eng.sell(50, 1000, account=BOB, instrument=BBB))
    accepted_events = eng.buy(50, 1000, instrument=BBB)
    taker, maker = accepted_events[1], accepted_events[2]
    assert trade(taker) == (2, 1, 1000, 50, 0, 50, 1000, 100, L.TAKER, St.FILLED)   # 50000 * 20 // 1e4
    assert trade(maker) == (1, 2, 1000, 50, 0, 50, 1000, 50, L.MAKER, St.FILLED)    # 50000 * 10 // 1e4
    assert cash(eng, ALICE, "EUR") == (100000 - 50000 - 100, 0)
    assert cash(eng, BOB, "EUR") == (100000 + 50000 - 50, 0)
    assert eng.engine.state()[5] == (("EUR", 150),)
    assert cash(eng, ALICE, "USD") == (100000, 0)


def test_fees_floor_and_hold_allowance_ceiling(eng):
    # 1 @ 999: hold 999 + ceil(1.998) = 1001; taker fee floor(1.998) = 1, maker floor(0.999) = 0
    accepted(eng.sell(1, 999, account=BOB, instrument=BBB))
    events = eng.buy(1, 999, instrument=BBB, tif=Tif.IOC)
    assert (events[1].fee, events[2].fee) == (1, 0)
    assert cash(eng, ALICE, "EUR") == (100000 - 1000, 0)
    accepted(eng.buy(1, 999, instrument=BBB))
    assert cash(eng, ALICE, "EUR") == (100000 - 1000 - 1001, 1001)


def cross(eng, buyer, seller, qty, price):
    """The seller rests a limit sell, the buyer takes all of it at the same price."""
    accepted(eng.sell(qty, price, account=seller))
    events = eng.buy(qty, price, account=buyer)
    assert [e.kind for e in events] == [K.NEW, K.TRADE, K.TRADE], briefs(events)


def test_cost_basis_and_realized_pnl_through_flips(eng):
    steps = [  # (buyer, seller, qty, price) -> bob's (position, held, cost, realized) after it
        ((BOB, ALICE, 10, 100), (10, 0, 1000, 0)),
        ((BOB, ALICE, 5, 130), (15, 0, 1650, 0)),
        # sell 6 of 15: removes 1650 * 6 // 15 = 660, realizes 720 - 660
        ((ALICE, BOB, 6, 120), (9, 0, 990, 60)),
        ((ALICE, BOB, 9, 110), (0, 0, 0, 60)),                # flat: the whole basis leaves
        ((ALICE, BOB, 4, 100), (-4, 0, -400, 60)),            # short opens at -notional
        ((ALICE, BOB, 3, 95), (-7, 0, -685, 60)),
        # buy 2 of -7: removes -685 * 2 / 7 = -195.7, truncated toward zero to -195 (not -196);
        # realizes 195 - 180
        ((BOB, ALICE, 2, 90), (-5, 0, -490, 75)),
        # buy 8: 5 close the short (490 - 500 = -10), 3 open a long at 300
        ((BOB, ALICE, 8, 100), (3, 0, 300, 65)),
    ]
    for (buyer, seller, qty, price), expected in steps:
        cross(eng, buyer, seller, qty, price)
        assert position(eng, BOB) == expected, (buyer, seller, qty, price)
    # alice started long 100 at cost 0; her last two sales remove 2395 * 2 // 107 = 44 and
    # 2351 * 8 // 105 = 179 from the basis
    assert position(eng, ALICE) == (97, 0, 2172, 1000 + 650 + (180 - 44) + (800 - 179))
    assert cash(eng, BOB) == (100000 - 1000 - 650 + 720 + 990 + 400 + 285 - 180 - 800, 0)


def test_fill_that_flips_in_one_go(eng):
    cross(eng, BOB, ALICE, 4, 100)                             # bob long 4, cost 400
    assert eng.engine.unrealized_pnl(BOB, AAA) == 0             # marked at the last trade, 100
    assert eng.engine.unrealized_pnl(BOB, AAA, 110) == 440 - 400
    cross(eng, ALICE, BOB, 10, 90)                             # sells 10: 4 close, 6 open short
    assert position(eng, BOB) == (-6, 0, -540, 360 - 400)
    assert eng.engine.unrealized_pnl(BOB, AAA) == 0
    assert eng.engine.unrealized_pnl(BOB, AAA, 100) == -600 + 540   # a short loses as price rises
    eng.reference(AAA, 80, ts_ns=eng.ts_ns + 1)                # a later external reference marks it
    assert eng.engine.unrealized_pnl(BOB, AAA) == -480 + 540


def test_unrealized_pnl_without_a_mark(eng):
    assert eng.engine.unrealized_pnl(ALICE, AAA) is None
    assert eng.engine.unrealized_pnl(ALICE, AAA, 50) == 5000       # 100 shares at cost 0
    assert eng.engine.unrealized_pnl(CAROL, AAA, 50) == 0
    with pytest.raises(KeyError):
        eng.engine.unrealized_pnl(9, AAA)


def test_multi_currency_account(eng):
    cross(eng, ALICE, BOB, 10, 100)                            # USD
    accepted(eng.sell(10, 200, account=BOB, instrument=BBB))   # EUR, with fees
    eng.buy(10, 200, instrument=BBB)
    acct = eng.engine.account(ALICE)
    assert acct["cash"]["USD"] == (100000 - 1000, 0)
    assert acct["cash"]["EUR"] == (100000 - 2000 - 4, 0)       # taker fee 2000 * 20 // 1e4
    assert acct["positions"] == {AAA: (110, 0, 1000, 0), BBB: (110, 0, 2000, 0)}
    assert set(acct["cash"]) == {"USD", "EUR", "GBP", "JPY", "BTC", "ETH", "USDT"}
    assert eng.engine.state()[5] == (("EUR", 6),)               # + maker fee 2000 * 10 // 1e4


def test_fractional_quantities_round_trades_down_and_holds_up(eng):
    # FRAC: qty in millionths, notional = p * q // 10**6.  333333 @ 100 = 33.3333 cents.
    accepted(eng.sell(333333, 100, account=BOB, instrument=FRAC))
    accepted(eng.buy(1, 1, instrument=FRAC))                    # 1 millionth @ 0.01: hold ceil(1e-8) = 1
    assert cash(eng, ALICE) == (100000 - 1, 1)
    eng.cancel(2)
    events = eng.buy(333333, 100, instrument=FRAC)
    assert [e.kind for e in events] == [K.NEW, K.TRADE, K.TRADE]
    assert cash(eng, ALICE) == (100000 - 33, 0)                 # trade notional: floor 33
    assert cash(eng, BOB) == (100000 + 33, 0)
    assert position(eng, ALICE, FRAC) == (333333, 0, 33, 0)
    accepted(eng.buy(333333, 100, instrument=FRAC))
    assert cash(eng, ALICE) == (100000 - 33 - 34, 34)           # hold: ceil 34


def test_no_hold_outlives_its_order(eng):
    accepted(eng.buy(5, 100))
    accepted(eng.sell(5, 120))
    accepted(eng.new(BUY, 2, ord_type=OrdType.STOP, stop_price=150))
    accepted(eng.new(SELL, 2, 90, ord_type=OrdType.STOP_LIMIT, stop_price=95))
    eng.kill(2, True, account=ALICE)                           # Scope.ACCOUNT
    assert eng.engine.state()[2] == ()
    assert cash(eng, ALICE) == (100000, 0)
    assert position(eng, ALICE) == (100, 0, 0, 0)


def test_check_invariants_catches_corruption():
    """The reference's checker is not a no-op: tamper with its state and it must object."""
    def fresh():
        d = Driver(ReferenceEngine(refdata()))
        d.buy(5, 100)
        d.sell(5, 120)
        return d.engine

    e = fresh()
    e._cash[ALICE, "USD"][0] += 1
    with pytest.raises(InvariantViolation, match="USD"):
        e.check_invariants()
    e = fresh()
    e._cash[ALICE, "USD"][0] += 1
    e._cash[ALICE, "USD"][1] -= 1                              # conserved, but held != orders' holds
    with pytest.raises(InvariantViolation, match="held"):
        e.check_invariants()
    e = fresh()
    e._positions[ALICE, AAA].qty -= 1
    with pytest.raises(InvariantViolation, match="positions sum"):
        e.check_invariants()
    e = fresh()
    e._orders[1].leaves -= 1
    with pytest.raises(InvariantViolation):
        e.check_invariants()

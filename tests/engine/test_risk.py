"""Pre-trade risk and validation: one test per rule, accepting exactly at the limit and rejecting
just beyond it, with the numbers worked out by hand from ext/engine.pyi (steps 1-14).

Standard data (engine_helpers.py): notional(p, q) = p * q cents; alice holds 1000.00 USD and EUR
(100000 cents each) and 100 AAA / 100 BBB and may not short; bob may short; carol trades only AAA
and FRAC; session S0 trades alice and bob, S1 (2 orders/s) bob and carol.
"""
import pytest

from engine_helpers import (AAA, ALICE, BBB, BOB, BUY, CAROL, CRS, FRAC, S0, S1, SELL, accepted,
                            briefs, cancel_rejected, only, rejected, unchanged)
from ordex.core.commands import ADMIN_SESSION, CommandKind, Flag, OrdType, Scope, Stp, Tif
from ordex.core.events import EventKind as K
from ordex.core.lifecycle import OrderState as St
from ordex.core.reasons import Reason as R

SECOND = 1_000_000_000


def test_buying_power_includes_fee_allowance(eng):
    # BBB fees: maker 10, taker 20 bps -> allowance ceil(base * 20 / 10000).
    # 1 @ 99801: base 99801 + ceil(199.602) = 200 -> 100001 > 100000 available.
    before = eng.engine.state()
    rejected(eng.buy(1, 99801, instrument=BBB), R.INSUFFICIENT_BUYING_POWER)
    unchanged(before, eng.engine.state())
    # 100 @ 998: base 99800 + ceil(199.6) = 200 -> exactly 100000.
    oid = accepted(eng.buy(100, 998, instrument=BBB))
    assert eng.engine.account(ALICE)["cash"]["EUR"] == (0, 100000)
    assert eng.engine.order(oid)["hold_cash"] == 100000
    # With nothing left, one more cent of hold is refused.
    rejected(eng.buy(1, 1, instrument=BBB), R.INSUFFICIENT_BUYING_POWER)


def test_buying_power_is_per_currency(eng):
    accepted(eng.buy(100, 998, instrument=BBB))             # all of alice's EUR (see above)
    rejected(eng.buy(1, 1, instrument=BBB), R.INSUFFICIENT_BUYING_POWER)
    accepted(eng.buy(1000, 100, instrument=AAA))            # her USD is untouched


def test_sell_needs_position_unless_may_short(eng):
    rejected(eng.sell(101, 100), R.INSUFFICIENT_POSITION)   # alice has 100 AAA
    oid = accepted(eng.sell(100, 100))
    assert eng.engine.account(ALICE)["positions"][AAA] == (100, 100, 0, 0)
    assert eng.engine.order(oid)["hold_qty"] == 100
    rejected(eng.sell(1, 100), R.INSUFFICIENT_POSITION)     # all 100 already held
    accepted(eng.sell(1000, 100, account=BOB))              # bob may short, holds nothing
    eng.cancel(oid)
    assert eng.engine.account(ALICE)["positions"][AAA] == (100, 0, 0, 0)
    accepted(eng.sell(100, 100))                            # the hold came back with the cancel


def test_position_limit_buy(make_engine):
    eng = make_engine(account_overrides={"carol": dict(max_position="50")})
    accepted(eng.buy(30, 100, account=CAROL, session=S1))   # 0 + 0 + 30
    accepted(eng.buy(20, 100, account=CAROL, session=S1, ts_ns=2 * SECOND))  # 0 + 30 + 20 = 50
    rejected(eng.buy(1, 100, account=CAROL, session=S1, ts_ns=3 * SECOND), R.POSITION_LIMIT)


def test_position_limit_sell_for_a_short_seller(make_engine):
    eng = make_engine(account_overrides={"bob": dict(max_position="50")})
    accepted(eng.sell(50, 100, account=BOB))                # 0 - 0 - 50 = -50, not < -50
    rejected(eng.sell(1, 100, account=BOB), R.POSITION_LIMIT)
    accepted(eng.buy(50, 90, account=BOB))                  # buys count open buys only: 0 + 0 + 50
    rejected(eng.buy(1, 90, account=BOB), R.POSITION_LIMIT)  # 0 + 50 + 1 > 50


def test_position_limit_in_fractional_increments(make_engine):
    # 0.5 units of FRAC = 500000 increments of 0.000001.
    eng = make_engine(account_overrides={"carol": dict(max_position="0.5")})
    rejected(eng.buy(500001, 100, account=CAROL, session=S1, instrument=FRAC), R.POSITION_LIMIT)
    oid = accepted(eng.buy(500000, 100, account=CAROL, session=S1, instrument=FRAC, ts_ns=2 * SECOND))
    # hold = ceil(100 * 500000 / 10**6) = 50 cents
    assert eng.engine.order(oid)["hold_cash"] == 50


def test_position_limit_is_checked_before_buying_power(make_engine):
    eng = make_engine(account_overrides={"carol": dict(max_position="50", balances={"USD": "0"})})
    rejected(eng.buy(51, 100, account=CAROL, session=S1), R.POSITION_LIMIT)
    rejected(eng.buy(50, 100, account=CAROL, session=S1, ts_ns=2 * SECOND), R.INSUFFICIENT_BUYING_POWER)


def test_max_qty(make_engine):
    eng = make_engine({"AAA": dict(max_qty="10")})
    rejected(eng.buy(11, 100), R.QTY_ABOVE_MAX)
    accepted(eng.buy(10, 100))


def test_min_qty(make_engine):
    eng = make_engine({"AAA": dict(min_qty="5")})
    rejected(eng.buy(4, 100), R.QTY_BELOW_MIN)
    accepted(eng.buy(5, 100))


def test_max_notional_both_sides(make_engine):
    eng = make_engine({"AAA": dict(max_notional="10")})    # 10.00 USD = 1000 cents
    rejected(eng.buy(10, 101), R.NOTIONAL_ABOVE_MAX)        # 1010
    accepted(eng.buy(10, 100))                              # 1000
    rejected(eng.sell(10, 101), R.NOTIONAL_ABOVE_MAX)
    accepted(eng.sell(10, 100))


def test_max_notional_uses_the_market_protection_price(make_engine):
    eng = make_engine({"AAA": dict(max_notional="10", band_pct="10")})
    eng.reference(AAA, 100)
    # protection floor(100 * 11000 // 10000) = 110: 9 * 110 = 990 fits, 10 * 110 = 1100 does not
    accepted(eng.buy(9))
    rejected(eng.buy(10), R.NOTIONAL_ABOVE_MAX)


@pytest.mark.parametrize("side, inside, outside", [(BUY, 1100, 1101), (SELL, 900, 899)])
def test_collar(make_engine, side, inside, outside):
    eng = make_engine({"AAA": dict(band_pct="10")})        # 1000 bps around the reference
    accepted(eng.new(side, 1, 5000, account=BOB))           # no reference yet: no collar
    eng.send(CommandKind.MASS_CANCEL, session=S0, scope=Scope.ALL, instrument=-1)
    eng.reference(AAA, 1000)
    rejected(eng.new(side, 1, outside, account=BOB), R.PRICE_OUTSIDE_COLLAR)   # |101| * 1e4 > 1e6
    accepted(eng.new(side, 1, inside, account=BOB))                            # |100| * 1e4 == 1e6


def test_collar_reference_is_the_later_of_trade_and_external(make_engine):
    eng = make_engine({"AAA": dict(band_pct="10")})
    eng.reference(AAA, 1000, ts_ns=5 * SECOND)
    accepted(eng.sell(1, 1050, account=BOB))                # inside: 50 * 1e4 <= 1000 * 1000
    eng.buy(1, 1050)                                        # last trade 1050, ts 5 s
    eng.reference(AAA, 2000, ts_ns=5 * SECOND)              # equal ts: the last trade still wins
    rejected(eng.buy(1, 2100), R.PRICE_OUTSIDE_COLLAR)      # collar [945, 1155] around 1050
    accepted(eng.buy(1, 1100))
    eng.reference(AAA, 2000, ts_ns=6 * SECOND)              # now the external one is later
    rejected(eng.buy(1, 1100), R.PRICE_OUTSIDE_COLLAR)      # collar [1800, 2200] around 2000
    accepted(eng.buy(1, 2100))


def test_market_needs_a_fresh_reference(make_engine):
    eng = make_engine({"AAA": dict(band_pct="10", ref_max_age_s="5")})
    rejected(eng.buy(1), R.NO_FRESH_REFERENCE)              # no reference at all
    eng.reference(AAA, 1000, ts_ns=10 * SECOND)
    rejected(eng.buy(1, ts_ns=15 * SECOND + 1), R.NO_FRESH_REFERENCE)
    events = eng.buy(1, ts_ns=15 * SECOND)                  # age exactly 5 s: fresh
    assert briefs(events) == [("NEW", 3, St.NEW, 1, 0, 0, 0),      # (rejects took ids 1 and 2)
                              ("CANCELLED", 3, St.CANCELLED, 0, 0, 0, R.IOC_REMAINDER)]


def test_market_order_protection_is_the_collar(make_engine):
    eng = make_engine({"AAA": dict(band_pct="10")})
    # resting orders placed before any reference exists, so no collar refuses them
    for price in (1100, 1101):
        accepted(eng.sell(1, price, account=BOB))           # orders 1, 2
    for price in (899, 900):
        accepted(eng.buy(1, price, account=BOB))            # orders 3, 4
    eng.reference(AAA, 1000)
    # buy protection floor(1000 * 11000 // 10000) = 1100: takes 1100, not 1101
    events = eng.buy(2)
    assert [(K(e.kind).name, e.last_px, e.last_qty, e.reason) for e in events if e.order_id == 5] == [
        ("NEW", 0, 0, 0), ("TRADE", 1100, 1, 0), ("CANCELLED", 0, 0, R.IOC_REMAINDER)]
    # the hold was 2 * 1100 at the protection price; after the fill and the IOC rest, none is held
    assert eng.engine.account(ALICE)["cash"]["USD"] == (100000 - 1100, 0)
    # a later external reference of 1000 again: sell protection ceil(1000 * 9000 / 10000) = 900
    eng.reference(AAA, 1000, ts_ns=eng.ts_ns + 1)
    events = eng.sell(2)
    assert [(e.last_px, e.last_qty) for e in events if e.kind == K.TRADE and e.order_id == 6] == [(900, 1)]


def test_halted_and_closed(eng):
    eng.status(AAA, 1)
    assert eng.engine.instrument_status(AAA) == 1
    rejected(eng.buy(1, 100), R.INSTRUMENT_HALTED)
    eng.status(AAA, 2)
    rejected(eng.buy(1, 100), R.INSTRUMENT_CLOSED)
    accepted(eng.buy(1, 100, instrument=BBB))               # other instruments trade on
    assert eng.engine.instrument_status(BBB) == 0
    assert eng.status(AAA, 3) == []                         # no such status: nothing changes
    assert eng.engine.instrument_status(AAA) == 2
    eng.status(AAA, 0)
    accepted(eng.buy(1, 100))
    with pytest.raises(KeyError):
        eng.engine.instrument_status(9)


def test_account_kill_switch(eng):
    a = accepted(eng.buy(1, 100))
    b = accepted(eng.buy(1, 100, account=BOB))
    events = eng.kill(Scope.ACCOUNT, True, account=ALICE)
    assert briefs(events) == [("CANCELLED", a, St.CANCELLED, 0, 0, 0, R.KILL_SWITCH_CANCEL)]
    rejected(eng.buy(1, 100), R.ACCOUNT_KILL_SWITCH)
    accepted(eng.buy(1, 100, account=BOB))
    assert eng.engine.order(b) is not None
    assert eng.engine.account(ALICE)["kill_switch"] is True
    assert eng.kill(Scope.ACCOUNT, False, account=ALICE) == []
    accepted(eng.buy(1, 100))


def test_session_kill_switch(eng):
    a = accepted(eng.buy(1, 100, account=BOB, session=S0))
    b = accepted(eng.buy(1, 100, account=BOB, session=S1))
    events = eng.kill(Scope.SESSION, True, session=S0)
    assert briefs(events) == [("CANCELLED", a, St.CANCELLED, 0, 0, 0, R.KILL_SWITCH_CANCEL)]
    rejected(eng.buy(1, 100, account=BOB, session=S0), R.SESSION_KILL_SWITCH)
    # same account, other session
    accepted(eng.buy(1, 100, account=BOB, session=S1, ts_ns=eng.ts_ns + SECOND))
    assert eng.engine.order(b) is not None
    assert eng.engine.state()[7][S0][0] is True
    eng.kill(Scope.SESSION, False, session=S0)
    accepted(eng.buy(1, 100, account=BOB, session=S0))


def test_session_kill_switch_comes_before_throttle_and_account_checks(eng):
    eng.kill(Scope.SESSION, True, session=S1)
    tokens = eng.engine.state()[7][S1]
    rejected(eng.buy(1, 100, account=ALICE, session=S1), R.SESSION_KILL_SWITCH)   # not even permitted
    assert eng.engine.state()[7][S1] == tokens                                      # no token taken


def test_throttle_refills_from_ts(eng):
    t0 = 10 * SECOND
    accepted(eng.buy(1, 100, account=BOB, session=S1, ts_ns=t0))      # bucket of 2 starts full
    accepted(eng.buy(1, 100, account=BOB, session=S1, ts_ns=t0))
    rejected(eng.buy(1, 100, account=BOB, session=S1, ts_ns=t0), R.THROTTLED)
    # refill at 2 tokens/s: after 0.5 s - 1 ns the bucket holds 1e9 - 2 token-ns, not enough
    rejected(eng.buy(1, 100, account=BOB, session=S1, ts_ns=t0 + SECOND // 2 - 1), R.THROTTLED)
    assert eng.engine.state()[7][S1] == (False, SECOND - 2, t0 + SECOND // 2 - 1)
    accepted(eng.buy(1, 100, account=BOB, session=S1, ts_ns=t0 + SECOND // 2))
    assert eng.engine.state()[7][S1] == (False, 0, t0 + SECOND // 2)
    # a long pause refills only up to the capacity of 2
    for _ in range(2):
        accepted(eng.buy(1, 100, account=BOB, session=S1, ts_ns=t0 + 100 * SECOND))
    rejected(eng.buy(1, 100, account=BOB, session=S1), R.THROTTLED)
    accepted(eng.buy(1, 100, account=BOB, session=S0))                # S0 is unthrottled
    assert eng.engine.state()[7][S0] == (False, 0, 0)


def test_throttle_ignores_time_running_backwards(eng):
    # The sequencer stamps ts_ns monotonically; should one arrive earlier than the bucket's last
    # refill, it refills nothing (the formula read literally would drain tokens) and the bucket
    # keeps its clock.
    t0 = 10 * SECOND
    accepted(eng.buy(1, 100, account=BOB, session=S1, ts_ns=t0))
    accepted(eng.buy(1, 100, account=BOB, session=S1, ts_ns=t0 - SECOND))
    assert eng.engine.state()[7][S1] == (False, 0, t0)
    rejected(eng.buy(1, 100, account=BOB, session=S1, ts_ns=t0 - SECOND), R.THROTTLED)
    accepted(eng.buy(1, 100, account=BOB, session=S1, ts_ns=t0 + SECOND // 2))


def test_throttle_counts_replaces_but_not_cancels(eng):
    t0 = 10 * SECOND
    oid = accepted(eng.buy(1, 100, account=BOB, session=S1, ts_ns=t0))
    assert only(eng.replace(oid, qty=2, price=100, session=S1)).kind == K.REPLACED
    cancel_rejected(eng.replace(oid, qty=3, price=100, session=S1), R.THROTTLED)
    rejected(eng.buy(1, 100, account=BOB, session=S1), R.THROTTLED)
    assert briefs(eng.cancel(oid, session=S1)) == [("CANCELLED", oid, St.CANCELLED, 0, 0, 0, R.USER_CANCEL)]


def test_throttled_order_still_consumes_its_id_and_clordid(eng):
    t0 = 10 * SECOND
    for _ in range(2):
        eng.buy(1, 100, account=BOB, session=S1, ts_ns=t0)
    e = rejected(eng.buy(1, 100, account=BOB, session=S1, clordid="t3"), R.THROTTLED)
    assert e.order_id == 3
    rejected(eng.buy(1, 100, account=BOB, session=S1, clordid="t3", ts_ns=t0 + SECOND),
             R.DUPLICATE_CLORDID)


def test_account_and_session_permissions(eng):
    e = rejected(eng.buy(1, 100, account=CAROL, session=S0), R.ACCOUNT_NOT_PERMITTED)
    assert e.order_id == 1                                   # past the duplicate check: an id
    accepted(eng.buy(1, 100, account=CAROL, session=S1))
    rejected(eng.buy(1, 100, account=CAROL, session=S1, instrument=BBB, ts_ns=2 * SECOND),
             R.ACCOUNT_NOT_PERMITTED)                        # carol may not trade BBB
    rejected(eng.buy(1, 100, account=7), R.UNKNOWN_ACCOUNT)
    rejected(eng.buy(1, 100, account=-1), R.UNKNOWN_ACCOUNT)
    rejected(eng.buy(1, 100, instrument=9), R.UNKNOWN_INSTRUMENT)
    # operations may cancel anything but enter no orders: the admin session is no trading session
    e = rejected(eng.buy(1, 100, account=CAROL, session=ADMIN_SESSION), R.ACCOUNT_NOT_PERMITTED)
    assert e.order_id == 0


def test_unknown_session(eng):
    before = eng.engine.state()
    e = rejected(eng.buy(1, 100, session=5, clordid="x"), R.ACCOUNT_NOT_PERMITTED)
    assert e.order_id == 0 and e.session == 5               # failed before the duplicate check
    after = eng.engine.state()
    assert after[0] == before[0] and after[2:] == before[2:]


def test_duplicate_clordid_leaves_the_original_untouched(eng):
    events = eng.buy(5, 100, clordid="dup")
    oid = accepted(events)
    before = eng.engine.state()
    e = rejected(eng.sell(7, 90, clordid="dup"), R.DUPLICATE_CLORDID)
    assert (e.order_id, e.side, e.qty, e.price, e.clordid) == (0, SELL, 7, 90, b"dup")
    after = eng.engine.state()
    assert after[0] == before[0]                            # no order id consumed
    unchanged(before, after)
    cancel_rejected(eng.cancel(orig_clordid="x", clordid="dup"), R.DUPLICATE_CLORDID)
    cancel_rejected(eng.replace(oid, qty=1, price=100, clordid="dup"), R.DUPLICATE_CLORDID)
    unchanged(before, eng.engine.state())
    assert eng.engine.order(oid)["qty"] == 5
    accepted(eng.buy(1, 100, account=BOB, session=S1, clordid="dup"))   # clordids are per session


def test_rejected_order_clordid_stays_used(eng):
    rejected(eng.buy(0, 100, clordid="z"), R.INVALID_QTY)
    rejected(eng.buy(1, 100, clordid="z"), R.DUPLICATE_CLORDID)
    cancel_rejected(eng.cancel(orig_clordid="z"), R.ORDER_DONE)


LIMIT, MARKET, STOP, STOP_LIMIT = OrdType.LIMIT, OrdType.MARKET, OrdType.STOP, OrdType.STOP_LIMIT


@pytest.mark.parametrize("fields, reason", [
    (dict(side=0), R.INVALID_SIDE),
    (dict(side=3), R.INVALID_SIDE),
    (dict(ord_type=0), R.INVALID_ORDER_TYPE),
    (dict(ord_type=5), R.INVALID_ORDER_TYPE),
    (dict(tif=2), R.INVALID_TIF),
    (dict(tif=7), R.INVALID_TIF),
    (dict(ord_type=MARKET, price=0, tif=Tif.GTD, expire_ts_ns=10 ** 12), R.INVALID_TIF),
    (dict(ord_type=STOP, price=0, stop_price=100, tif=Tif.GTD, expire_ts_ns=10 ** 12), R.INVALID_TIF),
    (dict(tif=Tif.GTD, expire_ts_ns=SECOND), R.INVALID_EXPIRY),          # == ts_ns: already past
    (dict(stp=5), R.INVALID_ORDER_TYPE),
    (dict(price=0), R.INVALID_PRICE),
    (dict(price=-5), R.INVALID_PRICE),
    (dict(instrument=CRS, price=101, qty=10), R.PRICE_OFF_TICK),         # CRS tick 5
    (dict(ord_type=MARKET, price=100), R.INVALID_PRICE),
    (dict(ord_type=STOP, price=100, stop_price=100), R.INVALID_PRICE),
    (dict(ord_type=STOP, price=0, stop_price=0), R.INVALID_STOP_PRICE),
    (dict(ord_type=STOP_LIMIT, stop_price=-1), R.INVALID_STOP_PRICE),
    (dict(instrument=CRS, ord_type=STOP_LIMIT, price=100, stop_price=101, qty=10), R.INVALID_STOP_PRICE),
    (dict(stop_price=100), R.INVALID_STOP_PRICE),                        # LIMIT with a stop price
    (dict(qty=0), R.INVALID_QTY),
    (dict(qty=-3), R.INVALID_QTY),
    (dict(instrument=CRS, price=100, qty=15), R.QTY_OFF_LOT),            # CRS lot 10
    (dict(display=-1), R.INVALID_DISPLAY),
    (dict(display=6), R.INVALID_DISPLAY),                                # > qty
    (dict(instrument=CRS, price=100, qty=20, display=5), R.INVALID_DISPLAY),   # off the lot
    (dict(flags=Flag.OCO, link=99), R.UNKNOWN_ORDER),
    (dict(flags=Flag.OTO, link=0), R.UNKNOWN_ORDER),
    (dict(flags=Flag.OCO | Flag.OTO, link=1), R.INVALID_ORDER_TYPE),
    (dict(flags=Flag.OCO, link=2), R.UNKNOWN_ORDER),                     # bob's order: other account
    # first failure wins
    (dict(side=9, ord_type=9, price=-1, qty=-1), R.INVALID_SIDE),
    (dict(price=-1, qty=-1), R.INVALID_PRICE),
    (dict(qty=-1, display=-1, flags=Flag.OCO, link=99), R.INVALID_QTY),
])
def test_validation(eng, fields, reason):
    accepted(eng.buy(1, 50))                                 # order 1: alice's, a valid link
    accepted(eng.buy(1, 50, account=BOB))                    # order 2: bob's
    before = eng.engine.state()
    args = dict(side=BUY, qty=5, price=100, ord_type=LIMIT)
    args.update(fields)
    e = rejected(eng.send(CommandKind.NEW_ORDER, session=S0, account=ALICE, clordid="v",
                          instrument=args.pop("instrument", AAA), **args), reason)
    assert e.order_id == 3 and e.clordid == b"v"
    unchanged(before, eng.engine.state())


def test_gtd_in_the_future_is_accepted(eng):
    oid = accepted(eng.buy(1, 100, tif=Tif.GTD, expire_ts_ns=eng.ts_ns + 1))
    assert eng.engine.state()[2][0][15] == eng.ts_ns + 1     # expire_ts_ns kept for GTD


def test_stop_stp_and_post_only_accepted_at_their_bounds(eng):
    accepted(eng.buy(1, 100, stp=Stp.DECREMENT_AND_CANCEL))
    accepted(eng.new(BUY, 1, 0, ord_type=STOP, stop_price=100, tif=Tif.DAY))
    accepted(eng.new(BUY, 5, 100, display=5))                # display == qty is allowed


def test_book_full_is_a_reject_with_the_hold_released(make_engine):
    eng = make_engine(max_orders=2)
    accepted(eng.buy(1, 100))
    accepted(eng.buy(1, 101))
    e = rejected(eng.buy(1, 102), R.BOOK_FULL)
    assert e.order_id == 3
    assert eng.engine.account(ALICE)["cash"]["USD"] == (100000 - 201, 201)
    # the engine's order table (live and pending orders) is as large as the book: an IOC or a
    # stop needs a slot too
    rejected(eng.buy(1, 102, tif=Tif.IOC), R.BOOK_FULL)
    rejected(eng.new(BUY, 1, ord_type=OrdType.STOP, stop_price=120), R.BOOK_FULL)
    eng.cancel(1)
    assert briefs(eng.buy(1, 102, tif=Tif.IOC))[0][0] == "NEW"


def test_post_only_would_take_is_a_reject(eng):
    accepted(eng.sell(1, 100, account=BOB))
    e = rejected(eng.buy(1, 100, flags=Flag.POST_ONLY), R.POST_ONLY_WOULD_TAKE)
    assert e.order_id == 2
    assert eng.engine.account(ALICE)["cash"]["USD"] == (100000, 0)
    accepted(eng.buy(1, 99, flags=Flag.POST_ONLY))


# ---- huge values: risk arithmetic is exact (DESIGN invariant 3: no silent overflow) ------------

@pytest.mark.parametrize("price, qty", [(2 ** 40, 2 ** 40), (4, 2 ** 62), (2 ** 31, 2 ** 33),
                                        (2 ** 62, 3)])
def test_huge_buy_cannot_wrap_past_buying_power(eng, price, qty):
    # price * qty is far beyond int64; the hold must still exceed alice's 100000 cents
    before = eng.engine.state()
    rejected(eng.buy(qty, price), R.INSUFFICIENT_BUYING_POWER)
    unchanged(before, eng.engine.state())


def test_huge_order_cannot_wrap_past_max_notional(make_engine):
    eng = make_engine({"AAA": dict(max_notional="1000")})
    rejected(eng.sell(2 ** 40, 2 ** 40, account=BOB), R.NOTIONAL_ABOVE_MAX)   # bob may short


def test_huge_replace_cannot_wrap_past_buying_power(eng):
    oid = accepted(eng.buy(1, 100))
    cancel_rejected(eng.replace(oid, qty=2 ** 40, price=2 ** 40), R.INSUFFICIENT_BUYING_POWER)
    assert eng.engine.order(oid)["qty"] == 1


def test_huge_reference_gives_a_market_buy_no_free_protection(make_engine):
    eng = make_engine({"AAA": dict(band_pct="10")})
    eng.reference(AAA, 2 ** 62)                 # protection 1.1 * 2**62 is beyond int64
    rejected(eng.buy(1), R.INSUFFICIENT_BUYING_POWER)

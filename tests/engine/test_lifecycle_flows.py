"""Order lifecycles through the engine: time in force, stops, OCO/OTO, cancel, replace, mass cancel,
status and self-trade prevention.  Every expected event was derived by hand from ext/engine.pyi.

brief(e) = (kind, order_id, state, leaves, cum_qty, avg_px, reason); trade(e) = (order_id,
other_order_id, last_px, last_qty, leaves, cum_qty, avg_px, fee, liquidity, state).
"""
import pytest

from engine_helpers import (AAA, ALICE, BBB, BOB, BUY, CAROL, S0, S1, SELL, accepted, briefs,
                            cancel_rejected, only, trade)
from ordex.core.commands import ADMIN_SESSION, CommandKind, Flag, OrdType, Scope, Stp, Tif
from ordex.core.events import EventKind as K
from ordex.core.events import Liquidity as L
from ordex.core.lifecycle import OrderState as St
from ordex.core.reasons import Reason as R

SECOND = 1_000_000_000
TAKER, MAKER = L.TAKER, L.MAKER
STOP, STOP_LIMIT = OrdType.STOP, OrdType.STOP_LIMIT
NEW, PF, FILLED = St.NEW, St.PARTIALLY_FILLED, St.FILLED
CXL, EXP, PT = St.CANCELLED, St.EXPIRED, St.PENDING_TRIGGER


def usd(eng, account):
    return eng.engine.account(account)["cash"].get("USD", (0, 0))


# ---- time in force ---------------------------------------------------------------------------

def test_day_orders_expire_at_close_live_or_pending(eng):
    accepted(eng.buy(10, 100, tif=Tif.DAY))                                    # 1
    events = eng.sell(4, 100, account=BOB)                                     # 2 trades 4 of 1
    assert briefs(events) == [("NEW", 2, NEW, 4, 0, 0, 0),
                              ("TRADE", 2, FILLED, 0, 4, 100, 0),
                              ("TRADE", 1, PF, 6, 4, 100, 0)]
    accepted(eng.buy(5, 99, tif=Tif.GTC))                                      # 3
    accepted(eng.new(SELL, 2, ord_type=STOP, stop_price=90, tif=Tif.DAY, account=BOB))   # 4
    accepted(eng.buy(1, 98, tif=Tif.DAY, instrument=BBB))                      # 5, other instrument
    events = eng.status(AAA, 2)
    assert briefs(events) == [("STATUS_CHANGED", 0, 0, 0, 0, 0, 0),       # first, then what it expires
                              ("EXPIRED", 1, EXP, 0, 4, 100, R.SESSION_CLOSE),
                              ("EXPIRED", 4, EXP, 0, 0, 0, R.SESSION_CLOSE)]
    assert (events[0].instrument, events[0].qty, events[0].last_qty) == (AAA, 2, 0)
    assert [o[0] for o in eng.engine.state()[2]] == [3, 5]
    # alice paid 400 for the fill; only order 3's 5 * 99 is still held in USD
    assert usd(eng, ALICE) == (100000 - 400 - 495, 495)
    reopened = only(eng.status(AAA, 0), K.STATUS_CHANGED)                      # reopening: no expiries
    assert (reopened.instrument, reopened.qty, reopened.last_qty) == (AAA, 0, 2)


def test_gtd_expires_by_timer_in_expiry_then_id_order(eng):
    t = eng.ts_ns
    accepted(eng.buy(1, 100, tif=Tif.GTD, expire_ts_ns=t + 10))                # 1
    accepted(eng.buy(1, 101, tif=Tif.GTD, expire_ts_ns=t + 5))                 # 2
    accepted(eng.new(BUY, 1, 100, ord_type=STOP_LIMIT, stop_price=120, tif=Tif.GTD,
                     expire_ts_ns=t + 5))                                      # 3, pending
    accepted(eng.buy(1, 99))                                                   # 4, GTC
    assert eng.timer(t + 4) == []
    events = eng.timer(t + 10)                                                 # expiry <= ts_ns
    assert briefs(events) == [("EXPIRED", 2, EXP, 0, 0, 0, R.GTD_EXPIRED),
                              ("EXPIRED", 3, EXP, 0, 0, 0, R.GTD_EXPIRED),
                              ("EXPIRED", 1, EXP, 0, 0, 0, R.GTD_EXPIRED)]
    assert [o[0] for o in eng.engine.state()[2]] == [4]
    assert usd(eng, ALICE) == (100000 - 99, 99)


def test_ioc_remainder_is_cancelled(eng):
    accepted(eng.sell(3, 100, account=BOB))                                    # 1
    events = eng.buy(5, 100, tif=Tif.IOC)                                      # 2
    assert briefs(events) == [("NEW", 2, NEW, 5, 0, 0, 0),
                              ("TRADE", 2, PF, 2, 3, 100, 0),
                              ("TRADE", 1, FILLED, 0, 3, 100, 0),
                              ("CANCELLED", 2, CXL, 0, 3, 100, R.IOC_REMAINDER)]
    assert trade(events[1]) == (2, 1, 100, 3, 2, 3, 100, 0, TAKER, PF)
    assert trade(events[2]) == (1, 2, 100, 3, 0, 3, 100, 0, MAKER, FILLED)
    assert usd(eng, ALICE) == (100000 - 300, 0)
    assert eng.engine.state()[2] == ()


def test_fok_all_or_nothing(eng):
    accepted(eng.sell(3, 100, account=BOB))                                    # 1
    assert briefs(eng.buy(5, 100, tif=Tif.FOK)) == [
        ("NEW", 2, NEW, 5, 0, 0, 0), ("CANCELLED", 2, CXL, 0, 0, 0, R.FOK_UNFILLABLE)]
    assert usd(eng, ALICE) == (100000, 0)
    assert briefs(eng.buy(3, 100, tif=Tif.FOK)) == [
        ("NEW", 3, NEW, 3, 0, 0, 0), ("TRADE", 3, FILLED, 0, 3, 100, 0),
        ("TRADE", 1, FILLED, 0, 3, 100, 0)]


def test_gtc_and_day_rest(eng):
    for tif in (Tif.GTC, Tif.DAY):
        events = eng.buy(1, 100, tif=tif)
        assert briefs(events) == [("NEW", events[0].order_id, NEW, 1, 0, 0, 0)]
        assert events[0].tif == tif
    assert eng.engine.state()[3][AAA][0] == ((100, 2, 2),)


# ---- stops -----------------------------------------------------------------------------------

def test_stop_cascade_triggers_lowest_id_first(make_engine):
    eng = make_engine({"AAA": dict(band_pct="10")})
    accepted(eng.sell(1, 102, account=BOB))                                    # 1
    accepted(eng.sell(5, 105, account=BOB))                                    # 2
    accepted(eng.sell(3, 110, account=BOB))                                    # 3
    # buy stops hold at floor_to_tick(stop * 11000 // 10000): 112, 115, 111
    events = eng.new(BUY, 5, ord_type=STOP, stop_price=102)                    # 4
    assert briefs(events) == [("PENDING_TRIGGER", 4, PT, 5, 0, 0, 0)]
    accepted(eng.new(BUY, 3, ord_type=STOP, stop_price=105, account=BOB))      # 5
    accepted(eng.new(BUY, 1, ord_type=STOP, stop_price=101))                   # 6
    assert usd(eng, ALICE) == (100000 - 560 - 111, 560 + 111)
    events = eng.buy(1, 102, account=CAROL, session=S1)                        # 7: trade at 102
    assert briefs(events) == [
        ("NEW", 7, NEW, 1, 0, 0, 0),
        ("TRADE", 7, FILLED, 0, 1, 102, 0),
        ("TRADE", 1, FILLED, 0, 1, 102, 0),
        # 4 (stop 102) and 6 (stop 101) both hold; 4 has the lower id.  Protection 112 >= 105.
        ("TRIGGERED", 4, NEW, 5, 0, 0, 0),
        ("TRADE", 4, FILLED, 0, 5, 105, 0),
        ("TRADE", 2, FILLED, 0, 5, 105, 0),
        # last 105 now triggers 5 (stop 105): protection 115 >= 110
        ("TRIGGERED", 5, NEW, 3, 0, 0, 0),
        ("TRADE", 5, FILLED, 0, 3, 110, 0),
        ("TRADE", 3, FILLED, 0, 3, 110, 0),
        # 6 last: nothing left to buy within its protection 111
        ("TRIGGERED", 6, NEW, 1, 0, 0, 0),
        ("CANCELLED", 6, CXL, 0, 0, 0, R.IOC_REMAINDER),
    ]
    assert all(e.seq == events[0].seq and e.ts_ns == events[0].ts_ns for e in events)
    assert [e.exec_id for e in events] == list(range(events[0].exec_id, events[0].exec_id + 11))
    assert usd(eng, ALICE) == (100000 - 525, 0)
    assert eng.engine.state()[6][AAA][1] == 110                                 # last_px


def test_sell_stop_market_protection_is_below_the_stop(make_engine):
    eng = make_engine({"AAA": dict(band_pct="10")})
    accepted(eng.buy(1, 100, account=BOB))                                     # 1
    accepted(eng.buy(2, 91, account=BOB))                                      # 2
    accepted(eng.buy(2, 90, account=BOB))                                      # 3
    # sell stop at 100: protection ceil_to_tick(100 * 9000 / 10000) = 90
    accepted(eng.new(SELL, 5, ord_type=STOP, stop_price=100))                  # 4
    events = eng.sell(1, 100, account=BOB)                                     # 5: trade at 100
    assert briefs(events)[3:] == [
        ("TRIGGERED", 4, NEW, 5, 0, 0, 0),
        ("TRADE", 4, PF, 3, 2, 91, 0), ("TRADE", 2, FILLED, 0, 2, 91, 0),
        ("TRADE", 4, PF, 1, 4, 90, 0), ("TRADE", 3, FILLED, 0, 2, 90, 0),
        ("CANCELLED", 4, CXL, 0, 4, 90, R.IOC_REMAINDER)]
    assert eng.engine.account(ALICE)["positions"][AAA] == (96, 0, 0, 362)


def test_stop_limit_rests_after_trigger(eng):
    accepted(eng.buy(1, 99, account=BOB))                                      # 1
    accepted(eng.buy(5, 97, account=BOB))                                      # 2
    accepted(eng.new(SELL, 2, 98, ord_type=STOP_LIMIT, stop_price=99))         # 3
    assert eng.engine.account(ALICE)["positions"][AAA] == (100, 2, 0, 0)
    events = eng.sell(1, 99, account=BOB)                                      # 4: trade at 99
    assert briefs(events) == [("NEW", 4, NEW, 1, 0, 0, 0), ("TRADE", 4, FILLED, 0, 1, 99, 0),
                              ("TRADE", 1, FILLED, 0, 1, 99, 0), ("TRIGGERED", 3, NEW, 2, 0, 0, 0)]
    assert events[3].ord_type == STOP_LIMIT and events[3].price == 98 and events[3].stop_price == 99
    assert eng.engine.state()[3][AAA][1] == ((98, 2, 1),)


def test_stop_entered_through_its_trigger_fires_in_the_same_command(eng):
    eng.sell(1, 100, account=BOB)
    eng.buy(1, 100, account=BOB)                                               # last 100
    events = eng.new(BUY, 1, ord_type=STOP, stop_price=99)                     # 3
    assert briefs(events) == [("PENDING_TRIGGER", 3, PT, 1, 0, 0, 0), ("TRIGGERED", 3, NEW, 1, 0, 0, 0),
                              ("CANCELLED", 3, CXL, 0, 0, 0, R.IOC_REMAINDER)]


def test_no_stop_triggers_without_a_trade(eng):
    eng.reference(AAA, 50)                                                     # references do not trigger
    assert briefs(eng.new(SELL, 1, ord_type=STOP, stop_price=60)) == [("PENDING_TRIGGER", 1, PT, 1, 0, 0, 0)]


# ---- OCO / OTO -------------------------------------------------------------------------------

def test_oco_fill_of_one_leg_cancels_the_other(eng):
    accepted(eng.sell(5, 110))                                                 # 1: take profit
    accepted(eng.new(SELL, 5, ord_type=STOP, stop_price=90, flags=Flag.OCO, link=1))   # 2: stop loss
    events = eng.buy(2, 110, account=BOB)                                      # 3
    assert briefs(events) == [("NEW", 3, NEW, 2, 0, 0, 0),
                              ("TRADE", 3, FILLED, 0, 2, 110, 0),
                              ("TRADE", 1, PF, 3, 2, 110, 0),
                              ("CANCELLED", 2, CXL, 0, 0, 0, R.OCO_SIBLING)]
    assert eng.engine.account(ALICE)["positions"][AAA] == (98, 3, 0, 220)
    assert briefs(eng.buy(3, 110, account=BOB))[-1] == ("TRADE", 1, FILLED, 0, 5, 110, 0)   # no more


def test_oco_cancel_of_one_leg_cancels_the_other(eng):
    accepted(eng.sell(5, 110))
    accepted(eng.new(SELL, 5, ord_type=STOP, stop_price=90, flags=Flag.OCO, link=1))
    assert briefs(eng.cancel(2)) == [("CANCELLED", 2, CXL, 0, 0, 0, R.USER_CANCEL),
                                     ("CANCELLED", 1, CXL, 0, 0, 0, R.OCO_SIBLING)]
    assert eng.engine.account(ALICE)["positions"][AAA] == (100, 0, 0, 0)


def test_oco_triggered_stop_leg_cancels_the_limit_leg_when_it_trades(make_engine):
    eng = make_engine({"AAA": dict(band_pct="10")})
    accepted(eng.buy(3, 95, account=BOB))                                      # 1
    accepted(eng.sell(5, 110))                                                 # 2
    accepted(eng.new(SELL, 5, ord_type=STOP, stop_price=96, flags=Flag.OCO, link=2))   # 3
    accepted(eng.buy(1, 96, account=BOB))                                      # 4
    events = eng.sell(1, 96, account=BOB)                                      # 5: trade at 96
    assert briefs(events) == [
        ("NEW", 5, NEW, 1, 0, 0, 0), ("TRADE", 5, FILLED, 0, 1, 96, 0), ("TRADE", 4, FILLED, 0, 1, 96, 0),
        ("TRIGGERED", 3, NEW, 5, 0, 0, 0),                     # triggering is no trade: 2 lives on
        ("TRADE", 3, PF, 2, 3, 95, 0), ("TRADE", 1, FILLED, 0, 3, 95, 0),
        ("CANCELLED", 3, CXL, 0, 3, 95, R.IOC_REMAINDER),       # protection ceil(96 * 0.9) = 87
        ("CANCELLED", 2, CXL, 0, 0, 0, R.OCO_SIBLING)]          # follow-ups after the book op


def test_oco_leg_rejected_at_entry_leaves_the_target_alone(eng):
    accepted(eng.sell(5, 110))                                                 # 1
    accepted(eng.buy(1, 100, account=BOB))                                     # 2
    events = eng.sell(1, 100, flags=Flag.OCO | Flag.POST_ONLY, link=1)         # 3: would take
    assert briefs(events) == [("REJECTED", 3, St.REJECTED, 0, 0, 0, R.POST_ONLY_WOULD_TAKE)]
    assert eng.engine.order(1) is not None
    accepted(eng.sell(1, 111, flags=Flag.OCO, link=1))                         # 1 is still free


def test_link_target_already_linked_is_refused(eng):
    accepted(eng.buy(1, 90))                                                   # 1
    accepted(eng.buy(1, 91, flags=Flag.OCO, link=1))                           # 2: 1 and 2 are siblings
    accepted(eng.buy(1, 80))                                                   # 3
    accepted(eng.sell(1, 120, flags=Flag.OTO, link=3))                         # 4: child of 3
    # siblings take no further link; a parent takes no second child or sibling; a child takes
    # no sibling (but may itself be a parent: chains are allowed)
    for link, flag in [(1, Flag.OCO), (1, Flag.OTO), (2, Flag.OCO), (2, Flag.OTO),
                       (3, Flag.OCO), (3, Flag.OTO), (4, Flag.OCO)]:
        events = eng.sell(1, 130, flags=flag, link=link)
        assert (events[0].kind, events[0].reason) == (K.REJECTED, R.INVALID_ORDER_TYPE), (link, flag)
    assert briefs(eng.sell(1, 130, flags=Flag.OTO, link=4))[0][0] == "PENDING_TRIGGER"


def test_oco_link_checks_come_in_contract_order(eng):
    # step 10 lists "link not a live order of the same account -> UNKNOWN_ORDER" before "both
    # flags -> INVALID_ORDER_TYPE"; first failure wins
    events = eng.sell(1, 130, flags=Flag.OCO | Flag.OTO, link=99)
    assert (events[0].kind, events[0].reason) == (K.REJECTED, R.UNKNOWN_ORDER)


def test_oto_child_must_be_a_limit_order(eng):
    accepted(eng.buy(1, 90))
    for ord_type, price, stop in ((OrdType.MARKET, 0, 0), (STOP, 0, 100), (STOP_LIMIT, 100, 100)):
        events = eng.new(SELL, 1, price, ord_type=ord_type, stop_price=stop, flags=Flag.OTO, link=1)
        assert events[0].reason == R.INVALID_ORDER_TYPE


def test_oto_child_released_when_parent_fills(eng):
    accepted(eng.buy(5, 100))                                                  # 1: parent
    events = eng.sell(5, 110, flags=Flag.OTO, link=1)                          # 2: child
    assert briefs(events) == [("PENDING_TRIGGER", 2, PT, 5, 0, 0, 0)]
    assert eng.engine.state()[3][AAA] == (((100, 5, 1),), ())                   # child not in the book
    assert briefs(eng.sell(2, 100, account=BOB))[-1] == ("TRADE", 1, PF, 3, 2, 100, 0)   # partial: waits
    events = eng.sell(3, 100, account=BOB)                                     # 4
    assert briefs(events) == [("NEW", 4, NEW, 3, 0, 0, 0), ("TRADE", 4, FILLED, 0, 3, 100, 0),
                              ("TRADE", 1, FILLED, 0, 5, 100, 0), ("TRIGGERED", 2, NEW, 5, 0, 0, 0)]
    assert eng.engine.state()[3][AAA] == ((), ((110, 5, 1),))


def test_oto_child_that_crosses_trades_on_release(eng):
    accepted(eng.sell(2, 105, account=BOB))                                    # 1
    accepted(eng.sell(5, 100))                                                 # 2: parent (alice)
    accepted(eng.buy(2, 105, flags=Flag.OTO, link=2))                          # 3: child buys 105
    events = eng.buy(5, 100, account=BOB)                                      # 4 fills the parent
    assert briefs(events)[3:] == [("TRIGGERED", 3, NEW, 2, 0, 0, 0),
                                  ("TRADE", 3, FILLED, 0, 2, 105, 0), ("TRADE", 1, FILLED, 0, 2, 105, 0)]


def test_oto_child_cancelled_when_parent_ends_otherwise(eng):
    accepted(eng.buy(5, 100))                                                  # 1
    accepted(eng.sell(5, 110, flags=Flag.OTO, link=1))                         # 2
    eng.sell(2, 100, account=BOB)                                              # partial fill of 1
    assert briefs(eng.cancel(1)) == [("CANCELLED", 1, CXL, 0, 2, 100, R.USER_CANCEL),
                                     ("CANCELLED", 2, CXL, 0, 0, 0, R.OTO_PARENT_ENDED)]
    assert eng.engine.account(ALICE)["positions"][AAA] == (102, 0, 200, 0)


def test_oto_child_cancelled_alone_frees_the_parent(eng):
    accepted(eng.buy(5, 100))                                                  # 1
    accepted(eng.sell(5, 110, flags=Flag.OTO, link=1))                         # 2
    assert briefs(eng.cancel(2)) == [("CANCELLED", 2, CXL, 0, 0, 0, R.USER_CANCEL)]
    accepted(eng.sell(5, 111, flags=Flag.OTO, link=1))                         # 3: 1 may take a new child
    assert briefs(eng.sell(5, 100, account=BOB))[-1] == ("TRIGGERED", 3, NEW, 5, 0, 0, 0)


def test_oco_stop_leg_that_ends_without_trading_cancels_the_other(eng):
    accepted(eng.sell(5, 110))                                                 # 1
    accepted(eng.new(SELL, 5, ord_type=STOP, stop_price=96, flags=Flag.OCO, link=1))   # 2
    accepted(eng.buy(1, 96, account=BOB))                                      # 3
    events = eng.sell(1, 96, account=BOB)                                      # 4: trade at 96
    assert briefs(events) == [
        ("NEW", 4, NEW, 1, 0, 0, 0), ("TRADE", 4, FILLED, 0, 1, 96, 0), ("TRADE", 3, FILLED, 0, 1, 96, 0),
        ("TRIGGERED", 2, NEW, 5, 0, 0, 0),
        ("CANCELLED", 2, CXL, 0, 0, 0, R.IOC_REMAINDER),       # no bid left within 96
        ("CANCELLED", 1, CXL, 0, 0, 0, R.OCO_SIBLING)]
    assert eng.engine.account(ALICE)["positions"][AAA] == (100, 0, 0, 0)


def test_oto_chain_releases_one_generation_at_a_time(eng):
    accepted(eng.buy(1, 100))                                                  # 1
    accepted(eng.sell(1, 110, flags=Flag.OTO, link=1))                         # 2: child of 1
    accepted(eng.buy(1, 90, flags=Flag.OTO, link=2))                           # 3: child of 2
    assert briefs(eng.sell(1, 100, account=BOB)) == [
        ("NEW", 4, NEW, 1, 0, 0, 0), ("TRADE", 4, FILLED, 0, 1, 100, 0),
        ("TRADE", 1, FILLED, 0, 1, 100, 0), ("TRIGGERED", 2, NEW, 1, 0, 0, 0)]
    assert eng.engine.order(3)["state"] == PT
    assert briefs(eng.buy(1, 110, account=BOB)) == [
        ("NEW", 5, NEW, 1, 0, 0, 0), ("TRADE", 5, FILLED, 0, 1, 110, 0),
        ("TRADE", 2, FILLED, 0, 1, 110, 0), ("TRIGGERED", 3, NEW, 1, 0, 0, 0)]
    assert eng.engine.state()[3][AAA] == (((90, 1, 1),), ())


def test_mass_cancel_runs_follow_ups_after_its_report(eng):
    accepted(eng.sell(5, 110))                                                 # 1 (AAA)
    accepted(eng.buy(1, 90, instrument=BBB, flags=Flag.OCO, link=1))           # 2 (BBB), OCO with 1
    events = eng.send(CommandKind.MASS_CANCEL, session=S0, scope=Scope.INSTRUMENT, instrument=AAA,
                      account=-1, clordid="m")
    assert briefs(events) == [("CANCELLED", 1, CXL, 0, 0, 0, R.MASS_CANCEL),
                              ("MASS_CANCEL_DONE", 0, 0, 0, 0, 0, 0),
                              ("CANCELLED", 2, CXL, 0, 0, 0, R.OCO_SIBLING)]
    assert events[1].qty == 1


def test_mass_cancel_of_both_legs_reports_both(eng):
    accepted(eng.sell(5, 110))
    accepted(eng.new(SELL, 5, ord_type=STOP, stop_price=90, flags=Flag.OCO, link=1))
    events = eng.send(CommandKind.MASS_CANCEL, session=S0, scope=Scope.ACCOUNT, account=ALICE,
                      instrument=-1)
    assert briefs(events) == [("CANCELLED", 1, CXL, 0, 0, 0, R.MASS_CANCEL),
                              ("CANCELLED", 2, CXL, 0, 0, 0, R.MASS_CANCEL),
                              ("MASS_CANCEL_DONE", 0, 0, 0, 0, 0, 0)]
    assert events[2].qty == 2


def test_session_kill_switch_cancels_children_entered_elsewhere(eng):
    accepted(eng.buy(1, 100, account=BOB, session=S0))                         # 1: parent via S0
    accepted(eng.sell(1, 110, account=BOB, session=S1, flags=Flag.OTO, link=1))   # 2: child via S1
    events = eng.kill(Scope.SESSION, True, session=S0)
    assert briefs(events) == [("CANCELLED", 1, CXL, 0, 0, 0, R.KILL_SWITCH_CANCEL),
                              ("CANCELLED", 2, CXL, 0, 0, 0, R.OTO_PARENT_ENDED)]


# ---- cancel ----------------------------------------------------------------------------------

def test_cancel_by_id_and_by_clordid(eng):
    accepted(eng.buy(5, 100, clordid="a1"))
    accepted(eng.buy(5, 99, clordid="a2"))
    assert briefs(eng.cancel(1)) == [("CANCELLED", 1, CXL, 0, 0, 0, R.USER_CANCEL)]
    events = eng.cancel(orig_clordid="a2", clordid="x2")
    assert briefs(events) == [("CANCELLED", 2, CXL, 0, 0, 0, R.USER_CANCEL)]
    # the cancel's clordid becomes the order's, the previous one is reported as orig_clordid
    assert (events[0].clordid, events[0].orig_clordid) == (b"x2", b"a2")
    cancel_rejected(eng.cancel(orig_clordid="x2"), R.ORDER_DONE)        # x2 names order 2 now
    assert usd(eng, ALICE) == (100000, 0)


def test_cancel_rejects(eng):
    accepted(eng.buy(5, 100, clordid="a1"))                                    # 1
    accepted(eng.buy(5, 100, account=CAROL, session=S1, clordid="c1"))        # 2: not S0's account
    e = cancel_rejected(eng.cancel(2, clordid="k1"), R.UNKNOWN_ORDER)
    assert (e.order_id, e.session, e.clordid, e.orig_clordid) == (0, S0, b"k1", b"")
    cancel_rejected(eng.cancel(orig_clordid="c1"), R.UNKNOWN_ORDER)           # S0 never used c1
    cancel_rejected(eng.cancel(99), R.UNKNOWN_ORDER)
    eng.cancel(1)
    e = cancel_rejected(eng.cancel(orig_clordid="a1", clordid="k2"), R.ORDER_DONE)
    # a finished target: its id, the command's fields, state REJECTED
    assert (e.order_id, e.orig_clordid, e.clordid, e.state, e.qty) == (1, b"a1", b"k2", St.REJECTED, 0)
    cancel_rejected(eng.cancel(1), R.UNKNOWN_ORDER)          # by id, a done order is gone
    assert briefs(eng.cancel(2, session=ADMIN_SESSION)) == [("CANCELLED", 2, CXL, 0, 0, 0, R.USER_CANCEL)]


def test_cancel_with_a_used_clordid_is_a_duplicate(eng):
    accepted(eng.buy(5, 100, clordid="a1"))
    eng.cancel(1, clordid="k1")
    accepted(eng.buy(5, 100, clordid="a2"))                                    # 2
    e = cancel_rejected(eng.cancel(2, clordid="k1"), R.DUPLICATE_CLORDID)      # k1 already used
    assert (e.order_id, e.reason) == (0, R.DUPLICATE_CLORDID)
    assert eng.engine.order(2) is not None


def test_cancel_pending_stop_and_partially_filled(eng):
    accepted(eng.new(BUY, 5, ord_type=STOP, stop_price=120))                  # 1, holds 600
    assert usd(eng, ALICE) == (100000 - 600, 600)
    assert briefs(eng.cancel(1)) == [("CANCELLED", 1, CXL, 0, 0, 0, R.USER_CANCEL)]
    accepted(eng.buy(5, 100))                                                  # 2
    eng.sell(3, 100, account=BOB)
    assert briefs(eng.cancel(2)) == [("CANCELLED", 2, CXL, 0, 3, 100, R.USER_CANCEL)]
    assert usd(eng, ALICE) == (100000 - 300, 0)


# ---- cancel / replace ------------------------------------------------------------------------

def test_replace_qty_down_keeps_priority(eng):
    accepted(eng.buy(10, 100, clordid="a1"))                                   # 1
    accepted(eng.buy(5, 100, account=BOB))                                     # 2
    events = eng.replace(1, qty=6, price=100, clordid="a1b")
    assert briefs(events) == [("REPLACED", 1, NEW, 6, 0, 0, 0)]
    assert (events[0].qty, events[0].clordid, events[0].orig_clordid) == (6, b"a1b", b"a1")
    assert usd(eng, ALICE) == (100000 - 600, 600)
    events = eng.sell(6, 100, account=BOB)
    assert [(e.order_id, e.last_qty) for e in events if e.kind == K.TRADE] == [(3, 6), (1, 6)]


@pytest.mark.parametrize("qty, price", [(12, 100), (10, 101)])
def test_replace_qty_up_or_price_change_loses_priority(eng, qty, price):
    accepted(eng.buy(10, 100))                                                 # 1
    accepted(eng.buy(5, 100, account=BOB))                                     # 2
    assert briefs(eng.replace(1, qty=qty, price=price)) == [("REPLACED", 1, NEW, qty, 0, 0, 0)]
    if price != 100:
        eng.replace(1, qty=qty, price=100)                                     # back to 100, behind 2
    events = eng.sell(5, 100, account=BOB)                                     # STP none: bob meets 2
    assert [(e.order_id, e.last_qty) for e in events if e.kind == K.TRADE] == [(3, 5), (2, 5)]


def test_replace_partially_filled_and_qty_not_above_filled(eng):
    accepted(eng.buy(10, 100, clordid="a1"))                                   # 1
    eng.sell(4, 100, account=BOB)                                              # cum 4
    cancel_rejected(eng.replace(1, qty=4, price=100), R.QTY_NOT_ABOVE_FILLED)
    events = eng.replace(orig_clordid="a1", qty=5, price=100, clordid="a2")
    assert briefs(events) == [("REPLACED", 1, PF, 1, 4, 100, 0)]
    assert events[0].qty == 5
    assert usd(eng, ALICE) == (100000 - 400 - 100, 100)
    # both clordids keep resolving to the order
    assert briefs(eng.cancel(orig_clordid="a1")) == [("CANCELLED", 1, CXL, 0, 4, 100, R.USER_CANCEL)]
    cancel_rejected(eng.cancel(orig_clordid="a2"), R.ORDER_DONE)


def test_replace_of_done_and_unknown_orders(eng):
    accepted(eng.buy(1, 100, clordid="a1"))
    eng.sell(1, 100, account=BOB)
    e = cancel_rejected(eng.replace(orig_clordid="a1", qty=2, price=100, clordid="r1"), R.ORDER_DONE)
    assert (e.order_id, e.clordid, e.orig_clordid) == (1, b"r1", b"a1")
    cancel_rejected(eng.replace(orig_clordid="nope", qty=2, price=100), R.UNKNOWN_ORDER)
    cancel_rejected(eng.replace(77, qty=2, price=100), R.UNKNOWN_ORDER)


def test_replace_validation_and_risk(make_engine):
    eng = make_engine({"AAA": dict(max_qty="50", max_notional="20", band_pct="50")},
                      {"alice": dict(balances={"USD": "15"})})
    accepted(eng.buy(10, 100, clordid="a1"))                                   # holds 1000 of 1500
    before = eng.engine.state()
    for kw, reason in [(dict(qty=10, price=0), R.INVALID_PRICE),
                       (dict(qty=10, price=100, stop_price=5), R.INVALID_STOP_PRICE),
                       (dict(qty=51, price=10), R.QTY_ABOVE_MAX),
                       (dict(qty=20, price=101), R.NOTIONAL_ABOVE_MAX),    # 2020 > 2000
                       (dict(qty=16, price=100), R.INSUFFICIENT_BUYING_POWER)]:   # +600 > 500
        e = cancel_rejected(eng.replace(1, **kw), reason)
        assert (e.order_id, e.state, e.leaves, e.qty, e.price) == (1, NEW, 10, 10, 100)
    assert eng.engine.state()[2:-1] == before[2:-1]                           # but 5 clordids more
    assert eng.engine.state()[-1] == before[-1] + 5
    assert only(eng.replace(1, qty=15, price=100)).kind == K.REPLACED         # +500: exactly enough
    assert usd(eng, ALICE) == (0, 1500)
    eng.sell(1, 100, account=BOB)                                              # trade at 100: collar +-50
    cancel_rejected(eng.replace(1, qty=15, price=151), R.PRICE_OUTSIDE_COLLAR)
    assert only(eng.replace(1, qty=2, price=50)).kind == K.REPLACED


def test_replace_that_crosses_trades(eng):
    accepted(eng.sell(3, 105, account=BOB))                                    # 1
    accepted(eng.buy(5, 100))                                                  # 2
    events = eng.replace(2, qty=5, price=105)
    assert briefs(events) == [("REPLACED", 2, NEW, 5, 0, 0, 0),
                              ("TRADE", 2, PF, 2, 3, 105, 0), ("TRADE", 1, FILLED, 0, 3, 105, 0)]
    assert eng.engine.state()[3][AAA] == (((105, 2, 1),), ())


def test_replace_pending_stop(eng):
    accepted(eng.new(BUY, 5, ord_type=STOP, stop_price=120))                  # 1
    events = eng.replace(1, qty=4, stop_price=130)
    assert briefs(events) == [("REPLACED", 1, PT, 4, 0, 0, 0)]
    assert (events[0].stop_price, events[0].price) == (130, 0)
    assert usd(eng, ALICE) == (100000 - 520, 520)
    cancel_rejected(eng.replace(1, qty=4, price=130, stop_price=130), R.INVALID_PRICE)


def test_replace_moves_a_stop_into_its_trigger(eng):
    eng.sell(1, 100, account=BOB)
    eng.buy(1, 100, account=BOB)                                               # 2: last 100
    accepted(eng.sell(1, 100, account=BOB))                                    # 3: an ask at 100
    accepted(eng.new(BUY, 1, ord_type=STOP, stop_price=110))                   # 4: holds 110
    events = eng.replace(4, qty=1, stop_price=100)                             # hold 100; 100 >= 100
    assert briefs(events) == [("REPLACED", 4, PT, 1, 0, 0, 0), ("TRIGGERED", 4, NEW, 1, 0, 0, 0),
                              ("TRADE", 4, FILLED, 0, 1, 100, 0), ("TRADE", 3, FILLED, 0, 1, 100, 0)]
    assert usd(eng, ALICE) == (100000 - 100, 0)


def test_replace_sell_needs_the_extra_position(eng):
    accepted(eng.sell(60, 110))
    cancel_rejected(eng.replace(1, qty=101, price=110), R.INSUFFICIENT_POSITION)
    assert only(eng.replace(1, qty=100, price=110)).kind == K.REPLACED
    assert eng.engine.account(ALICE)["positions"][AAA] == (100, 100, 0, 0)


# ---- mass cancel, status ---------------------------------------------------------------------

@pytest.fixture
def spread(eng):
    """Six resting orders: (id, session, account, instrument)."""
    eng.buy(1, 100, session=S0, account=ALICE)                                 # 1
    eng.buy(1, 100, session=S0, account=BOB)                                   # 2
    eng.buy(1, 100, session=S0, account=ALICE, instrument=BBB)                 # 3
    eng.buy(1, 100, session=S1, account=BOB)                                   # 4
    eng.buy(1, 100, session=S1, account=CAROL, ts_ns=eng.ts_ns + SECOND)       # 5
    eng.new(BUY, 1, ord_type=STOP, stop_price=200, session=S0, account=BOB)    # 6 (pending)
    assert len(eng.engine.state()[2]) == 6
    return eng


def mass(eng, scope, session=S0, account=-1, instrument=-1):
    events = eng.send(CommandKind.MASS_CANCEL, session=session, scope=scope, account=account,
                      instrument=instrument, clordid="m")
    assert events[-1].kind == K.MASS_CANCEL_DONE and events[-1].qty == len(events) - 1
    assert all(e.kind == K.CANCELLED and e.reason == R.MASS_CANCEL for e in events[:-1])
    assert (events[-1].session, events[-1].clordid) == (session, b"m")
    return [e.order_id for e in events[:-1]]


def test_mass_cancel_by_session(spread):
    assert mass(spread, Scope.SESSION, session=S1) == [4, 5]
    assert mass(spread, Scope.SESSION, session=S0, instrument=AAA) == [1, 2, 6]


def test_mass_cancel_by_account(spread):
    assert mass(spread, Scope.ACCOUNT, session=S1, account=ALICE) == []        # S1 may not trade alice
    assert mass(spread, Scope.ACCOUNT, session=S0, account=BOB) == [2, 4, 6]   # entered by any session
    assert mass(spread, Scope.ACCOUNT, session=S0, account=ALICE, instrument=BBB) == [3]


def test_mass_cancel_by_instrument_and_all(spread):
    assert mass(spread, Scope.INSTRUMENT, session=S1, instrument=AAA) == [2, 4, 5, 6]
    assert mass(spread, Scope.ALL, session=ADMIN_SESSION) == [1, 3]


def test_status_request(eng):
    accepted(eng.buy(5, 100, clordid="a1"))
    eng.sell(2, 101, account=BOB)
    eng.sell(2, 100, account=BOB)
    e = only(eng.send(CommandKind.STATUS_REQUEST, session=S0, orig_clordid="a1"), K.ORDER_STATUS)
    assert (e.order_id, e.state, e.leaves, e.cum_qty, e.avg_px, e.qty, e.clordid) == (
        1, PF, 3, 2, 100, 5, b"a1")
    only(eng.send(CommandKind.STATUS_REQUEST, session=S0, order_id=1), K.ORDER_STATUS)
    cancel_rejected(eng.send(CommandKind.STATUS_REQUEST, session=S1, order_id=1), R.UNKNOWN_ORDER)
    eng.cancel(1)
    cancel_rejected(eng.send(CommandKind.STATUS_REQUEST, session=S0, orig_clordid="a1"), R.ORDER_DONE)


# ---- self-trade prevention -------------------------------------------------------------------

def test_stp_cancel_incoming_and_resting(eng):
    accepted(eng.sell(5, 100))                                                 # 1
    assert briefs(eng.buy(3, 100, stp=Stp.CANCEL_INCOMING)) == [
        ("NEW", 2, NEW, 3, 0, 0, 0), ("CANCELLED", 2, CXL, 0, 0, 0, R.SELF_TRADE)]
    assert briefs(eng.buy(3, 100, stp=Stp.CANCEL_RESTING)) == [
        ("NEW", 3, NEW, 3, 0, 0, 0), ("CANCELLED", 1, CXL, 0, 0, 0, R.SELF_TRADE)]
    assert eng.engine.state()[3][AAA] == (((100, 3, 1),), ())
    assert eng.engine.account(ALICE)["positions"][AAA] == (100, 0, 0, 0)
    events = eng.sell(3, 100, account=BOB, stp=Stp.CANCEL_BOTH)               # other account: trades
    assert [e.kind for e in events] == [K.NEW, K.TRADE, K.TRADE]


def test_stp_decrement_restates(eng):
    accepted(eng.sell(5, 100))                                                 # 1, holds 5
    events = eng.buy(3, 100, stp=Stp.DECREMENT_AND_CANCEL)                     # 2
    assert briefs(events) == [("NEW", 2, NEW, 3, 0, 0, 0),
                              ("RESTATED", 1, NEW, 2, 0, 0, R.SELF_TRADE),
                              ("CANCELLED", 2, CXL, 0, 0, 0, R.SELF_TRADE)]
    assert (events[1].qty, events[1].last_qty) == (2, 3)
    assert eng.engine.account(ALICE)["positions"][AAA] == (100, 2, 0, 0)
    assert usd(eng, ALICE) == (100000, 0)
    events = eng.buy(5, 100, stp=Stp.DECREMENT_AND_CANCEL)                     # 3: taker restated
    assert briefs(events) == [("NEW", 3, NEW, 5, 0, 0, 0),
                              ("CANCELLED", 1, CXL, 0, 0, 0, R.SELF_TRADE),
                              ("RESTATED", 3, NEW, 3, 0, 0, R.SELF_TRADE)]
    assert (events[2].qty, events[2].last_qty) == (3, 2)
    assert usd(eng, ALICE) == (100000 - 300, 300)                               # hold for 3 left


def test_cancel_reject_answers_the_requesting_session(eng):
    """S1 may trade bob, so it may try to change bob's order that S0 entered; the reject must go
    back to S1 (who asked), not to S0 (whose order it is)."""
    oid = accepted(eng.sell(5, 110, account=BOB))                               # entered by S0
    (ev,) = eng.replace(oid, qty=5, price=110, session=S1, stop_price=7)         # bad stop price
    assert (ev.kind, ev.session, ev.order_id, ev.reason) == (
        K.CANCEL_REJECTED, S1, oid, R.INVALID_STOP_PRICE)

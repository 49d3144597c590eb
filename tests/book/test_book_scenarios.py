"""Hand-derived scenarios from the contract in ext/book.pyi, run on the reference and compiled books.

Every expected event below was worked out from the contract text, not copied from a run.  Event
tuples: (order_id, other_id, price, qty, leaves, other_leaves, instrument, kind, side, reason).
"""
import numpy as np
import pytest

from ordex.core.refbook import COMMAND_DTYPE, EVENT_DTYPE, FLAG_POST_ONLY
from ordex.core.refbook import CancelReason as R
from ordex.core.refbook import EventKind as K
from ordex.core.refbook import Op
from ordex.core.refbook import Result as X
from ordex.core.refbook import Stp
from ordex.core.refbook import TimeInForce as T

BUY, SELL = 1, 2
PLAIN, COARSE = 1, 2      # see conftest.py: PLAIN tick 1 lot 1, COARSE tick 5 lot 10
A, B, C = 7, 8, 9         # owners


def rested(oid, price, shown, leaves, side, inst=PLAIN):
    return (oid, 0, price, shown, leaves, 0, inst, K.RESTED, side, 0)


def fill(taker, maker, price, qty, leaves, other_leaves, side, inst=PLAIN):
    return (taker, maker, price, qty, leaves, other_leaves, inst, K.FILL, side, 0)


def cancelled(oid, price, qty, side, reason, inst=PLAIN):
    return (oid, 0, price, qty, 0, 0, inst, K.CANCELLED, side, reason)


def reduced(oid, price, by, leaves, side, reason, inst=PLAIN):
    return (oid, 0, price, by, leaves, 0, inst, K.REDUCED, side, reason)


def replaced(oid, price, qty, side, inst=PLAIN):
    return (oid, 0, price, qty, qty, 0, inst, K.REPLACED, side, 0)


def replenished(oid, price, shown, leaves, side, inst=PLAIN):
    return (oid, 0, price, shown, leaves, 0, inst, K.REPLENISHED, side, 0)


def rejected(oid, price, qty, side, result, inst=PLAIN):
    return (oid, 0, price, qty, 0, 0, inst, K.REJECTED, side, result)


def snapshot(book, ids=range(-2, 40)):
    """Everything observable about the book's state, to show that a rejection changed nothing."""
    return (
        book.order_count,
        [(book.best_bid(i), book.best_ask(i), book.depth(i, BUY, 100), book.depth(i, SELL, 100))
         for i in (PLAIN, COARSE)],
        {oid: book.order(oid) for oid in ids},
    )


def seed(book, *orders):
    """Rest plain GTC orders (order_id, side, price, qty[, owner]) and drop their events."""
    for oid, side, price, qty, *owner in orders:
        assert book.limit(PLAIN, oid, side, price, qty, owner=owner[0] if owner else 0) == X.OK
    book.clear_events()


# ---- limit orders: resting, fills, sweeps, priority -----------------------------------------

def test_gtc_limit_rests_at_its_level(book):
    assert book.limit(PLAIN, 1, BUY, 100, 10) == X.OK
    assert book.limit(PLAIN, 2, SELL, 105, 3) == X.OK
    assert book.limit(PLAIN, 3, BUY, 100, 4) == X.OK
    assert book.take_events() == [rested(1, 100, 10, 10, BUY), rested(2, 105, 3, 3, SELL),
                                  rested(3, 100, 4, 4, BUY)]
    assert book.depth(PLAIN, BUY) == [(100, 14, 2)]
    assert book.depth(PLAIN, SELL) == [(105, 3, 1)]
    assert (book.best_bid(PLAIN), book.best_ask(PLAIN)) == (100, 105)
    assert (book.best_bid(COARSE), book.best_ask(COARSE)) == (0, 0)
    assert book.order_count == 3
    assert book.order(3) == {"id": 3, "instrument": PLAIN, "side": BUY, "price": 100, "shown": 4,
                             "hidden": 0, "leaves": 4, "display": 0, "owner": 0, "stp": 0}
    assert book.order(99) is None
    book.validate()


def test_partial_fill_of_the_maker(book):
    seed(book, (1, SELL, 100, 10))
    assert book.limit(PLAIN, 2, BUY, 100, 4) == X.OK
    assert book.take_events() == [fill(2, 1, 100, 4, 0, 6, BUY)]
    assert book.order(2) is None
    assert book.order(1)["leaves"] == 6
    assert book.depth(PLAIN, SELL) == [(100, 6, 1)]
    book.validate()


def test_taker_trades_at_the_maker_price_and_rests_its_remainder(book):
    seed(book, (1, SELL, 100, 10))
    assert book.limit(PLAIN, 2, BUY, 103, 15) == X.OK
    assert book.take_events() == [fill(2, 1, 100, 10, 5, 0, BUY), rested(2, 103, 5, 5, BUY)]
    assert book.order(1) is None
    assert book.depth(PLAIN, SELL) == []
    assert book.depth(PLAIN, BUY) == [(103, 5, 1)]
    book.validate()


def test_sweep_exhausts_levels_in_price_then_time_order(book):
    seed(book, (1, SELL, 101, 4), (2, SELL, 100, 5), (3, SELL, 100, 3), (4, SELL, 103, 2),
         (5, SELL, 99, 1))
    assert book.limit(PLAIN, 10, BUY, 102, 14) == X.OK
    assert book.take_events() == [
        fill(10, 5, 99, 1, 13, 0, BUY),
        fill(10, 2, 100, 5, 8, 0, BUY),
        fill(10, 3, 100, 3, 5, 0, BUY),
        fill(10, 1, 101, 4, 1, 0, BUY),
        rested(10, 102, 1, 1, BUY),
    ]
    assert book.depth(PLAIN, SELL) == [(103, 2, 1)]
    assert book.depth(PLAIN, BUY) == [(102, 1, 1)]
    assert book.order_count == 2
    book.validate()


def test_sell_sweeps_bids_from_the_highest(book):
    seed(book, (1, BUY, 98, 2), (2, BUY, 100, 2), (3, BUY, 99, 2), (4, BUY, 100, 2))
    assert book.limit(PLAIN, 10, SELL, 99, 7) == X.OK
    assert book.take_events() == [
        fill(10, 2, 100, 2, 5, 0, SELL),
        fill(10, 4, 100, 2, 3, 0, SELL),
        fill(10, 3, 99, 2, 1, 0, SELL),
        rested(10, 99, 1, 1, SELL),
    ]
    assert book.depth(PLAIN, BUY) == [(98, 2, 1)]
    book.validate()


def test_depth_orders_levels_from_the_best_and_limits_to_n(book):
    seed(book, (1, BUY, 97, 1), (2, BUY, 99, 2), (3, BUY, 98, 3), (4, BUY, 99, 4),
         (5, SELL, 103, 5), (6, SELL, 101, 6), (7, SELL, 102, 7))
    assert book.depth(PLAIN, BUY) == [(99, 6, 2), (98, 3, 1), (97, 1, 1)]
    assert book.depth(PLAIN, BUY, 2) == [(99, 6, 2), (98, 3, 1)]
    assert book.depth(PLAIN, SELL, 1) == [(101, 6, 1)]
    assert book.depth(PLAIN, SELL) == [(101, 6, 1), (102, 7, 1), (103, 5, 1)]


def test_ioc_limit_cancels_its_remainder_at_its_limit(book):
    seed(book, (1, SELL, 100, 3), (2, SELL, 102, 3))
    assert book.limit(PLAIN, 10, BUY, 101, 5, tif=T.IOC) == X.OK
    assert book.take_events() == [fill(10, 1, 100, 3, 2, 0, BUY),
                                  cancelled(10, 101, 2, BUY, R.IOC_REMAINDER)]
    assert book.limit(PLAIN, 11, BUY, 99, 5, tif=T.IOC) == X.OK
    assert book.take_events() == [cancelled(11, 99, 5, BUY, R.IOC_REMAINDER)]
    assert book.limit(PLAIN, 12, BUY, 102, 3, tif=T.IOC) == X.OK
    assert book.take_events() == [fill(12, 2, 102, 3, 0, 0, BUY)]
    assert book.order_count == 0
    book.validate()


# ---- fill-or-kill -----------------------------------------------------------------------------

def test_fok_that_cannot_fill_is_killed_without_touching_the_book(book):
    seed(book, (1, SELL, 100, 3), (2, SELL, 101, 3), (3, SELL, 103, 10))
    before = snapshot(book)
    assert book.limit(PLAIN, 10, BUY, 102, 7, tif=T.FOK) == X.OK
    assert book.take_events() == [(10, 0, 102, 7, 0, 0, PLAIN, K.CANCELLED, BUY, R.FOK_UNFILLABLE)]
    assert snapshot(book) == before
    book.validate()


def test_fok_that_can_fill_trades_across_levels(book):
    seed(book, (1, SELL, 100, 3), (2, SELL, 101, 3), (3, SELL, 103, 10))
    assert book.limit(PLAIN, 10, BUY, 101, 6, tif=T.FOK) == X.OK
    assert book.take_events() == [fill(10, 1, 100, 3, 3, 0, BUY), fill(10, 2, 101, 3, 0, 0, BUY)]
    assert book.depth(PLAIN, SELL) == [(103, 10, 1)]
    book.validate()


def test_fok_counts_iceberg_reserve_when_no_blocker(book):
    assert book.limit(PLAIN, 1, SELL, 100, 8, display=2) == X.OK
    book.clear_events()
    assert book.limit(PLAIN, 10, BUY, 100, 8, tif=T.FOK) == X.OK
    assert book.take_events() == [
        fill(10, 1, 100, 2, 6, 6, BUY), replenished(1, 100, 2, 6, SELL),
        fill(10, 1, 100, 2, 4, 4, BUY), replenished(1, 100, 2, 4, SELL),
        fill(10, 1, 100, 2, 2, 2, BUY), replenished(1, 100, 2, 2, SELL),
        fill(10, 1, 100, 2, 0, 0, BUY),
    ]
    assert book.order_count == 0
    book.validate()


def test_fok_cancel_resting_skips_own_orders(book):
    seed(book, (1, SELL, 100, 5, A), (2, SELL, 100, 5, B))
    assert book.limit(PLAIN, 10, BUY, 100, 10, tif=T.FOK, owner=A,
                      stp=Stp.CANCEL_RESTING) == X.OK
    assert book.take_events() == [cancelled(10, 100, 10, BUY, R.FOK_UNFILLABLE)]
    assert book.limit(PLAIN, 11, BUY, 100, 5, tif=T.FOK, owner=A,
                      stp=Stp.CANCEL_RESTING) == X.OK
    assert book.take_events() == [cancelled(1, 100, 5, SELL, R.SELF_TRADE),
                                  fill(11, 2, 100, 5, 0, 0, BUY)]
    assert book.order_count == 0
    book.validate()


@pytest.mark.parametrize("stp", [Stp.CANCEL_INCOMING, Stp.CANCEL_BOTH, Stp.DECREMENT_AND_CANCEL])
def test_fok_walk_stops_at_a_blocker(book, stp):
    seed(book, (1, SELL, 100, 3, B), (2, SELL, 100, 5, A), (3, SELL, 100, 4, B),
         (4, SELL, 101, 9, C))
    before = snapshot(book)
    # Only order 1 is ahead of the blocker (order 2, owner A): 3 < 4.
    assert book.limit(PLAIN, 10, BUY, 101, 4, tif=T.FOK, owner=A, stp=stp) == X.OK
    assert book.take_events() == [cancelled(10, 101, 4, BUY, R.FOK_UNFILLABLE)]
    assert snapshot(book) == before
    assert book.limit(PLAIN, 11, BUY, 101, 3, tif=T.FOK, owner=A, stp=stp) == X.OK
    assert book.take_events() == [fill(11, 1, 100, 3, 0, 0, BUY)]
    assert book.order(2)["leaves"] == 5
    book.validate()


def test_fok_blocker_on_a_deeper_level_keeps_the_levels_before_it(book):
    seed(book, (1, SELL, 100, 4, B), (2, SELL, 101, 2, A), (3, SELL, 101, 9, B))
    assert book.limit(PLAIN, 10, BUY, 101, 5, tif=T.FOK, owner=A,
                      stp=Stp.CANCEL_INCOMING) == X.OK
    assert book.take_events() == [cancelled(10, 101, 5, BUY, R.FOK_UNFILLABLE)]
    assert book.limit(PLAIN, 11, BUY, 101, 4, tif=T.FOK, owner=A,
                      stp=Stp.CANCEL_INCOMING) == X.OK
    assert book.take_events() == [fill(11, 1, 100, 4, 0, 0, BUY)]
    book.validate()


def test_fok_iceberg_ahead_of_a_blocker_counts_only_its_shown_part(book):
    assert book.limit(PLAIN, 1, SELL, 100, 8, display=2, owner=B) == X.OK
    assert book.limit(PLAIN, 2, SELL, 100, 5, owner=A) == X.OK
    book.clear_events()
    # Matching would fill 2 from the iceberg, which then replenishes behind order 2 (owner A).
    assert book.limit(PLAIN, 10, BUY, 100, 3, tif=T.FOK, owner=A,
                      stp=Stp.CANCEL_INCOMING) == X.OK
    assert book.take_events() == [cancelled(10, 100, 3, BUY, R.FOK_UNFILLABLE)]
    assert book.limit(PLAIN, 11, BUY, 100, 2, tif=T.FOK, owner=A,
                      stp=Stp.CANCEL_INCOMING) == X.OK
    assert book.take_events() == [fill(11, 1, 100, 2, 0, 6, BUY), replenished(1, 100, 2, 6, SELL)]
    # The iceberg now queues behind order 2: its whole reserve is no longer ahead of the blocker.
    assert book.limit(PLAIN, 12, BUY, 100, 1, tif=T.FOK, owner=A,
                      stp=Stp.CANCEL_INCOMING) == X.OK
    assert book.take_events() == [cancelled(12, 100, 1, BUY, R.FOK_UNFILLABLE)]
    book.validate()


def test_fok_same_owner_without_stp_or_without_owner_is_no_blocker(book):
    seed(book, (1, SELL, 100, 5, A), (2, SELL, 100, 5, B))
    assert book.limit(PLAIN, 10, BUY, 100, 6, tif=T.FOK, owner=A, stp=Stp.STP_NONE) == X.OK
    assert book.take_events() == [fill(10, 1, 100, 5, 1, 0, BUY), fill(10, 2, 100, 1, 0, 4, BUY)]
    seed(book, (3, SELL, 100, 5, 0))
    assert book.limit(PLAIN, 11, BUY, 100, 6, tif=T.FOK, owner=0,
                      stp=Stp.CANCEL_INCOMING) == X.OK
    assert book.take_events() == [fill(11, 2, 100, 4, 2, 0, BUY), fill(11, 3, 100, 2, 0, 3, BUY)]
    book.validate()


# ---- market orders ----------------------------------------------------------------------------

def test_market_without_protection_sweeps_any_price(book):
    seed(book, (1, SELL, 100, 2), (2, SELL, 150, 2), (3, SELL, 900, 2))
    assert book.market(PLAIN, 10, BUY, 7) == X.OK
    assert book.take_events() == [
        fill(10, 1, 100, 2, 5, 0, BUY), fill(10, 2, 150, 2, 3, 0, BUY),
        fill(10, 3, 900, 2, 1, 0, BUY), cancelled(10, 0, 1, BUY, R.IOC_REMAINDER),
    ]
    assert book.order_count == 0
    book.validate()


def test_market_with_protection_stops_at_the_protection_price(book):
    seed(book, (1, BUY, 100, 2), (2, BUY, 95, 2), (3, BUY, 90, 2))
    assert book.market(PLAIN, 10, SELL, 7, protection=95) == X.OK
    assert book.take_events() == [fill(10, 1, 100, 2, 5, 0, SELL), fill(10, 2, 95, 2, 3, 0, SELL),
                                  cancelled(10, 0, 3, SELL, R.IOC_REMAINDER)]
    assert book.depth(PLAIN, BUY) == [(90, 2, 1)]
    book.validate()


def test_market_gtc_is_treated_as_ioc_and_never_rests(book):
    assert book.market(PLAIN, 10, BUY, 5, tif=T.GTC) == X.OK
    assert book.take_events() == [cancelled(10, 0, 5, BUY, R.IOC_REMAINDER)]
    seed(book, (1, SELL, 100, 2))
    assert book.market(PLAIN, 11, BUY, 5, tif=T.GTC) == X.OK
    assert book.take_events() == [fill(11, 1, 100, 2, 3, 0, BUY),
                                  cancelled(11, 0, 3, BUY, R.IOC_REMAINDER)]
    assert book.order_count == 0
    book.validate()


def test_market_fok_is_honoured(book):
    seed(book, (1, SELL, 100, 2), (2, SELL, 105, 2))
    assert book.market(PLAIN, 10, BUY, 4, protection=104, tif=T.FOK) == X.OK
    assert book.take_events() == [cancelled(10, 0, 4, BUY, R.FOK_UNFILLABLE)]
    assert book.market(PLAIN, 11, BUY, 4, tif=T.FOK) == X.OK
    assert book.take_events() == [fill(11, 1, 100, 2, 2, 0, BUY), fill(11, 2, 105, 2, 0, 0, BUY)]
    book.validate()


# ---- post-only --------------------------------------------------------------------------------

def test_post_only_rests_when_it_does_not_cross(book):
    seed(book, (1, SELL, 100, 5))
    assert book.limit(PLAIN, 10, BUY, 99, 5, post_only=True) == X.OK
    assert book.take_events() == [rested(10, 99, 5, 5, BUY)]
    assert book.limit(PLAIN, 11, SELL, 101, 5, post_only=True) == X.OK
    assert book.take_events() == [rested(11, 101, 5, 5, SELL)]
    book.validate()


@pytest.mark.parametrize("side,price", [(BUY, 100), (BUY, 101), (SELL, 98), (SELL, 97)])
def test_post_only_that_would_take_is_rejected_whatever_the_owner(book, side, price):
    seed(book, (1, SELL, 100, 5, A), (2, BUY, 98, 5, A))
    before = snapshot(book)
    assert book.limit(PLAIN, 10, side, price, 5, post_only=True, owner=A,
                      stp=Stp.CANCEL_RESTING) == X.POST_ONLY_WOULD_TAKE
    assert book.take_events() == [rejected(10, price, 5, side, X.POST_ONLY_WOULD_TAKE)]
    assert snapshot(book) == before
    book.validate()


# ---- reduce and replace -----------------------------------------------------------------------

def test_reduce_keeps_time_priority(book):
    seed(book, (1, BUY, 100, 10), (2, BUY, 100, 10))
    assert book.reduce(1, 4) == X.OK
    assert book.take_events() == [reduced(1, 100, 6, 4, BUY, R.USER)]
    assert book.depth(PLAIN, BUY) == [(100, 14, 2)]
    assert book.limit(PLAIN, 10, SELL, 100, 5) == X.OK
    assert book.take_events() == [fill(10, 1, 100, 4, 1, 0, SELL), fill(10, 2, 100, 1, 0, 9, SELL)]
    book.validate()


def test_replace_same_price_smaller_qty_is_a_reduce(book):
    seed(book, (1, BUY, 100, 10), (2, BUY, 100, 10))
    assert book.replace(1, 100, 3) == X.OK
    assert book.take_events() == [reduced(1, 100, 7, 3, BUY, R.USER)]
    assert book.limit(PLAIN, 10, SELL, 100, 3) == X.OK
    assert book.take_events() == [fill(10, 1, 100, 3, 0, 0, SELL)]
    book.validate()


@pytest.mark.parametrize("new_qty", [10, 12])
def test_replace_same_price_not_smaller_loses_priority(book, new_qty):
    seed(book, (1, BUY, 100, 10), (2, BUY, 100, 10))
    assert book.replace(1, 100, new_qty) == X.OK
    assert book.take_events() == [replaced(1, 100, new_qty, BUY),
                                  rested(1, 100, new_qty, new_qty, BUY)]
    assert book.limit(PLAIN, 10, SELL, 100, 12) == X.OK
    assert book.take_events() == [fill(10, 2, 100, 10, 2, 0, SELL),
                                  fill(10, 1, 100, 2, 0, new_qty - 2, SELL)]
    book.validate()


def test_replace_to_a_new_price_loses_priority(book):
    seed(book, (1, BUY, 101, 4), (2, BUY, 100, 4))
    assert book.replace(1, 100, 2) == X.OK
    assert book.take_events() == [replaced(1, 100, 2, BUY), rested(1, 100, 2, 2, BUY)]
    assert book.depth(PLAIN, BUY) == [(100, 6, 2)]
    assert book.limit(PLAIN, 10, SELL, 100, 5) == X.OK
    assert book.take_events() == [fill(10, 2, 100, 4, 1, 0, SELL), fill(10, 1, 100, 1, 0, 1, SELL)]
    book.validate()


def test_replace_that_crosses_trades_then_rests(book):
    seed(book, (1, BUY, 99, 10), (2, SELL, 100, 4), (3, SELL, 101, 4))
    assert book.replace(1, 100, 10) == X.OK
    assert book.take_events() == [replaced(1, 100, 10, BUY), fill(1, 2, 100, 4, 6, 0, BUY),
                                  rested(1, 100, 6, 6, BUY)]
    assert book.replace(1, 102, 5) == X.OK
    assert book.take_events() == [replaced(1, 102, 5, BUY), fill(1, 3, 101, 4, 1, 0, BUY),
                                  rested(1, 102, 1, 1, BUY)]
    assert book.depth(PLAIN, SELL) == []
    book.validate()


def test_replace_that_fills_completely_leaves_the_book(book):
    seed(book, (1, SELL, 105, 3), (2, BUY, 100, 5))
    assert book.replace(1, 100, 3) == X.OK
    assert book.take_events() == [replaced(1, 100, 3, SELL), fill(1, 2, 100, 3, 0, 2, SELL)]
    assert book.order(1) is None
    assert book.order_count == 1
    book.validate()


def test_replace_keeps_owner_and_stp(book):
    seed(book, (2, SELL, 101, 5, A))
    assert book.limit(PLAIN, 1, BUY, 99, 5, owner=A, stp=Stp.CANCEL_INCOMING) == X.OK
    book.clear_events()
    assert book.replace(1, 101, 5) == X.OK
    assert book.take_events() == [replaced(1, 101, 5, BUY),
                                  cancelled(1, 101, 5, BUY, R.SELF_TRADE)]
    assert book.order(1) is None
    assert book.order(2)["leaves"] == 5
    book.validate()


def test_post_only_replace_that_would_cross_is_rejected_and_kept(book):
    seed(book, (1, SELL, 100, 5))
    assert book.limit(PLAIN, 2, BUY, 98, 5, post_only=True) == X.OK
    book.clear_events()
    before = snapshot(book)
    assert book.replace(2, 100, 5) == X.POST_ONLY_WOULD_TAKE
    assert book.take_events() == [rejected(2, 100, 5, BUY, X.POST_ONLY_WOULD_TAKE)]
    assert snapshot(book) == before
    assert book.replace(2, 99, 6) == X.OK
    assert book.take_events() == [replaced(2, 99, 6, BUY), rested(2, 99, 6, 6, BUY)]
    book.validate()


# ---- icebergs ---------------------------------------------------------------------------------

def test_iceberg_rests_showing_its_display(book):
    assert book.limit(PLAIN, 1, SELL, 100, 10, display=3) == X.OK
    assert book.take_events() == [rested(1, 100, 3, 10, SELL)]
    assert book.depth(PLAIN, SELL) == [(100, 3, 1)]
    assert book.order(1) == {"id": 1, "instrument": PLAIN, "side": SELL, "price": 100,
                             "shown": 3, "hidden": 7, "leaves": 10, "display": 3, "owner": 0,
                             "stp": 0}
    book.validate()


def test_iceberg_replenishes_to_the_tail_of_its_level(book):
    assert book.limit(PLAIN, 1, SELL, 100, 7, display=3) == X.OK
    seed(book, (2, SELL, 100, 2))
    assert book.limit(PLAIN, 10, BUY, 100, 3) == X.OK
    assert book.take_events() == [fill(10, 1, 100, 3, 0, 4, BUY), replenished(1, 100, 3, 4, SELL)]
    assert book.depth(PLAIN, SELL) == [(100, 5, 2)]
    # Order 2 is now ahead of the iceberg; the last slice is smaller than the display size.
    assert book.limit(PLAIN, 11, BUY, 100, 9) == X.OK
    assert book.take_events() == [
        fill(11, 2, 100, 2, 7, 0, BUY),
        fill(11, 1, 100, 3, 4, 1, BUY), replenished(1, 100, 1, 1, SELL),
        fill(11, 1, 100, 1, 3, 0, BUY),
        rested(11, 100, 3, 3, BUY),
    ]
    assert book.depth(PLAIN, SELL) == []
    book.validate()


def test_iceberg_partly_hit_does_not_replenish(book):
    assert book.limit(PLAIN, 1, SELL, 100, 7, display=3) == X.OK
    book.clear_events()
    assert book.limit(PLAIN, 10, BUY, 100, 2) == X.OK
    assert book.take_events() == [fill(10, 1, 100, 2, 0, 5, BUY)]
    assert (book.order(1)["shown"], book.order(1)["hidden"]) == (1, 4)
    book.validate()


def test_iceberg_taker_rests_its_remainder_as_an_iceberg(book):
    seed(book, (1, SELL, 100, 4))
    assert book.limit(PLAIN, 10, BUY, 100, 10, display=3) == X.OK
    assert book.take_events() == [fill(10, 1, 100, 4, 6, 0, BUY), rested(10, 100, 3, 6, BUY)]
    assert (book.order(10)["shown"], book.order(10)["hidden"]) == (3, 3)
    seed(book, (2, SELL, 101, 8))
    assert book.limit(PLAIN, 11, BUY, 101, 10, display=4) == X.OK
    assert book.take_events() == [fill(11, 2, 101, 8, 2, 0, BUY), rested(11, 101, 2, 2, BUY)]
    assert (book.order(11)["shown"], book.order(11)["hidden"]) == (2, 0)
    book.validate()


def test_display_not_below_qty_makes_a_plain_order(book):
    assert book.limit(PLAIN, 1, BUY, 100, 5, display=5) == X.OK
    assert book.limit(PLAIN, 2, BUY, 100, 5, display=8) == X.OK
    assert book.take_events() == [rested(1, 100, 5, 5, BUY), rested(2, 100, 5, 5, BUY)]
    # Plain orders have no display size to carry into a replace.
    assert book.replace(1, 100, 20) == X.OK
    assert book.take_events() == [replaced(1, 100, 20, BUY), rested(1, 100, 20, 20, BUY)]
    assert book.order(1)["hidden"] == 0
    book.validate()


def test_replace_keeps_the_iceberg_display_size(book):
    assert book.limit(PLAIN, 1, BUY, 100, 10, display=4) == X.OK
    book.clear_events()
    assert book.replace(1, 101, 9) == X.OK
    assert book.take_events() == [replaced(1, 101, 9, BUY), rested(1, 101, 4, 9, BUY)]
    assert (book.order(1)["shown"], book.order(1)["hidden"]) == (4, 5)
    book.validate()


def test_iceberg_reduce_takes_the_hidden_reserve_first(book):
    assert book.limit(PLAIN, 1, SELL, 100, 10, display=3) == X.OK
    seed(book, (2, SELL, 100, 1))
    assert book.reduce(1, 5) == X.OK
    assert book.take_events() == [reduced(1, 100, 5, 5, SELL, R.USER)]
    assert (book.order(1)["shown"], book.order(1)["hidden"]) == (3, 2)
    assert book.reduce(1, 2) == X.OK
    assert book.take_events() == [reduced(1, 100, 3, 2, SELL, R.USER)]
    assert (book.order(1)["shown"], book.order(1)["hidden"]) == (2, 0)
    assert book.depth(PLAIN, SELL) == [(100, 3, 2)]
    # Still first in its level.
    assert book.limit(PLAIN, 10, BUY, 100, 2) == X.OK
    assert book.take_events() == [fill(10, 1, 100, 2, 0, 0, BUY)]
    book.validate()


# ---- self-trade prevention while matching ---------------------------------------------------

def test_stp_cancel_resting(book):
    seed(book, (1, SELL, 100, 5, A), (2, SELL, 100, 5, B))
    assert book.limit(PLAIN, 10, BUY, 100, 8, owner=A, stp=Stp.CANCEL_RESTING) == X.OK
    assert book.take_events() == [cancelled(1, 100, 5, SELL, R.SELF_TRADE),
                                  fill(10, 2, 100, 5, 3, 0, BUY), rested(10, 100, 3, 3, BUY)]
    book.validate()


def test_stp_cancel_resting_cancels_the_whole_iceberg(book):
    assert book.limit(PLAIN, 1, SELL, 100, 9, display=2, owner=A) == X.OK
    book.clear_events()
    assert book.limit(PLAIN, 10, BUY, 100, 1, tif=T.IOC, owner=A,
                      stp=Stp.CANCEL_RESTING) == X.OK
    assert book.take_events() == [cancelled(1, 100, 9, SELL, R.SELF_TRADE),
                                  cancelled(10, 100, 1, BUY, R.IOC_REMAINDER)]
    book.validate()


def test_stp_cancel_incoming(book):
    seed(book, (1, SELL, 100, 2, B), (2, SELL, 100, 5, A), (3, SELL, 100, 5, B))
    assert book.limit(PLAIN, 10, BUY, 101, 8, owner=A, stp=Stp.CANCEL_INCOMING) == X.OK
    assert book.take_events() == [fill(10, 1, 100, 2, 6, 0, BUY),
                                  cancelled(10, 101, 6, BUY, R.SELF_TRADE)]
    assert book.depth(PLAIN, SELL) == [(100, 10, 2)]
    assert book.depth(PLAIN, BUY) == []
    book.validate()


def test_stp_cancel_both(book):
    seed(book, (1, SELL, 100, 2, B), (2, SELL, 100, 5, A), (3, SELL, 100, 5, B))
    assert book.limit(PLAIN, 10, BUY, 101, 8, owner=A, stp=Stp.CANCEL_BOTH) == X.OK
    assert book.take_events() == [fill(10, 1, 100, 2, 6, 0, BUY),
                                  cancelled(2, 100, 5, SELL, R.SELF_TRADE),
                                  cancelled(10, 101, 6, BUY, R.SELF_TRADE)]
    assert book.depth(PLAIN, SELL) == [(100, 5, 1)]
    assert book.depth(PLAIN, BUY) == []
    book.validate()


def test_stp_decrement_taker_larger_cancels_maker_and_goes_on(book):
    seed(book, (1, SELL, 100, 5, A), (2, SELL, 100, 2, B))
    assert book.limit(PLAIN, 10, BUY, 101, 8, owner=A, stp=Stp.DECREMENT_AND_CANCEL) == X.OK
    assert book.take_events() == [
        cancelled(1, 100, 5, SELL, R.SELF_TRADE),
        reduced(10, 101, 5, 3, BUY, R.SELF_TRADE),
        fill(10, 2, 100, 2, 1, 0, BUY),
        rested(10, 101, 1, 1, BUY),
    ]
    book.validate()


def test_stp_decrement_maker_larger_reduces_maker_and_cancels_taker(book):
    assert book.limit(PLAIN, 1, SELL, 100, 8, display=2, owner=A) == X.OK
    seed(book, (2, SELL, 100, 4, B))
    assert book.limit(PLAIN, 10, BUY, 101, 5, owner=A, stp=Stp.DECREMENT_AND_CANCEL) == X.OK
    assert book.take_events() == [reduced(1, 100, 5, 3, SELL, R.SELF_TRADE),
                                  cancelled(10, 101, 5, BUY, R.SELF_TRADE)]
    assert (book.order(1)["shown"], book.order(1)["hidden"]) == (2, 1)
    # The reduced maker kept its place ahead of order 2.
    assert book.limit(PLAIN, 11, BUY, 100, 1) == X.OK
    assert book.take_events() == [fill(11, 1, 100, 1, 0, 2, BUY)]
    book.validate()


def test_stp_decrement_maker_larger_eats_into_shown_after_hidden(book):
    assert book.limit(PLAIN, 1, SELL, 100, 8, display=5, owner=A) == X.OK
    book.clear_events()
    assert book.limit(PLAIN, 10, BUY, 100, 6, owner=A, stp=Stp.DECREMENT_AND_CANCEL) == X.OK
    assert book.take_events() == [reduced(1, 100, 6, 2, SELL, R.SELF_TRADE),
                                  cancelled(10, 100, 6, BUY, R.SELF_TRADE)]
    assert (book.order(1)["shown"], book.order(1)["hidden"]) == (2, 0)
    assert book.depth(PLAIN, SELL) == [(100, 2, 1)]
    book.validate()


def test_stp_decrement_equal_cancels_both(book):
    seed(book, (1, SELL, 100, 5, A), (2, SELL, 100, 5, B))
    assert book.limit(PLAIN, 10, BUY, 100, 5, owner=A, stp=Stp.DECREMENT_AND_CANCEL) == X.OK
    assert book.take_events() == [cancelled(1, 100, 5, SELL, R.SELF_TRADE),
                                  cancelled(10, 100, 5, BUY, R.SELF_TRADE)]
    assert book.depth(PLAIN, SELL) == [(100, 5, 1)]
    book.validate()


def test_stp_decrement_market_taker_events_carry_price_zero(book):
    seed(book, (1, SELL, 100, 2, A), (2, SELL, 101, 4, A))
    assert book.market(PLAIN, 10, BUY, 5, owner=A, stp=Stp.DECREMENT_AND_CANCEL) == X.OK
    assert book.take_events() == [cancelled(1, 100, 2, SELL, R.SELF_TRADE),
                                  reduced(10, 0, 2, 3, BUY, R.SELF_TRADE),
                                  reduced(2, 101, 3, 1, SELL, R.SELF_TRADE),
                                  cancelled(10, 0, 3, BUY, R.SELF_TRADE)]
    assert book.order(2)["leaves"] == 1
    book.validate()


def test_no_stp_without_owner_or_mode_and_maker_mode_is_irrelevant(book):
    assert book.limit(PLAIN, 1, SELL, 100, 2, owner=A, stp=Stp.CANCEL_BOTH) == X.OK
    book.clear_events()
    assert book.limit(PLAIN, 10, BUY, 100, 1, owner=A, stp=Stp.STP_NONE) == X.OK
    assert book.take_events() == [fill(10, 1, 100, 1, 0, 1, BUY)]
    seed(book, (2, SELL, 100, 2, 0))
    assert book.limit(PLAIN, 11, BUY, 100, 3, owner=0, stp=Stp.CANCEL_BOTH) == X.OK
    assert book.take_events() == [fill(11, 1, 100, 1, 2, 0, BUY), fill(11, 2, 100, 2, 0, 0, BUY)]
    book.validate()


# ---- cancel -----------------------------------------------------------------------------------

def test_cancel_removes_the_whole_remainder(book):
    assert book.limit(PLAIN, 1, SELL, 100, 9, display=2) == X.OK
    seed(book, (2, SELL, 100, 1))
    assert book.cancel(1) == X.OK
    assert book.take_events() == [cancelled(1, 100, 9, SELL, R.USER)]
    assert book.depth(PLAIN, SELL) == [(100, 1, 1)]
    assert book.cancel(2) == X.OK
    assert book.take_events() == [cancelled(2, 100, 1, SELL, R.USER)]
    assert book.depth(PLAIN, SELL) == []
    assert book.order_count == 0
    assert book.cancel(2) == X.UNKNOWN_ORDER
    book.validate()


# ---- rejections: each code, the event, and an unchanged book --------------------------------

def _populated(book):
    assert book.limit(PLAIN, 1, BUY, 100, 10) == X.OK
    assert book.limit(PLAIN, 2, SELL, 102, 10, display=3) == X.OK
    assert book.limit(COARSE, 3, BUY, 50, 30) == X.OK
    assert book.limit(PLAIN, 4, SELL, 103, 5, post_only=True) == X.OK
    book.clear_events()


# (call, expected result, expected REJECTED event fields: order_id, price, qty, side, instrument)
NEW_ORDER_REJECTS = [
    (lambda b: b.limit(PLAIN, 10, BUY, 0, 5), X.INVALID_PRICE, (10, 0, 5, BUY, PLAIN)),
    (lambda b: b.limit(PLAIN, 10, SELL, -5, 5), X.INVALID_PRICE, (10, -5, 5, SELL, PLAIN)),
    (lambda b: b.limit(COARSE, 10, BUY, 52, 10), X.PRICE_OFF_TICK, (10, 52, 10, BUY, COARSE)),
    (lambda b: b.market(PLAIN, 10, BUY, 5, protection=-1), X.INVALID_PRICE,
     (10, -1, 5, BUY, PLAIN)),
    (lambda b: b.market(COARSE, 10, SELL, 10, protection=7), X.PRICE_OFF_TICK,
     (10, 7, 10, SELL, COARSE)),
    (lambda b: b.limit(PLAIN, 10, BUY, 100, 0), X.INVALID_QTY, (10, 100, 0, BUY, PLAIN)),
    (lambda b: b.limit(PLAIN, 10, BUY, 100, -3), X.INVALID_QTY, (10, 100, -3, BUY, PLAIN)),
    (lambda b: b.market(PLAIN, 10, BUY, 0), X.INVALID_QTY, (10, 0, 0, BUY, PLAIN)),
    (lambda b: b.limit(COARSE, 10, BUY, 50, 15), X.QTY_OFF_LOT, (10, 50, 15, BUY, COARSE)),
    (lambda b: b.market(COARSE, 10, BUY, 25), X.QTY_OFF_LOT, (10, 0, 25, BUY, COARSE)),
    (lambda b: b.limit(COARSE, 10, BUY, 50, 30, display=5), X.QTY_OFF_LOT,
     (10, 50, 30, BUY, COARSE)),
    (lambda b: b.limit(PLAIN, 10, BUY, 100, 30, display=-1), X.INVALID_QTY,
     (10, 100, 30, BUY, PLAIN)),
    (lambda b: b.limit(9, 10, BUY, 100, 5), X.UNKNOWN_INSTRUMENT, (10, 100, 5, BUY, 9)),
    (lambda b: b.limit(-1, 10, BUY, 100, 5), X.UNKNOWN_INSTRUMENT, (10, 100, 5, BUY, -1)),
    (lambda b: b.limit(5000, 10, BUY, 100, 5), X.UNKNOWN_INSTRUMENT, (10, 100, 5, BUY, 5000)),
    (lambda b: b.market(0, 10, BUY, 5), X.UNKNOWN_INSTRUMENT, (10, 0, 5, BUY, 0)),
    (lambda b: b.limit(PLAIN, 1, BUY, 100, 5), X.DUPLICATE_ORDER_ID, (1, 100, 5, BUY, PLAIN)),
    (lambda b: b.limit(PLAIN, 3, SELL, 90, 5, tif=T.IOC), X.DUPLICATE_ORDER_ID,
     (3, 90, 5, SELL, PLAIN)),
    (lambda b: b.market(PLAIN, 2, BUY, 5), X.DUPLICATE_ORDER_ID, (2, 0, 5, BUY, PLAIN)),
    (lambda b: b.limit(PLAIN, 10, 0, 100, 5), X.INVALID_SIDE, (10, 100, 5, 0, PLAIN)),
    (lambda b: b.limit(PLAIN, 10, 3, 100, 5), X.INVALID_SIDE, (10, 100, 5, 3, PLAIN)),
    (lambda b: b.market(PLAIN, 10, 255, 5), X.INVALID_SIDE, (10, 0, 5, 255, PLAIN)),
    (lambda b: b.limit(PLAIN, 10, BUY, 100, 5, tif=3), X.INVALID_TIF, (10, 100, 5, BUY, PLAIN)),
    (lambda b: b.market(PLAIN, 10, BUY, 5, tif=200), X.INVALID_TIF, (10, 0, 5, BUY, PLAIN)),
    (lambda b: b.limit(PLAIN, 10, BUY, 100, 5, stp=5), X.INVALID_STP, (10, 100, 5, BUY, PLAIN)),
    (lambda b: b.market(PLAIN, 10, SELL, 5, stp=9), X.INVALID_STP, (10, 0, 5, SELL, PLAIN)),
    (lambda b: b.limit(PLAIN, 10, BUY, 102, 5, post_only=True), X.POST_ONLY_WOULD_TAKE,
     (10, 102, 5, BUY, PLAIN)),
    # Several faults at once: the first in contract order wins.
    (lambda b: b.limit(9, 10, 0, 0, 0, tif=7, stp=7), X.UNKNOWN_INSTRUMENT, (10, 0, 0, 0, 9)),
    (lambda b: b.limit(PLAIN, 10, 0, 0, 0, tif=7, stp=7), X.INVALID_SIDE, (10, 0, 0, 0, PLAIN)),
    (lambda b: b.limit(PLAIN, 10, BUY, 0, 0, tif=7, stp=7), X.INVALID_TIF,
     (10, 0, 0, BUY, PLAIN)),
    (lambda b: b.limit(PLAIN, 10, BUY, 0, 0, stp=7), X.INVALID_STP, (10, 0, 0, BUY, PLAIN)),
    (lambda b: b.limit(COARSE, 10, BUY, 0, 3), X.INVALID_PRICE, (10, 0, 3, BUY, COARSE)),
    (lambda b: b.limit(COARSE, 10, BUY, 51, 3), X.PRICE_OFF_TICK, (10, 51, 3, BUY, COARSE)),
    (lambda b: b.limit(COARSE, 10, BUY, 50, -10, display=3), X.INVALID_QTY,
     (10, 50, -10, BUY, COARSE)),
    (lambda b: b.limit(COARSE, 1, BUY, 50, 15, display=3), X.QTY_OFF_LOT,
     (1, 50, 15, BUY, COARSE)),
    (lambda b: b.limit(COARSE, 3, BUY, 50, 20, display=3), X.QTY_OFF_LOT,
     (3, 50, 20, BUY, COARSE)),
    (lambda b: b.limit(PLAIN, 1, BUY, 102, 5, post_only=True), X.DUPLICATE_ORDER_ID,
     (1, 102, 5, BUY, PLAIN)),
]


@pytest.mark.parametrize("call,result,fields", NEW_ORDER_REJECTS)
def test_new_order_rejections_leave_the_book_unchanged(book, call, result, fields):
    _populated(book)
    before = snapshot(book)
    assert call(book) == result
    oid, price, qty, side, inst = fields
    assert book.take_events() == [rejected(oid, price, qty, side, result, inst)]
    assert snapshot(book) == before
    book.validate()


# (call, expected result, REJECTED fields: order_id, price, qty, side, instrument)
CHANGE_REJECTS = [
    (lambda b: b.cancel(99), X.UNKNOWN_ORDER, (99, 0, 0, 0, 0)),
    (lambda b: b.reduce(99, 1), X.UNKNOWN_ORDER, (99, 0, 1, 0, 0)),
    (lambda b: b.replace(99, 100, 1), X.UNKNOWN_ORDER, (99, 100, 1, 0, 0)),
    (lambda b: b.replace(99, 0, 0), X.UNKNOWN_ORDER, (99, 0, 0, 0, 0)),
    (lambda b: b.reduce(1, 0), X.INVALID_QTY, (1, 0, 0, BUY, PLAIN)),
    (lambda b: b.reduce(1, -2), X.INVALID_QTY, (1, 0, -2, BUY, PLAIN)),
    (lambda b: b.reduce(1, 10), X.INVALID_QTY, (1, 0, 10, BUY, PLAIN)),
    (lambda b: b.reduce(1, 11), X.INVALID_QTY, (1, 0, 11, BUY, PLAIN)),
    (lambda b: b.reduce(2, 10), X.INVALID_QTY, (2, 0, 10, SELL, PLAIN)),
    (lambda b: b.reduce(3, 25), X.QTY_OFF_LOT, (3, 0, 25, BUY, COARSE)),
    (lambda b: b.replace(1, 0, 5), X.INVALID_PRICE, (1, 0, 5, BUY, PLAIN)),
    (lambda b: b.replace(1, -100, 0), X.INVALID_PRICE, (1, -100, 0, BUY, PLAIN)),
    (lambda b: b.replace(3, 52, 15), X.PRICE_OFF_TICK, (3, 52, 15, BUY, COARSE)),
    (lambda b: b.replace(1, 100, 0), X.INVALID_QTY, (1, 100, 0, BUY, PLAIN)),
    (lambda b: b.replace(2, 101, -1), X.INVALID_QTY, (2, 101, -1, SELL, PLAIN)),
    (lambda b: b.replace(3, 55, 15), X.QTY_OFF_LOT, (3, 55, 15, BUY, COARSE)),
    (lambda b: b.replace(4, 100, 5), X.POST_ONLY_WOULD_TAKE, (4, 100, 5, SELL, PLAIN)),
    (lambda b: b.replace(4, 99, 50), X.POST_ONLY_WOULD_TAKE, (4, 99, 50, SELL, PLAIN)),
]


@pytest.mark.parametrize("call,result,fields", CHANGE_REJECTS)
def test_change_rejections_leave_the_book_unchanged(book, call, result, fields):
    _populated(book)
    before = snapshot(book)
    assert call(book) == result
    oid, price, qty, side, inst = fields
    assert book.take_events() == [rejected(oid, price, qty, side, result, inst)]
    assert snapshot(book) == before
    book.validate()


def test_pool_exhausted_only_for_gtc_limits(make_book):
    book = make_book(max_orders=2)
    seed(book, (1, SELL, 100, 5), (2, SELL, 101, 5))
    before = snapshot(book)
    # Checked before matching, so even a GTC order that would fill completely is refused.
    assert book.limit(PLAIN, 3, BUY, 100, 5) == X.POOL_EXHAUSTED
    assert book.take_events() == [rejected(3, 100, 5, BUY, X.POOL_EXHAUSTED)]
    assert book.limit(PLAIN, 3, BUY, 90, 5, display=1) == X.POOL_EXHAUSTED
    assert book.take_events() == [rejected(3, 90, 5, BUY, X.POOL_EXHAUSTED)]
    assert snapshot(book) == before
    # Earlier checks win over the pool check.
    assert book.limit(PLAIN, 3, BUY, 100, 5, post_only=True) == X.POST_ONLY_WOULD_TAKE
    assert book.limit(PLAIN, 1, BUY, 90, 5) == X.DUPLICATE_ORDER_ID
    book.clear_events()
    # Orders that can never rest need no slot; replace reuses the order's own.
    assert book.limit(PLAIN, 4, BUY, 100, 2, tif=T.IOC) == X.OK
    assert book.limit(PLAIN, 5, BUY, 100, 9, tif=T.FOK) == X.OK
    assert book.market(PLAIN, 6, BUY, 1) == X.OK
    assert book.market(PLAIN, 7, BUY, 1, tif=T.GTC) == X.OK
    assert book.replace(2, 99, 4) == X.OK
    assert book.take_events() == [
        fill(4, 1, 100, 2, 0, 3, BUY),
        cancelled(5, 100, 9, BUY, R.FOK_UNFILLABLE),
        fill(6, 1, 100, 1, 0, 2, BUY),
        fill(7, 1, 100, 1, 0, 1, BUY),
        replaced(2, 99, 4, SELL), rested(2, 99, 4, 4, SELL),
    ]
    assert book.cancel(1) == X.OK
    assert book.limit(PLAIN, 8, BUY, 98, 5) == X.OK
    assert book.limit(PLAIN, 9, BUY, 97, 5) == X.POOL_EXHAUSTED
    # A slot freed by a fill is reusable too.
    assert book.limit(PLAIN, 10, BUY, 99, 4, tif=T.IOC) == X.OK
    assert book.limit(PLAIN, 9, BUY, 97, 5) == X.OK
    assert book.order_count == 2
    book.validate()


def test_order_ids_are_opaque_int64(book):
    ids = [0, -1, -(1 << 63), (1 << 63) - 1, 1 << 40]
    for n, oid in enumerate(ids):
        assert book.limit(PLAIN, oid, BUY, 90 + n, 1) == X.OK
    assert book.order_count == len(ids)
    for n, oid in enumerate(ids):
        assert book.order(oid)["price"] == 90 + n
        assert book.limit(PLAIN, oid, BUY, 80, 1) == X.DUPLICATE_ORDER_ID
    book.clear_events()
    assert book.market(PLAIN, 7, SELL, 5) == X.OK
    assert [e[1] for e in book.take_events()] == list(reversed(ids))
    assert book.order_count == 0
    book.validate()


def test_many_orders_in_one_level_and_many_levels(book):
    for oid in range(1, 301):
        assert book.limit(PLAIN, oid, SELL, 100 + oid % 50, 1) == X.OK
    assert book.order_count == 300
    assert len(book.depth(PLAIN, SELL, 1000)) == 50
    book.validate()
    book.clear_events()
    assert book.market(PLAIN, 1000, BUY, 300) == X.OK
    events = book.take_events()
    # Levels from the best, and inside a level in arrival order.
    assert [e[1] for e in events] == sorted(range(1, 301), key=lambda oid: (oid % 50, oid))
    assert book.order_count == 0
    book.validate()


# ---- the event buffer -------------------------------------------------------------------------

def test_event_buffer_accessors_and_growth(make_book):
    book = make_book(max_orders=8192)
    for oid in range(1, 5001):
        book.limit(PLAIN, oid, BUY, 100, 1)
    assert book.event_count == 5000
    arr = book.events_array()
    assert arr.dtype == EVENT_DTYPE and len(arr) == 5000
    assert book.event_count == 5000
    assert tuple(int(arr[4999][f]) for f in EVENT_DTYPE.names) == rested(5000, 100, 1, 1, BUY)
    assert arr.tolist() == book.take_events()
    assert book.event_count == 0 and book.take_events() == []
    assert len(book.events_array()) == 0
    book.cancel(1)
    assert book.event_count == 1
    book.clear_events()
    assert book.event_count == 0
    book.validate()


# ---- batch ------------------------------------------------------------------------------------

def _rows(*rows):
    arr = np.zeros(len(rows), dtype=COMMAND_DTYPE)
    for i, row in enumerate(rows):
        for name, value in row.items():
            arr[name][i] = value
    arr["result"] = -1
    return arr


def test_execute_writes_results_and_events_like_the_per_call_api(book):
    cmds = _rows(
        dict(op=Op.LIMIT, instrument=PLAIN, order_id=1, side=SELL, price=100, qty=5),
        dict(op=Op.LIMIT, instrument=PLAIN, order_id=2, side=SELL, price=101, qty=9, display=3,
             owner=A),
        dict(op=Op.LIMIT, instrument=PLAIN, order_id=3, side=BUY, price=100, qty=5,
             flags=FLAG_POST_ONLY),
        dict(op=Op.LIMIT, instrument=PLAIN, order_id=3, side=BUY, price=99, qty=5,
             flags=FLAG_POST_ONLY, tif=T.GTC),
        dict(op=Op.MARKET, instrument=PLAIN, order_id=4, side=BUY, qty=7, price=100,
             tif=T.FOK),
        dict(op=Op.MARKET, instrument=PLAIN, order_id=5, side=BUY, qty=6, owner=A,
             stp=Stp.CANCEL_RESTING),
        dict(op=Op.REDUCE, order_id=3, qty=2),
        dict(op=Op.REPLACE, order_id=3, price=98, qty=4),
        dict(op=Op.CANCEL, order_id=3),
        dict(op=Op.CANCEL, order_id=3),
        dict(op=Op.LIMIT, instrument=COARSE, order_id=6, side=BUY, price=51, qty=10),
    )
    assert book.execute(cmds) == 14
    assert cmds["result"].tolist() == [X.OK, X.OK, X.POST_ONLY_WOULD_TAKE, X.OK, X.OK, X.OK,
                                       X.OK, X.OK, X.OK, X.UNKNOWN_ORDER, X.PRICE_OFF_TICK]
    expected = [
        rested(1, 100, 5, 5, SELL),
        rested(2, 101, 3, 9, SELL),
        rejected(3, 100, 5, BUY, X.POST_ONLY_WOULD_TAKE),
        rested(3, 99, 5, 5, BUY),
        cancelled(4, 0, 7, BUY, R.FOK_UNFILLABLE),
        fill(5, 1, 100, 5, 1, 0, BUY),
        cancelled(2, 101, 9, SELL, R.SELF_TRADE),
        cancelled(5, 0, 1, BUY, R.IOC_REMAINDER),
        reduced(3, 99, 3, 2, BUY, R.USER),
        replaced(3, 98, 4, BUY), rested(3, 98, 4, 4, BUY),
        cancelled(3, 98, 4, BUY, R.USER),
        rejected(3, 0, 0, 0, X.UNKNOWN_ORDER, 0),
        rejected(6, 51, 10, BUY, X.PRICE_OFF_TICK, COARSE),
    ]
    assert book.event_count == len(expected)
    assert book.take_events() == expected
    book.validate()


@pytest.mark.parametrize("op", [0, 6, 255])
def test_execute_rejects_an_unknown_op(book, op):
    _populated(book)
    before = snapshot(book)
    cmds = _rows(dict(op=op, instrument=PLAIN, order_id=10, side=BUY, price=100, qty=5))
    assert book.execute(cmds) == 1
    assert cmds["result"].tolist() == [X.INVALID_OP]
    assert book.take_events() == [rejected(10, 100, 5, BUY, X.INVALID_OP)]
    assert snapshot(book) == before
    book.validate()


def test_execute_invalid_op_wins_over_every_other_check(book):
    cmds = _rows(dict(op=0, instrument=99, order_id=10, side=7, price=-1, qty=0, tif=9, stp=9))
    assert book.execute(cmds) == 1
    assert cmds["result"].tolist() == [X.INVALID_OP]
    assert book.take_events() == [rejected(10, -1, 0, 7, X.INVALID_OP, 99)]


def test_execute_market_rows_check_display_and_ignore_post_only(book):
    """A market row goes through the new-order checks, display included (my reading: the display
    rule is listed for all new orders); post-only is for limits only, so its flag is ignored."""
    seed(book, (1, SELL, 100, 5))
    cmds = _rows(
        dict(op=Op.MARKET, instrument=PLAIN, order_id=10, side=BUY, qty=2, display=-1),
        dict(op=Op.MARKET, instrument=COARSE, order_id=11, side=BUY, qty=10, display=3, price=55),
        dict(op=Op.MARKET, instrument=PLAIN, order_id=12, side=BUY, qty=2, flags=FLAG_POST_ONLY),
        dict(op=Op.MARKET, instrument=PLAIN, order_id=13, side=BUY, qty=2, display=1),
    )
    assert book.execute(cmds) == 4
    assert cmds["result"].tolist() == [X.INVALID_QTY, X.QTY_OFF_LOT, X.OK, X.OK]
    assert book.take_events() == [
        rejected(10, 0, 2, BUY, X.INVALID_QTY),
        rejected(11, 55, 10, BUY, X.QTY_OFF_LOT, COARSE),
        fill(12, 1, 100, 2, 0, 3, BUY),
        fill(13, 1, 100, 2, 0, 1, BUY),
    ]
    book.validate()

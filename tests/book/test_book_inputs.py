"""Bad arguments at the Python edge of both books: a clear exception or a Result, never a silent
conversion, never a changed book.  Also arithmetic at the int64 edges."""
import decimal

import numpy as np
import pytest

from ordex.core.refbook import COMMAND_DTYPE
from ordex.core.refbook import CancelReason as R
from ordex.core.refbook import EventKind as K
from ordex.core.refbook import Result as X
from ordex.core.refbook import TimeInForce as T

BUY, SELL = 1, 2
PLAIN = 1
I64_MAX = (1 << 63) - 1


def populated(make_book):
    book = make_book()
    assert book.limit(PLAIN, 1, BUY, 100, 10) == X.OK
    assert book.limit(PLAIN, 2, SELL, 102, 10, display=3) == X.OK
    book.clear_events()
    return book


def snapshot(book):
    return (book.order_count, book.depth(PLAIN, BUY), book.depth(PLAIN, SELL), book.order(1),
            book.order(2))


CALLS = {
    "limit.instrument": lambda b, v: b.limit(v, 10, BUY, 100, 5),
    "limit.order_id": lambda b, v: b.limit(PLAIN, v, BUY, 100, 5),
    "limit.side": lambda b, v: b.limit(PLAIN, 10, v, 100, 5),
    "limit.price": lambda b, v: b.limit(PLAIN, 10, BUY, v, 5),
    "limit.qty": lambda b, v: b.limit(PLAIN, 10, BUY, 100, v),
    "limit.tif": lambda b, v: b.limit(PLAIN, 10, BUY, 100, 5, tif=v),
    "limit.owner": lambda b, v: b.limit(PLAIN, 10, BUY, 100, 5, owner=v),
    "limit.stp": lambda b, v: b.limit(PLAIN, 10, BUY, 100, 5, stp=v),
    "limit.display": lambda b, v: b.limit(PLAIN, 10, BUY, 100, 5, display=v),
    "market.qty": lambda b, v: b.market(PLAIN, 10, BUY, v),
    "market.protection": lambda b, v: b.market(PLAIN, 10, BUY, 5, protection=v),
    "cancel.order_id": lambda b, v: b.cancel(v),
    "reduce.new_qty": lambda b, v: b.reduce(1, v),
    "replace.new_price": lambda b, v: b.replace(1, v, 5),
    "replace.new_qty": lambda b, v: b.replace(1, 100, v),
}
NOT_INTEGERS = [100.5, decimal.Decimal("100.5"), "100", None]


@pytest.mark.parametrize("value", NOT_INTEGERS, ids=repr)
@pytest.mark.parametrize("call", sorted(CALLS))
def test_non_integer_arguments_raise_type_error(make_book, call, value):
    """Prices and quantities are integers below the edge: a float must not be truncated into a
    valid-looking order (DESIGN invariant 3)."""
    book = populated(make_book)
    before = snapshot(book)
    with pytest.raises(TypeError):
        CALLS[call](book, value)
    assert book.event_count == 0
    assert snapshot(book) == before
    book.validate()


def test_numpy_integers_are_integers(make_book):
    book = populated(make_book)
    assert book.limit(np.int32(PLAIN), np.int64(10), np.uint8(SELL), np.int64(100),
                      np.int16(4)) == X.OK
    assert book.take_events() == [(10, 1, 100, 4, 0, 6, PLAIN, K.FILL, SELL, 0)]


@pytest.mark.parametrize("call,value", [
    ("limit.order_id", 1 << 63), ("limit.order_id", -(1 << 63) - 1),
    ("limit.price", 1 << 63), ("limit.qty", 1 << 64), ("limit.owner", 1 << 63),
    ("limit.display", 1 << 63), ("limit.instrument", 1 << 31), ("limit.side", 1 << 32),
    ("limit.tif", -(1 << 40)), ("limit.stp", 1 << 40), ("market.protection", -(1 << 63) - 1),
    ("cancel.order_id", 1 << 63), ("reduce.new_qty", 1 << 63), ("replace.new_price", 1 << 63),
])
def test_values_wider_than_their_field_raise_overflow_error(make_book, call, value):
    book = populated(make_book)
    before = snapshot(book)
    with pytest.raises(OverflowError):
        CALLS[call](book, value)
    assert book.event_count == 0
    assert snapshot(book) == before
    book.validate()


@pytest.mark.parametrize("field,value,result", [
    ("side", 257, X.INVALID_SIDE), ("side", -1, X.INVALID_SIDE),
    ("side", (1 << 31) - 1, X.INVALID_SIDE),
    ("tif", 256, X.INVALID_TIF), ("tif", -256, X.INVALID_TIF),
    ("stp", 256, X.INVALID_STP), ("stp", -1, X.INVALID_STP),
])
def test_codes_are_not_truncated_into_valid_ones(make_book, field, value, result):
    """257 would be BUY, 256 GTC / STP_NONE if cut to a byte; they must be rejected."""
    book = populated(make_book)
    before = snapshot(book)
    kwargs = dict(instrument=PLAIN, order_id=10, side=BUY, price=100, qty=5)
    kwargs[field] = value
    assert book.limit(**kwargs) == result
    # The event's side field is one byte: a side it cannot hold is reported as 0.
    side = value if field == "side" and 0 <= value <= 255 else (0 if field == "side" else BUY)
    assert book.take_events() == [(10, 0, 100, 5, 0, 0, PLAIN, K.REJECTED, side, result)]
    assert snapshot(book) == before


def test_inspection_of_an_unknown_instrument_raises_key_error(make_book):
    book = populated(make_book)
    for instrument in (0, 3, 15, 16, -1):
        with pytest.raises(KeyError):
            book.best_bid(instrument)
        with pytest.raises(KeyError):
            book.best_ask(instrument)
        with pytest.raises(KeyError):
            book.depth(instrument, BUY)
    for side in (0, 3):
        with pytest.raises(ValueError):
            book.depth(PLAIN, side)
    assert book.depth(PLAIN, BUY, 0) == [] and book.depth(PLAIN, BUY, -1) == []


def test_add_instrument_refuses_bad_definitions(book_cls):
    book = book_cls(max_orders=8, max_instruments=4)
    book.add_instrument(3, tick=5, lot=2)
    for args in [(4, 1, 1), (-1, 1, 1), (3, 1, 1), (0, 0, 1), (0, 1, 0), (0, -5, 1)]:
        with pytest.raises(ValueError):
            book.add_instrument(*args)
    assert book.limit(3, 1, BUY, 10, 2) == X.OK
    assert book.limit(0, 2, BUY, 10, 2) == X.UNKNOWN_INSTRUMENT
    book.validate()


@pytest.mark.parametrize("max_orders,max_instruments", [(0, 4), (4, 0), (-1, 4)])
def test_constructor_refuses_empty_pools(book_cls, max_orders, max_instruments):
    with pytest.raises((ValueError, OverflowError)):
        book_cls(max_orders=max_orders, max_instruments=max_instruments)


def _limit_rows(n):
    rows = np.zeros(n, dtype=COMMAND_DTYPE)
    rows["op"], rows["instrument"], rows["side"], rows["price"], rows["qty"] = 1, PLAIN, BUY, 90, 1
    rows["order_id"] = np.arange(100, 100 + n)
    return rows


@pytest.mark.parametrize("bad,error", [
    (lambda: [1, 2], TypeError),
    (lambda: np.zeros(2, dtype=np.int64), TypeError),
    (lambda: _limit_rows(4)[::2], ValueError),
    (lambda: _limit_rows(4).reshape(2, 2), ValueError),
    (lambda: _read_only(_limit_rows(2)), ValueError),
], ids=["list", "wrong dtype", "strided", "two-dimensional", "read-only"])
def test_execute_refuses_arrays_it_cannot_process_whole(make_book, bad, error):
    book = populated(make_book)
    before = snapshot(book)
    with pytest.raises(error):
        book.execute(bad())
    assert book.event_count == 0
    assert snapshot(book) == before


def _read_only(rows):
    rows.setflags(write=False)
    return rows


def test_execute_of_nothing(make_book):
    book = populated(make_book)
    assert book.execute(np.zeros(0, dtype=COMMAND_DTYPE)) == 0
    assert book.event_count == 0


# ---- int64 edges --------------------------------------------------------------------------

def test_extreme_prices_and_quantities(make_book):
    book = make_book()
    big = 1 << 62
    assert book.limit(PLAIN, 1, SELL, I64_MAX, I64_MAX, display=big) == X.OK
    assert book.limit(PLAIN, 2, BUY, I64_MAX - 1, I64_MAX) == X.OK
    assert book.market(PLAIN, 3, BUY, I64_MAX) == X.OK
    assert book.market(PLAIN, 4, SELL, I64_MAX, tif=T.FOK) == X.OK
    assert book.take_events() == [
        (1, 0, I64_MAX, big, I64_MAX, 0, PLAIN, K.RESTED, SELL, 0),
        (2, 0, I64_MAX - 1, I64_MAX, I64_MAX, 0, PLAIN, K.RESTED, BUY, 0),
        (3, 1, I64_MAX, big, I64_MAX - big, I64_MAX - big, PLAIN, K.FILL, BUY, 0),
        (1, 0, I64_MAX, big - 1, big - 1, 0, PLAIN, K.REPLENISHED, SELL, 0),
        (3, 1, I64_MAX, big - 1, 0, 0, PLAIN, K.FILL, BUY, 0),
        (4, 2, I64_MAX - 1, I64_MAX, 0, 0, PLAIN, K.FILL, SELL, 0),
    ]
    assert book.order_count == 0
    book.validate()


def test_fok_count_does_not_overflow(make_book):
    """Three makers of 2**62 hold more than the int64 maximum: a FOK for that maximum fills."""
    book = make_book()
    big = 1 << 62
    for oid, price in ((1, 100), (2, 101), (3, 102)):
        assert book.limit(PLAIN, oid, SELL, price, big) == X.OK
    book.clear_events()
    assert book.limit(PLAIN, 10, BUY, 102, I64_MAX, tif=T.FOK) == X.OK
    assert book.take_events() == [
        (10, 1, 100, big, I64_MAX - big, 0, PLAIN, K.FILL, BUY, 0),
        (10, 2, 101, big - 1, 0, 1, PLAIN, K.FILL, BUY, 0),
    ]
    assert book.market(PLAIN, 11, BUY, I64_MAX, tif=T.FOK) == X.OK
    assert book.take_events() == [(11, 0, 0, I64_MAX, 0, 0, PLAIN, K.CANCELLED, BUY,
                                   R.FOK_UNFILLABLE)]
    book.validate()


def test_level_total_never_wraps(make_book):
    """The contract bounds each quantity, not their sum at a level.  Whether a book reports the
    exact total or refuses the order that would take it past int64, it must not wrap."""
    book = make_book()
    big = 1 << 62
    assert book.limit(PLAIN, 1, SELL, 100, big) == X.OK
    result = book.limit(PLAIN, 2, SELL, 100, big)
    if result == X.OK:
        assert book.depth(PLAIN, SELL) == [(100, 2 * big, 2)]
    else:
        assert book.depth(PLAIN, SELL) == [(100, big, 1)]
    book.validate()

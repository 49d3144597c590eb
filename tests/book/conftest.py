"""Fixtures that run every order-book test against both implementations of ext/book.pyi.

The compiled book is required, not optional: a missing build must fail the suite, because the
reference book alone proves nothing about the code that ships."""
import pytest

from ordex.core.refbook import ReferenceBook

# Instruments used by the scenarios: PLAIN trades in single increments, COARSE has tick 5, lot 10.
PLAIN, COARSE = 1, 2


def compiled_book_class():
    from ordex.ext.book import OrderBook
    return OrderBook


@pytest.fixture(params=["reference", "compiled"])
def book_cls(request):
    return ReferenceBook if request.param == "reference" else compiled_book_class()


@pytest.fixture
def make_book(book_cls):
    def make(max_orders=1 << 10, max_instruments=16):
        book = book_cls(max_orders=max_orders, max_instruments=max_instruments)
        book.add_instrument(PLAIN, tick=1, lot=1)
        book.add_instrument(COARSE, tick=5, lot=10)
        return book
    return make


@pytest.fixture
def book(make_book):
    return make_book()

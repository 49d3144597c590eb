"""Fixtures that run every engine test against both implementations of ext/engine.pyi.

The compiled engine is required, not optional: a missing build must fail the suite, because the
reference engine alone proves nothing about the code that ships.
"""
import pytest

from engine_helpers import ENGINES, Driver, refdata


@pytest.fixture(params=list(ENGINES))
def engine_cls(request):
    return ENGINES[request.param]()


@pytest.fixture
def make_engine(engine_cls):
    def make(instrument_overrides=None, account_overrides=None, session_overrides=None,
             max_orders=1 << 12):
        rd = refdata(instrument_overrides, account_overrides, session_overrides)
        return Driver(engine_cls(rd, max_orders=max_orders))
    return make


@pytest.fixture
def eng(make_engine):
    return make_engine()

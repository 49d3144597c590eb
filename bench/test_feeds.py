"""pytest-benchmark versions of `ordex perf feeds`' units of work.

    python3 -m pytest bench/test_feeds.py --benchmark-enable
"""
import logging

import pytest

from ordex.ext.itch import ItchParser
from ordex.feeds.synth import synthetic_itch
from ordex.perf.feeds import (_binance_records, _coinbase_lines, _synthetic_binance, binance_run,
                              book_run, coinbase_run, dict_book, itchfeed_parse)

N = 200_000
N_PYTHON = 20_000


@pytest.fixture(scope="module")
def itch_data():
    return synthetic_itch(N)


@pytest.fixture(scope="module")
def itch_small():
    return synthetic_itch(N_PYTHON)


@pytest.fixture(autouse=True)
def quiet():
    # The replays count and log filter hits; the logging is not the unit of work.
    logging.getLogger("ordex.feeds").setLevel(logging.ERROR)
    yield
    logging.getLogger("ordex.feeds").setLevel(logging.NOTSET)


def test_itch_parse(benchmark, itch_data):
    """N synthetic ITCH messages decoded into records."""
    parser = ItchParser()
    assert benchmark(parser.scan, itch_data) == N


def test_itch_parse_and_book(benchmark, itch_data):
    """N messages: parse, per-instrument order books, normalised events taken in batches."""
    assert benchmark(book_run, itch_data) > N


def test_itchfeed_parse(benchmark, itch_small):
    """The independent pure-Python parser on N_PYTHON messages (compare per message)."""
    assert len(benchmark(itchfeed_parse, itch_small)) == N_PYTHON


def test_itchfeed_parse_and_dict_book(benchmark, itch_small):
    benchmark(lambda: dict_book(itchfeed_parse(itch_small)))


def test_coinbase_l2(benchmark):
    """The Coinbase recording (or synthetic l2update lines) normalised end to end."""
    lines, _ = _coinbase_lines()
    benchmark(coinbase_run, lines)


def test_binance_depth(benchmark):
    """A snapshot then 5,000 depth diffs through the snapshot/diff rule."""
    benchmark(binance_run, _synthetic_binance(5_000))


def test_binance_recording(benchmark):
    """The Binance recording (diffs, snapshots, bookTicker, trades) normalised end to end."""
    records, _ = _binance_records()
    benchmark(binance_run, records)
